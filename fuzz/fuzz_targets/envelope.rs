//! MessagePack envelopes of the mux socket (`Envelope::decode`): never panics, and an accepted
//! envelope survives encode → decode and encodes to a frame the mux routes as an envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_protocol::envelope::{is_envelope_start, Envelope};

fuzz_target!(|bytes: &[u8]| {
    let Ok(envelope) = Envelope::decode(bytes) else {
        return;
    };
    let encoded = envelope.encode();
    assert!(is_envelope_start(encoded[0]), "{:#04x}", encoded[0]);
    assert_eq!(
        Envelope::decode(&encoded).expect("an encoded envelope decodes"),
        envelope
    );
});
