//! Phoenix V2 binary pushes from clients (`decode_client_binary`, the server's decoder): never
//! panics, and every frame it accepts re-encodes (`encode_client_binary`) to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_protocol::phoenix::{decode_client_binary, encode_client_binary, Payload};

fuzz_target!(|frame: &[u8]| {
    let Ok(message) = decode_client_binary(frame) else {
        return;
    };
    let Payload::Binary(data) = &message.payload else {
        panic!("a client push decoded to a non-binary payload: {message:?}");
    };
    let encoded = encode_client_binary(
        message.join_ref.as_deref(),
        message.msg_ref.as_deref(),
        &message.topic,
        &message.event,
        data,
    )
    .expect("decoded fields fit their length byte");
    // The layout has exactly one spelling per message (an empty ref is nil).
    assert_eq!(encoded, frame);
});
