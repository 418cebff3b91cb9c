//! MessagePack envelopes: the third frame family of a `taina.v1` mux socket.
//!
//! A binary frame whose first byte is a MessagePack map or array marker (`0x80`–`0x9F`,
//! `0xDC`–`0xDF`) is an envelope; it can never be mistaken for a Phoenix binary frame
//! (`0x00`–`0x02`). Envelopes are maps tagged by `t`. The server uses them to end a GraphQL
//! sub-session without closing the socket: `{"t":"close","sub":"gql","code":4403,"reason":"…"}`.

use serde::{Deserialize, Serialize};

use crate::msgpack::MAX_DEPTH;

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
        let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
        deserializer.set_max_depth(MAX_DEPTH);
        let fields = EnvelopeFields::deserialize(&mut deserializer)?;
        Ok(fields.into_envelope()?)
    }
}

/// Every envelope's fields, read straight from the map and checked against the tag after.
///
/// Decoding the internally tagged enum directly would first buffer the map into serde's
/// generic content tree, which reserves room for as many entries as each nested map or array
/// claims (up to 1 MiB each, 1,024 levels deep): fuzzing found a 4 KiB frame costing ~800 such
/// allocations. A plain struct skips unknown fields without buffering them.
#[derive(Deserialize)]
struct EnvelopeFields {
    t: String,
    sub: Option<String>,
    code: Option<u16>,
    reason: Option<String>,
    id: Option<u64>,
}

impl EnvelopeFields {
    fn into_envelope(self) -> Result<Envelope, rmp_serde::decode::Error> {
        use serde::de::Error;
        fn required<T>(
            field: Option<T>,
            name: &'static str,
        ) -> Result<T, rmp_serde::decode::Error> {
            field.ok_or_else(|| Error::missing_field(name))
        }
        match self.t.as_str() {
            "close" => Ok(Envelope::Close {
                sub: required(self.sub, "sub")?,
                code: required(self.code, "code")?,
                reason: required(self.reason, "reason")?,
            }),
            "ping" => Ok(Envelope::Ping {
                id: required(self.id, "id")?,
            }),
            "pong" => Ok(Envelope::Pong {
                id: required(self.id, "id")?,
            }),
            other => Err(Error::unknown_variant(other, &["close", "ping", "pong"])),
        }
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

    /// A map of `(key, value)` MessagePack pairs.
    fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![0x80 | u8::try_from(entries.len()).unwrap()];
        for (key, value) in entries {
            out.push(0xA0 | u8::try_from(key.len()).unwrap());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(value);
        }
        out
    }

    #[test]
    fn unknown_fields_are_skipped_and_missing_ones_refused() {
        let ping = map(&[
            ("t", b"\xA4ping"),
            ("id", &[7]),
            ("extra", &[0x92, 0xC0, 0xC3]),
        ]);
        assert_eq!(Envelope::decode(&ping).unwrap(), Envelope::Ping { id: 7 });
        let pong = map(&[("t", b"\xA4pong")]);
        assert!(Envelope::decode(&pong)
            .unwrap_err()
            .to_string()
            .contains("missing field `id`"));
        let close = map(&[
            ("t", b"\xA5close"),
            ("sub", b"\xA3gql"),
            ("code", &[0xCD, 0x11, 0x33]),
        ]);
        assert!(Envelope::decode(&close)
            .unwrap_err()
            .to_string()
            .contains("missing field `reason`"));
        let unknown = map(&[("t", b"\xA3bad")]);
        assert!(Envelope::decode(&unknown)
            .unwrap_err()
            .to_string()
            .contains("unknown variant `bad`"));
    }

    #[test]
    fn deep_junk_is_refused_without_buffering() {
        // Found by fuzzing: 800 nested arrays each claiming 2^32 elements made the tagged-enum
        // decoder reserve 1 MiB per level (and, this deep, overflow a test thread's stack);
        // now the nesting is refused before either.
        let junk: Vec<u8> = [0xDD, 0xFF, 0xFF, 0xFF, 0xFF].repeat(800);
        let frame = map(&[("t", b"\xA4ping"), ("id", &[7]), ("extra", &junk)]);
        assert!(Envelope::decode(&frame)
            .unwrap_err()
            .to_string()
            .contains("depth limit exceeded"));
        let deep = [0x91].repeat(5000);
        let frame = map(&[("t", b"\xA4ping"), ("id", &[7]), ("extra", &deep)]);
        assert!(Envelope::decode(&frame).is_err());
        // Shallow extras are still skipped.
        let shallow = [0x91].repeat(MAX_DEPTH - 2);
        let frame = map(&[
            ("t", b"\xA4ping"),
            ("id", &[7]),
            ("extra", &[&shallow[..], &[0xC0]].concat()),
        ]);
        assert_eq!(Envelope::decode(&frame).unwrap(), Envelope::Ping { id: 7 });
    }
}
