//! The key directory in GraphQL: `deviceKeys`, `claimPrekeys`, `publishDeviceKeys`,
//! `removeDeviceKeys` (see [`super::keys`]).

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::keys::{Claimed, Device, DeviceKeys, Prekey};
use super::ChatService;
use crate::graphql::{principal, GqlError};

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(InputObject)]
pub struct PrekeyInput {
    key_id: i64,
    /// X25519 public key, base64 (32 bytes).
    public_key: String,
    /// Ed25519 signature of the public key bytes by the device's signing key, base64.
    signature: String,
}

#[derive(SimpleObject)]
#[graphql(name = "Prekey")]
pub struct GqlPrekey {
    key_id: i64,
    public_key: String,
    signature: String,
}

impl From<Prekey> for GqlPrekey {
    fn from(p: Prekey) -> Self {
        GqlPrekey {
            key_id: p.key_id,
            public_key: p.public_key,
            signature: p.signature,
        }
    }
}

/// A device's public keys.
#[derive(SimpleObject)]
#[graphql(name = "DeviceKeys")]
pub struct GqlDevice {
    device_id: String,
    identity_key: String,
    signing_key: String,
    prekeys_left: u64,
}

impl From<Device> for GqlDevice {
    fn from(d: Device) -> Self {
        GqlDevice {
            device_id: d.keys.device_id,
            identity_key: d.keys.identity_key,
            signing_key: d.keys.signing_key,
            prekeys_left: d.prekeys_left,
        }
    }
}

/// A device's keys with the one-time prekey claimed for the caller (null: none left).
#[derive(SimpleObject)]
pub struct ClaimedPrekey {
    device_id: String,
    identity_key: String,
    signing_key: String,
    prekey: Option<GqlPrekey>,
}

impl From<Claimed> for ClaimedPrekey {
    fn from(c: Claimed) -> Self {
        ClaimedPrekey {
            device_id: c.keys.device_id,
            identity_key: c.keys.identity_key,
            signing_key: c.keys.signing_key,
            prekey: c.prekey.map(Into::into),
        }
    }
}

#[derive(Default)]
pub struct KeysQuery;

#[Object]
impl KeysQuery {
    /// A community member's devices and their public keys.
    async fn device_keys(&self, ctx: &Context<'_>, user_id: String) -> Result<Vec<GqlDevice>> {
        let principal = principal(ctx)?;
        let devices = ctx
            .data_unchecked::<ChatService>()
            .device_keys(principal, &user_id.into())
            .await?;
        Ok(devices.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct KeysMutation;

#[Object]
impl KeysMutation {
    /// Registers (or updates) one of the caller's devices and adds signed one-time prekeys.
    async fn publish_device_keys(
        &self,
        ctx: &Context<'_>,
        device_id: String,
        identity_key: String,
        signing_key: String,
        #[graphql(default)] prekeys: Vec<PrekeyInput>,
    ) -> Result<GqlDevice> {
        let principal = principal(ctx)?;
        let keys = DeviceKeys {
            device_id,
            identity_key,
            signing_key,
        };
        let prekeys = prekeys
            .into_iter()
            .map(|p| Prekey {
                key_id: p.key_id,
                public_key: p.public_key,
                signature: p.signature,
            })
            .collect();
        let device = ctx
            .data_unchecked::<ChatService>()
            .publish_device_keys(principal, keys, prekeys)
            .await?;
        Ok(device.into())
    }

    /// Takes one one-time prekey of each of a member's devices (or of `deviceId`): each is
    /// handed out once.
    async fn claim_prekeys(
        &self,
        ctx: &Context<'_>,
        user_id: String,
        device_id: Option<String>,
    ) -> Result<Vec<ClaimedPrekey>> {
        let principal = principal(ctx)?;
        let claimed = ctx
            .data_unchecked::<ChatService>()
            .claim_prekeys(principal, &user_id.into(), device_id.as_deref())
            .await?;
        Ok(claimed.into_iter().map(Into::into).collect())
    }

    /// Forgets one of the caller's devices and its prekeys.
    async fn remove_device_keys(&self, ctx: &Context<'_>, device_id: String) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<ChatService>()
            .remove_device_keys(principal, &device_id)
            .await?;
        Ok(true)
    }
}
