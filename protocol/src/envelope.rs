//! MessagePack envelopes: the third frame family of a `taina.v1` mux socket.
//!
//! A binary frame whose first byte is a MessagePack map or array marker (`0x80`–`0x9F`,
//! `0xDC`–`0xDF`) is an envelope; it can never be mistaken for a Phoenix binary frame
//! (`0x00`–`0x02`). Envelopes are maps tagged by `t`. The server uses them to end a GraphQL
//! sub-session without closing the socket: `{"t":"close","sub":"gql","code":4403,"reason":"…"}`.

use serde::{Deserialize, Serialize};

/// The sub-session name of graphql-transport-ws inside a mux socket.
pub const GRAPHQL_SUB: &str = "gql";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Envelope {
    /// A sub-session ended with a close code of its protocol (e.g. 4403); the socket stays up.
    Close {
        sub: String,
        code: u16,
        reason: String,
    },
    /// Liveness check of the mux socket; answered with `pong` carrying the same `id`.
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a MessagePack envelope: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("envelopes always serialise")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Ok(rmp_serde::from_slice(bytes)?)
    }
}

/// True when a binary frame starting with `byte` is a MessagePack envelope (a map or array).
pub fn is_envelope_start(byte: u8) -> bool {
    matches!(byte, 0x80..=0x9F | 0xDC..=0xDF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_maps_and_round_trip() {
        let close = Envelope::Close {
            sub: GRAPHQL_SUB.into(),
            code: 4403,
            reason: "Forbidden".into(),
        };
        let bytes = close.encode();
        assert!(is_envelope_start(bytes[0]), "{:#x}", bytes[0]);
        assert_eq!(Envelope::decode(&bytes).unwrap(), close);
        let ping = Envelope::Ping { id: 7 };
        assert_eq!(Envelope::decode(&ping.encode()).unwrap(), ping);
        assert!(!is_envelope_start(0x00) && !is_envelope_start(0x02) && !is_envelope_start(0x07));
        assert!(Envelope::decode(&[0x81, 0xa1, b't', 0xa3, b'b', b'a', b'd']).is_err());
    }
}
