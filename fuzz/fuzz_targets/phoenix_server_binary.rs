//! Phoenix V2 binary frames from the server (`decode_server_binary`, the client's decoder for
//! pushes, replies and broadcasts): never panics, and every frame it accepts re-encodes with
//! the matching server encoder to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_protocol::phoenix::{
    decode_server_binary, encode_server_broadcast, encode_server_push, encode_server_reply, event,
    Payload,
};

fuzz_target!(|frame: &[u8]| {
    let Ok(message) = decode_server_binary(frame) else {
        return;
    };
    let join_ref = message.join_ref.as_deref();
    let encoded = match (frame[0], &message.payload) {
        (0x00, Payload::Binary(data)) => {
            encode_server_push(join_ref, &message.topic, &message.event, data)
        }
        (0x01, Payload::BinaryReply { status, data }) => {
            assert_eq!(message.event, event::REPLY);
            encode_server_reply(
                join_ref,
                message.msg_ref.as_deref(),
                &message.topic,
                status,
                data,
            )
        }
        (0x02, Payload::Binary(data)) => {
            assert_eq!(
                (message.join_ref.as_deref(), message.msg_ref.as_deref()),
                (None, None)
            );
            encode_server_broadcast(&message.topic, &message.event, data)
        }
        (kind, payload) => panic!("kind {kind:#04x} decoded to {payload:?}"),
    }
    .expect("decoded fields fit their length byte");
    assert_eq!(encoded, frame);
});
