//! MessagePack transfer chunks (`Chunk::decode`): never panics, never allocates much more than
//! the input (whatever lengths it claims), and an accepted chunk survives encode → decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_fuzz::{allocation_budget, largest_allocation, TrackingAllocator};
use taina_protocol::chunk::Chunk;

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

fuzz_target!(|bytes: &[u8]| {
    let (decoded, largest) = largest_allocation(|| Chunk::decode(bytes));
    assert!(
        largest <= allocation_budget(bytes.len()),
        "{largest} bytes allocated at once for {} bytes of input",
        bytes.len()
    );
    let Ok(chunk) = decoded else {
        return;
    };
    // The data is a copy of input bytes, so it cannot be longer than the input.
    assert!(chunk.data.len() <= bytes.len());
    let encoded = chunk.encode();
    assert_eq!(encoded[0], 0x82, "a chunk encodes as a two-entry fixmap");
    assert_eq!(
        Chunk::decode(&encoded).expect("an encoded chunk decodes"),
        chunk
    );
});
