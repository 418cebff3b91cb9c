//! Phoenix V2 text frames (`decode_text`): never panics, and every frame it accepts encodes
//! (`encode_text`) to a frame that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_fuzz::same_json;
use taina_protocol::phoenix::{decode_text, encode_text, Payload};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = decode_text(text) else {
        return;
    };
    let Payload::Json(payload) = &message.payload else {
        panic!("a text frame decoded to a binary payload: {message:?}");
    };
    assert!(payload.is_object(), "payload is not an object: {payload}");
    let encoded = encode_text(
        message.join_ref.as_deref(),
        message.msg_ref.as_deref(),
        &message.topic,
        &message.event,
        payload,
    );
    let again = decode_text(&encoded).expect("an encoded frame decodes");
    assert_eq!(
        (&again.join_ref, &again.msg_ref, &again.topic, &again.event),
        (
            &message.join_ref,
            &message.msg_ref,
            &message.topic,
            &message.event
        )
    );
    let Payload::Json(again_payload) = &again.payload else {
        panic!("the re-decoded payload is not JSON");
    };
    assert!(
        same_json(payload, again_payload),
        "{payload} != {again_payload}"
    );
});
