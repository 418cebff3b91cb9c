//! MessagePack envelopes of the mux socket (`Envelope::decode`): never panics, never allocates
//! much more than the input (whatever lengths it claims), and an accepted envelope survives
//! encode → decode and encodes to a frame the mux routes as an envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_fuzz::{allocation_budget, largest_allocation, TrackingAllocator};
use taina_protocol::envelope::{is_envelope_start, Envelope};

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

fuzz_target!(|bytes: &[u8]| {
    let (decoded, largest) = largest_allocation(|| Envelope::decode(bytes));
    assert!(
        largest <= allocation_budget(bytes.len()),
        "{largest} bytes allocated at once for {} bytes of input",
        bytes.len()
    );
    let Ok(envelope) = decoded else {
        return;
    };
    let encoded = envelope.encode();
    assert!(is_envelope_start(encoded[0]), "{:#04x}", encoded[0]);
    assert_eq!(
        Envelope::decode(&encoded).expect("an encoded envelope decodes"),
        envelope
    );
});
