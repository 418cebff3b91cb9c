//! MIME sniffing (`taina_imaging::sniff`): never panics, only names types the library has an
//! extension for, and decides from the first `SNIFF_LEN` bytes alone, as documented (callers
//! may read that much and no more).
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_imaging::{extension, sniff, SNIFF_LEN};

fuzz_target!(|head: &[u8]| {
    let mime = sniff(head);
    if let Some(mime) = mime {
        assert_ne!(extension(mime), "bin", "{mime} has no extension");
    }
    let prefix = &head[..head.len().min(SNIFF_LEN)];
    assert_eq!(
        sniff(prefix),
        mime,
        "the first {SNIFF_LEN} bytes sniff differently from all {}",
        head.len()
    );
});
