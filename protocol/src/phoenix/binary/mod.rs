//! Binary frames: a kind byte, one length byte per header field, the header
//! fields (UTF-8), then the data up to the end of the frame.
//!
//! This file holds the layout shared by both directions; `server` and `client`
//! hold the per-direction codecs, since the push header differs between them.

mod client;
mod server;

pub use client::{decode_server_binary, encode_client_binary};
pub use server::{
    decode_client_binary, encode_server_broadcast, encode_server_push, encode_server_reply,
};

use super::{DecodeError, EncodeError};

/// Kind byte of a push (either direction).
const KIND_PUSH: u8 = 0x00;
/// Kind byte of a server reply.
const KIND_REPLY: u8 = 0x01;
/// Kind byte of a server broadcast.
const KIND_BROADCAST: u8 = 0x02;

/// Builds a frame: `kind | len(field)… | field… | data`.
fn encode(kind: u8, fields: &[(&'static str, &str)], data: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let header_len: usize = fields.iter().map(|(_, f)| f.len()).sum();
    let mut frame = Vec::with_capacity(1 + fields.len() + header_len + data.len());
    frame.push(kind);
    for (name, field) in fields {
        let len = u8::try_from(field.len()).map_err(|_| EncodeError::FieldTooLong(name))?;
        frame.push(len);
    }
    for (_, field) in fields {
        frame.extend_from_slice(field.as_bytes());
    }
    frame.extend_from_slice(data);
    Ok(frame)
}

/// Splits a frame whose kind byte was already checked into its `N` header
/// fields (named for error reports) and the trailing data.
fn split<'a, const N: usize>(
    frame: &'a [u8],
    names: [&'static str; N],
) -> Result<([&'a str; N], &'a [u8]), DecodeError> {
    let lengths = frame.get(1..=N).ok_or(DecodeError::Truncated)?;
    let mut rest = &frame[1 + N..];
    let mut fields = [""; N];
    for ((slot, name), &len) in fields.iter_mut().zip(names).zip(lengths) {
        let (field, tail) = rest
            .split_at_checked(usize::from(len))
            .ok_or(DecodeError::Truncated)?;
        *slot = std::str::from_utf8(field).map_err(|_| DecodeError::NotUtf8(name))?;
        rest = tail;
    }
    Ok((fields, rest))
}

/// A zero-length `join_ref`/`ref` is how the binary format spells nil.
fn nil_if_empty(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

#[cfg(test)]
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::phoenix::{Message, Payload};

    #[test]
    fn client_push_round_trips_through_the_server_decoder() {
        let frame =
            encode_client_binary(Some("12"), Some("13"), "upload:é", "chunk", &[0, 1, 2]).unwrap();
        assert_eq!(
            decode_client_binary(&frame).unwrap(),
            Message {
                join_ref: Some("12".into()),
                msg_ref: Some("13".into()),
                topic: "upload:é".into(),
                event: "chunk".into(),
                payload: Payload::Binary(Bytes::from_static(&[0, 1, 2])),
            }
        );
        let frame = encode_client_binary(None, None, "t", "e", &[]).unwrap();
        let msg = decode_client_binary(&frame).unwrap();
        assert_eq!((msg.join_ref, msg.msg_ref), (None, None));
        assert_eq!(msg.payload, Payload::Binary(Bytes::new()));
    }

    #[test]
    fn server_frames_round_trip_through_the_client_decoder() {
        let push = encode_server_push(Some("3"), "tv:1", "frame", b"xyz").unwrap();
        assert_eq!(
            decode_server_binary(&push).unwrap(),
            Message {
                join_ref: Some("3".into()),
                msg_ref: None,
                topic: "tv:1".into(),
                event: "frame".into(),
                payload: Payload::Binary(Bytes::from_static(b"xyz")),
            }
        );
        let reply = encode_server_reply(Some("3"), Some("4"), "tv:1", "error", b"no").unwrap();
        assert_eq!(
            decode_server_binary(&reply).unwrap(),
            Message {
                join_ref: Some("3".into()),
                msg_ref: Some("4".into()),
                topic: "tv:1".into(),
                event: "phx_reply".into(),
                payload: Payload::BinaryReply {
                    status: "error".into(),
                    data: Bytes::from_static(b"no"),
                },
            }
        );
        let broadcast = encode_server_broadcast("tv:1", "frame", b"").unwrap();
        assert_eq!(
            decode_server_binary(&broadcast).unwrap(),
            Message {
                join_ref: None,
                msg_ref: None,
                topic: "tv:1".into(),
                event: "frame".into(),
                payload: Payload::Binary(Bytes::new()),
            }
        );
    }

    #[test]
    fn fields_of_255_bytes_fit_and_256_do_not() {
        let max = "t".repeat(255);
        let frame = encode_server_broadcast(&max, "e", b"").unwrap();
        assert_eq!(frame[1], 255);
        assert_eq!(decode_server_binary(&frame).unwrap().topic, max);

        let long = "x".repeat(256);
        assert_eq!(
            encode_client_binary(Some(&long), None, "t", "e", b""),
            Err(EncodeError::FieldTooLong("join_ref"))
        );
        assert_eq!(
            encode_client_binary(None, Some(&long), "t", "e", b""),
            Err(EncodeError::FieldTooLong("ref"))
        );
        assert_eq!(
            encode_server_push(None, &long, "e", b""),
            Err(EncodeError::FieldTooLong("topic"))
        );
        assert_eq!(
            encode_server_broadcast("t", &long, b""),
            Err(EncodeError::FieldTooLong("event"))
        );
        assert_eq!(
            encode_server_reply(None, None, "t", &long, b""),
            Err(EncodeError::FieldTooLong("status"))
        );
    }
}
