//! The client's side of binary frames: encoding pushes (5-byte header) and
//! decoding server pushes, replies and broadcasts.

use bytes::Bytes;

use super::{encode, nil_if_empty, split, KIND_BROADCAST, KIND_PUSH, KIND_REPLY};
use crate::phoenix::{event, DecodeError, EncodeError, Message, Payload};

/// Encodes a client→server binary push:
/// `00 | jr_len | ref_len | topic_len | event_len | join_ref | ref | topic | event | data`.
pub fn encode_client_binary(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    data: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    encode(
        KIND_PUSH,
        &[
            ("join_ref", join_ref.unwrap_or_default()),
            ("ref", msg_ref.unwrap_or_default()),
            ("topic", topic),
            ("event", event),
        ],
        data,
    )
}

/// Decodes a server→client binary frame.
///
/// - kind 0 (push): `msg_ref` is `None`, payload [`Payload::Binary`];
/// - kind 1 (reply): event `phx_reply`, payload [`Payload::BinaryReply`];
/// - kind 2 (broadcast): no refs, payload [`Payload::Binary`].
pub fn decode_server_binary(frame: &[u8]) -> Result<Message, DecodeError> {
    let &kind = frame.first().ok_or(DecodeError::EmptyFrame)?;
    match kind {
        KIND_PUSH => {
            let ([join_ref, topic, event], data) = split(frame, ["join_ref", "topic", "event"])?;
            Ok(Message {
                join_ref: nil_if_empty(join_ref),
                msg_ref: None,
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: Payload::Binary(Bytes::copy_from_slice(data)),
            })
        }
        KIND_REPLY => {
            let ([join_ref, msg_ref, topic, status], data) =
                split(frame, ["join_ref", "ref", "topic", "status"])?;
            Ok(Message {
                join_ref: nil_if_empty(join_ref),
                msg_ref: nil_if_empty(msg_ref),
                topic: topic.to_owned(),
                event: event::REPLY.to_owned(),
                payload: Payload::BinaryReply {
                    status: status.to_owned(),
                    data: Bytes::copy_from_slice(data),
                },
            })
        }
        KIND_BROADCAST => {
            let ([topic, event], data) = split(frame, ["topic", "event"])?;
            Ok(Message {
                join_ref: None,
                msg_ref: None,
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: Payload::Binary(Bytes::copy_from_slice(data)),
            })
        }
        other => Err(DecodeError::UnknownBinaryKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::hex;
    use super::*;

    #[test]
    fn encodes_the_client_push_example() {
        assert_eq!(
            encode_client_binary(Some("5"), Some("9"), "upload:42", "chunk", &[0xAA, 0xBB])
                .unwrap(),
            hex("00 01 01 09 05 35 39 75706c6f61643a3432 6368756e6b AA BB")
        );
    }

    #[test]
    fn decodes_the_server_push_example() {
        assert_eq!(
            decode_server_binary(&hex("00 01 04 03 35 74763a31 62696e DE AD")).unwrap(),
            Message {
                join_ref: Some("5".into()),
                msg_ref: None,
                topic: "tv:1".into(),
                event: "bin".into(),
                payload: Payload::Binary(Bytes::from_static(&[0xDE, 0xAD])),
            }
        );
    }

    #[test]
    fn decodes_the_broadcast_example() {
        assert_eq!(
            decode_server_binary(&hex("02 04 05 74763a31 6672616d65 010203")).unwrap(),
            Message {
                join_ref: None,
                msg_ref: None,
                topic: "tv:1".into(),
                event: "frame".into(),
                payload: Payload::Binary(Bytes::from_static(&[1, 2, 3])),
            }
        );
    }

    #[test]
    fn decodes_the_reply_example() {
        let frame = hex("01 01 01 09 02 35 39 75706c6f61643a3432 6f6b CAFE");
        assert_eq!(
            decode_server_binary(&frame).unwrap(),
            Message {
                join_ref: Some("5".into()),
                msg_ref: Some("9".into()),
                topic: "upload:42".into(),
                event: "phx_reply".into(),
                payload: Payload::BinaryReply {
                    status: "ok".into(),
                    data: Bytes::from_static(&[0xCA, 0xFE]),
                },
            }
        );
    }

    #[test]
    fn rejects_an_empty_frame() {
        assert_eq!(decode_server_binary(&[]), Err(DecodeError::EmptyFrame));
    }

    #[test]
    fn rejects_unknown_kinds() {
        assert_eq!(
            decode_server_binary(&[0x03, 1, 1, b't', b'e']),
            Err(DecodeError::UnknownBinaryKind(0x03))
        );
        assert_eq!(
            decode_server_binary(&[0x82, 0xA1]),
            Err(DecodeError::UnknownBinaryKind(0x82))
        );
    }

    #[test]
    fn rejects_truncated_headers() {
        assert_eq!(
            decode_server_binary(&[0x00, 0, 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_server_binary(&[0x01, 0, 0, 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode_server_binary(&[0x02]), Err(DecodeError::Truncated));
    }

    #[test]
    fn rejects_lengths_past_the_end() {
        assert_eq!(
            decode_server_binary(&hex("02 04 05 74763a31 6672")),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_server_binary(&hex("01 01 01 09 02 35 39 7570")),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn rejects_non_utf8_fields() {
        assert_eq!(
            decode_server_binary(&hex("02 01 01 FF 65")),
            Err(DecodeError::NotUtf8("topic"))
        );
        assert_eq!(
            decode_server_binary(&hex("01 00 00 01 01 74 FF")),
            Err(DecodeError::NotUtf8("status"))
        );
        assert_eq!(
            decode_server_binary(&hex("00 01 01 01 80 74 65")),
            Err(DecodeError::NotUtf8("join_ref"))
        );
    }
}
