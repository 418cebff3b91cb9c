//! Signed playback URLs. Players (a `<video>` element, a TV's native player, VLC) fetch HLS
//! playlists, segments, subtitles and files without a way to send `Authorization`, so the
//! URLs `playbackInfo` hands out carry `?t=<token>`: the item, the user and community it was
//! granted to and an expiry (`streaming.url_hours`), signed with HMAC-SHA256 under a key
//! derived from the server secret. A token opens that one item only; the HTTP routes also
//! take a bearer token instead.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StreamingError;
use crate::ids::{CommunityId, ItemId, UserId};

const VERSION: &str = "v1";

/// Who a playback URL was handed to.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub user_id: UserId,
    pub community_id: CommunityId,
    pub item_id: ItemId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl UrlSigner {
    /// A signer whose key is derived from the server secret (HKDF-SHA256), so every node
    /// sharing the secret accepts the others' URLs.
    pub fn from_server_secret(secret: &[u8]) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret)
            .expand(b"taina streaming playback urls", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        UrlSigner { key }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac
    }

    pub fn sign(&self, grant: &Grant) -> String {
        // Ids are nanoids (`A-Za-z0-9_-`): a `.` never occurs in them.
        let payload = format!(
            "{VERSION}.{}.{}.{}.{}",
            grant.expires_at.timestamp(),
            grant.user_id,
            grant.community_id,
            grant.item_id
        );
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The grant a token carries, if this server signed it, it has not expired, and it is for
    /// `item`.
    pub fn verify(&self, token: &str, item: &ItemId) -> Result<Grant, StreamingError> {
        let bad = || StreamingError::BadUrlToken;
        let (payload, signature) = token.rsplit_once('.').ok_or_else(bad)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| bad())?;
        self.mac(payload)
            .verify_slice(&signature)
            .map_err(|_| bad())?;
        let mut parts = payload.split('.');
        let (Some(VERSION), Some(expires), Some(user), Some(community), Some(granted), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let expires_at = expires
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(bad)?;
        if expires_at <= Utc::now() || granted != item.as_str() {
            return Err(bad());
        }
        Ok(Grant {
            user_id: user.into(),
            community_id: community.into(),
            item_id: item.clone(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(item: &str, hours: i64) -> Grant {
        Grant {
            user_id: "user".into(),
            community_id: "community".into(),
            item_id: item.into(),
            expires_at: DateTime::from_timestamp(Utc::now().timestamp() + hours * 3600, 0).unwrap(),
        }
    }

    #[test]
    fn a_token_opens_its_item_until_it_expires_and_nothing_else() {
        let signer = UrlSigner::from_server_secret(b"a secret of the server, long enough");
        let token = signer.sign(&grant("item", 1));
        assert_eq!(
            signer.verify(&token, &"item".into()).unwrap(),
            grant("item", 1)
        );
        assert!(signer.verify(&token, &"other".into()).is_err());
        let expired = signer.sign(&grant("item", -1));
        assert!(signer.verify(&expired, &"item".into()).is_err());
        // Another server's secret, a changed payload, garbage.
        let stranger = UrlSigner::from_server_secret(b"another server's secret entirely");
        assert!(stranger.verify(&token, &"item".into()).is_err());
        let forged = token.replacen(".user.", ".admin.", 1);
        assert!(signer.verify(&forged, &"item".into()).is_err());
        for junk in ["", ".", "v1", "v1.1.a.b.item.", "x.y"] {
            assert!(signer.verify(junk, &"item".into()).is_err(), "{junk}");
        }
    }
}
