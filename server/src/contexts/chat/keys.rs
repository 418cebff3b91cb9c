//! The key directory for end-to-end encrypted conversations. Each device of a user publishes
//! its public keys: an X25519 identity key, an Ed25519 signing key, and one-time X25519
//! prekeys each signed with the signing key. Another member of the community fetches a
//! device's keys and claims one one-time prekey, which is deleted as it is handed out (so it
//! is used once). The server checks sizes and signatures and never sees a private key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::Utc;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{ChatError, ChatService};
use crate::contexts::auth::{AuthError, Principal};
use crate::ids::UserId;

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// One-time prekeys a device may have waiting at most.
pub const MAX_PREKEYS: u64 = 200;
/// Devices a user may register at most.
const MAX_DEVICES: usize = 20;

/// A device's long-term public keys (base64, standard alphabet).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceKeys {
    /// The client's name for the device: 1 to 64 letters, digits, `-` or `_`.
    pub device_id: String,
    /// X25519 public key, 32 bytes.
    pub identity_key: String,
    /// Ed25519 public key, 32 bytes: signs the prekeys.
    pub signing_key: String,
}

/// A signed one-time prekey.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prekey {
    pub key_id: i64,
    /// X25519 public key, 32 bytes.
    pub public_key: String,
    /// Ed25519 signature of the 32 public key bytes by the device's signing key, 64 bytes.
    pub signature: String,
}

/// A device as others see it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Device {
    #[serde(flatten)]
    pub keys: DeviceKeys,
    pub prekeys_left: u64,
}

/// What a claim hands out: the device's keys and one prekey (none when it ran out: the
/// sender then starts the session without one, as X3DH allows).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Claimed {
    #[serde(flatten)]
    pub keys: DeviceKeys,
    pub prekey: Option<Prekey>,
}

fn bytes<const N: usize>(what: &str, value: &str) -> Result<[u8; N]> {
    B64.decode(value)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| ChatError::Invalid(format!("{what} must be {N} bytes in base64")))
}

fn check_device_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ChatError::Invalid(
            "device_id must be 1 to 64 letters, digits, '-' or '_'".into(),
        ))
    }
}

/// Checks the keys' sizes and every prekey's signature.
fn verify(keys: &DeviceKeys, prekeys: &[Prekey]) -> Result<()> {
    check_device_id(&keys.device_id)?;
    bytes::<32>("identity_key", &keys.identity_key)?;
    let signing = VerifyingKey::from_bytes(&bytes::<32>("signing_key", &keys.signing_key)?)
        .map_err(|_| ChatError::Invalid("signing_key is not an Ed25519 public key".into()))?;
    for prekey in prekeys {
        let public = bytes::<32>("a prekey's public_key", &prekey.public_key)?;
        let signature =
            Signature::from_bytes(&bytes::<64>("a prekey's signature", &prekey.signature)?);
        signing.verify_strict(&public, &signature).map_err(|_| {
            ChatError::Invalid(format!(
                "prekey {} is not signed by the device's signing key",
                prekey.key_id
            ))
        })?;
        if prekey.key_id < 0 {
            return Err(ChatError::Invalid("key_id must not be negative".into()));
        }
    }
    Ok(())
}

impl ChatService {
    /// Registers (or updates) one of the caller's devices and adds one-time prekeys.
    pub async fn publish_device_keys(
        &self,
        by: &Principal,
        keys: DeviceKeys,
        prekeys: Vec<Prekey>,
    ) -> Result<Device> {
        verify(&keys, &prekeys)?;
        let devices = self.store().devices(&by.user_id).await?;
        let known = devices.iter().any(|d| d.0 == keys.device_id);
        if !known && devices.len() >= MAX_DEVICES {
            return Err(ChatError::Invalid(format!(
                "at most {MAX_DEVICES} devices have keys"
            )));
        }
        // A new signing key makes the old prekeys worthless: they go.
        if devices
            .iter()
            .any(|d| d.0 == keys.device_id && d.2 != keys.signing_key)
        {
            self.store()
                .remove_device(&by.user_id, &keys.device_id)
                .await?;
        }
        let waiting = self
            .store()
            .prekey_count(&by.user_id, &keys.device_id)
            .await?;
        if waiting + prekeys.len() as u64 > MAX_PREKEYS {
            return Err(ChatError::Invalid(format!(
                "a device keeps at most {MAX_PREKEYS} one-time prekeys ({waiting} are waiting)"
            )));
        }
        self.store()
            .put_device(&by.user_id, &keys, Utc::now())
            .await?;
        self.store()
            .add_prekeys(&by.user_id, &keys.device_id, &prekeys)
            .await?;
        let prekeys_left = self
            .store()
            .prekey_count(&by.user_id, &keys.device_id)
            .await?;
        Ok(Device { keys, prekeys_left })
    }

    /// Someone of the caller's community (or the caller).
    async fn same_community(&self, by: &Principal, user_id: &UserId) -> Result<()> {
        match self.inner.auth.user(user_id).await {
            Ok(user) if user.community_id == by.community_id => Ok(()),
            Ok(_) | Err(AuthError::NotFound(_)) => Err(ChatError::Invalid(format!(
                "user {user_id} is not in your community"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's devices and their public keys.
    pub async fn device_keys(&self, by: &Principal, user_id: &UserId) -> Result<Vec<Device>> {
        self.same_community(by, user_id).await?;
        Ok(self
            .store()
            .devices(user_id)
            .await?
            .into_iter()
            .map(|(device_id, identity_key, signing_key, left)| Device {
                keys: DeviceKeys {
                    device_id,
                    identity_key,
                    signing_key,
                },
                prekeys_left: left.max(0) as u64,
            })
            .collect())
    }

    /// For each of a user's devices (or the one named), its keys and one one-time prekey,
    /// which nobody else will get.
    pub async fn claim_prekeys(
        &self,
        by: &Principal,
        user_id: &UserId,
        device_id: Option<&str>,
    ) -> Result<Vec<Claimed>> {
        let devices = self.device_keys(by, user_id).await?;
        let mut claimed = Vec::new();
        for device in devices
            .into_iter()
            .filter(|d| device_id.is_none_or(|id| id == d.keys.device_id))
        {
            let prekey = self
                .store()
                .claim_prekey(user_id, &device.keys.device_id)
                .await?;
            claimed.push(Claimed {
                keys: device.keys,
                prekey,
            });
        }
        Ok(claimed)
    }

    /// Forgets one of the caller's devices.
    pub async fn remove_device_keys(&self, by: &Principal, device_id: &str) -> Result<()> {
        if self.store().remove_device(&by.user_id, device_id).await? {
            Ok(())
        } else {
            Err(ChatError::Invalid(format!(
                "no device {device_id} has keys"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;
    use crate::db::testing::Fixture;
    use ed25519_dalek::{Signer, SigningKey};

    fn device(name: &str, seed: u8, prekeys: std::ops::Range<i64>) -> (DeviceKeys, Vec<Prekey>) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let keys = DeviceKeys {
            device_id: name.into(),
            identity_key: B64.encode([seed.wrapping_add(1); 32]),
            signing_key: B64.encode(signing.verifying_key().to_bytes()),
        };
        let prekeys = prekeys
            .map(|key_id| {
                let public = [key_id as u8; 32];
                Prekey {
                    key_id,
                    public_key: B64.encode(public),
                    signature: B64.encode(signing.sign(&public).to_bytes()),
                }
            })
            .collect();
        (keys, prekeys)
    }

    #[tokio::test]
    async fn prekeys_are_checked_and_each_is_handed_out_once() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let (keys, prekeys) = device("phone", 7, 1..4);
        let published = chat
            .publish_device_keys(&ana, keys.clone(), prekeys)
            .await
            .unwrap();
        assert_eq!(published.prekeys_left, 3);

        // A prekey signed by another key, or of the wrong size, is refused; nothing is added.
        let (_, forged) = device("phone", 9, 10..11);
        let refused = chat.publish_device_keys(&ana, keys.clone(), forged).await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        let mut short = keys.clone();
        short.identity_key = B64.encode([1u8; 31]);
        let refused = chat.publish_device_keys(&ana, short, vec![]).await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        let mut bad_name = keys.clone();
        bad_name.device_id = "my phone".into();
        assert!(chat
            .publish_device_keys(&ana, bad_name, vec![])
            .await
            .is_err());

        // Three claims get three different prekeys, oldest first; the fourth gets none.
        let mut got = Vec::new();
        for _ in 0..4 {
            let claim = chat
                .claim_prekeys(&admin, &ana.user_id, None)
                .await
                .unwrap();
            assert_eq!(claim.len(), 1);
            assert_eq!(claim[0].keys, keys);
            got.push(claim[0].prekey.as_ref().map(|p| p.key_id));
        }
        assert_eq!(got, [Some(1), Some(2), Some(3), None]);
        let devices = chat.device_keys(&admin, &ana.user_id).await.unwrap();
        assert_eq!(devices[0].prekeys_left, 0);

        // Someone of another community sees nothing.
        let other = crate::db::testing::insert_community(&fx.db).await;
        let stranger = crate::db::testing::insert_user(&fx.db, &other).await;
        let outsider = fx.auth.user(&stranger).await.unwrap().acting_as("test");
        assert!(chat.device_keys(&outsider, &ana.user_id).await.is_err());

        // A new signing key drops the old prekeys; removing the device forgets it.
        let (rotated, fresh) = device("phone", 8, 1..3);
        let now = chat
            .publish_device_keys(&ana, rotated, fresh)
            .await
            .unwrap();
        assert_eq!(now.prekeys_left, 2);
        chat.remove_device_keys(&ana, "phone").await.unwrap();
        assert!(chat
            .device_keys(&admin, &ana.user_id)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn concurrent_claims_never_share_a_prekey() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let (keys, prekeys) = device("laptop", 3, 0..20);
        chat.publish_device_keys(&ana, keys, prekeys).await.unwrap();
        let claims = (0..25).map(|_| {
            let (chat, admin, ana) = (chat.clone(), admin.clone(), ana.user_id.clone());
            tokio::spawn(async move { chat.claim_prekeys(&admin, &ana, Some("laptop")).await })
        });
        let mut ids = Vec::new();
        for claim in claims {
            if let Some(prekey) = claim.await.unwrap().unwrap().remove(0).prekey {
                ids.push(prekey.key_id);
            }
        }
        ids.sort();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
    }
}
