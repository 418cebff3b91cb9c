//! The server's side of binary frames: decoding client pushes (5-byte header)
//! and encoding pushes (4-byte header), replies and broadcasts.

use bytes::Bytes;

use super::{encode, nil_if_empty, split, KIND_BROADCAST, KIND_PUSH, KIND_REPLY};
use crate::phoenix::{DecodeError, EncodeError, Message, Payload};

/// Decodes a client→server binary push:
/// `00 | jr_len | ref_len | topic_len | event_len | join_ref | ref | topic | event | data`.
///
/// Clients only ever send kind 0, so any other kind is rejected.
pub fn decode_client_binary(frame: &[u8]) -> Result<Message, DecodeError> {
    let &kind = frame.first().ok_or(DecodeError::EmptyFrame)?;
    if kind != KIND_PUSH {
        return Err(DecodeError::UnknownBinaryKind(kind));
    }
    let ([join_ref, msg_ref, topic, event], data) =
        split(frame, ["join_ref", "ref", "topic", "event"])?;
    Ok(Message {
        join_ref: nil_if_empty(join_ref),
        msg_ref: nil_if_empty(msg_ref),
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload: Payload::Binary(Bytes::copy_from_slice(data)),
    })
}

/// Encodes a server→client push (no `ref`):
/// `00 | jr_len | topic_len | event_len | join_ref | topic | event | data`.
pub fn encode_server_push(
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    data: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    encode(
        KIND_PUSH,
        &[
            ("join_ref", join_ref.unwrap_or_default()),
            ("topic", topic),
            ("event", event),
        ],
        data,
    )
}

/// Encodes a binary `phx_reply`:
/// `01 | jr_len | ref_len | topic_len | status_len | join_ref | ref | topic | status | data`.
pub fn encode_server_reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    status: &str,
    data: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    encode(
        KIND_REPLY,
        &[
            ("join_ref", join_ref.unwrap_or_default()),
            ("ref", msg_ref.unwrap_or_default()),
            ("topic", topic),
            ("status", status),
        ],
        data,
    )
}

/// Encodes a broadcast: `02 | topic_len | event_len | topic | event | data`.
pub fn encode_server_broadcast(
    topic: &str,
    event: &str,
    data: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    encode(KIND_BROADCAST, &[("topic", topic), ("event", event)], data)
}

#[cfg(test)]
mod tests {
    use super::super::hex;
    use super::*;

    #[test]
    fn decodes_the_client_push_example() {
        let frame = hex("00 01 01 09 05 35 39 75706c6f61643a3432 6368756e6b AA BB");
        assert_eq!(
            decode_client_binary(&frame).unwrap(),
            Message {
                join_ref: Some("5".into()),
                msg_ref: Some("9".into()),
                topic: "upload:42".into(),
                event: "chunk".into(),
                payload: Payload::Binary(Bytes::from_static(&[0xAA, 0xBB])),
            }
        );
    }

    #[test]
    fn encodes_the_server_push_example() {
        assert_eq!(
            encode_server_push(Some("5"), "tv:1", "bin", &[0xDE, 0xAD]).unwrap(),
            hex("00 01 04 03 35 74763a31 62696e DE AD")
        );
    }

    #[test]
    fn encodes_the_broadcast_example() {
        assert_eq!(
            encode_server_broadcast("tv:1", "frame", &[0x01, 0x02, 0x03]).unwrap(),
            hex("02 04 05 74763a31 6672616d65 010203")
        );
    }

    #[test]
    fn encodes_the_reply_example() {
        assert_eq!(
            encode_server_reply(Some("5"), Some("9"), "upload:42", "ok", &[0xCA, 0xFE]).unwrap(),
            hex("01 01 01 09 02 35 39 75706c6f61643a3432 6f6b CAFE")
        );
    }

    #[test]
    fn rejects_an_empty_frame() {
        assert_eq!(decode_client_binary(&[]), Err(DecodeError::EmptyFrame));
    }

    #[test]
    fn rejects_kinds_clients_do_not_send() {
        for kind in [0x01, 0x02, 0x82] {
            assert_eq!(
                decode_client_binary(&[kind, 0, 0, 1, 1, b't', b'e']),
                Err(DecodeError::UnknownBinaryKind(kind))
            );
        }
    }

    #[test]
    fn rejects_a_truncated_header() {
        assert_eq!(decode_client_binary(&[0x00]), Err(DecodeError::Truncated));
        assert_eq!(
            decode_client_binary(&[0x00, 0, 0, 1]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn rejects_lengths_past_the_end() {
        // topic claims 9 bytes but only 3 follow
        assert_eq!(
            decode_client_binary(&hex("00 00 00 09 01 616263")),
            Err(DecodeError::Truncated)
        );
        // event claims 2 bytes, only 1 left after the topic
        assert_eq!(
            decode_client_binary(&hex("00 00 00 01 02 74 65")),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn rejects_non_utf8_fields() {
        assert_eq!(
            decode_client_binary(&hex("00 00 00 01 01 FF 65")),
            Err(DecodeError::NotUtf8("topic"))
        );
        assert_eq!(
            decode_client_binary(&hex("00 01 00 01 01 C3 74 65")),
            Err(DecodeError::NotUtf8("join_ref"))
        );
        assert_eq!(
            decode_client_binary(&hex("00 00 00 01 01 74 FE AA")),
            Err(DecodeError::NotUtf8("event"))
        );
    }

    #[test]
    fn data_is_everything_after_the_header_and_may_be_empty() {
        let msg = decode_client_binary(&hex("00 00 00 01 01 74 65")).unwrap();
        assert_eq!(msg.payload, Payload::Binary(Bytes::new()));
        assert_eq!((msg.topic.as_str(), msg.event.as_str()), ("t", "e"));
    }
}
