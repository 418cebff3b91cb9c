//! MessagePack transfer chunks (`Chunk::decode`): never panics nor allocates more than the
//! input holds (libFuzzer's malloc limit), and an accepted chunk survives encode → decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_protocol::chunk::Chunk;

fuzz_target!(|bytes: &[u8]| {
    let Ok(chunk) = Chunk::decode(bytes) else {
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
