//! HTTP request parts the server parses from untrusted clients, kept here (free of the
//! server's dependencies) so they can be unit-tested and fuzzed on their own.
//!
//! - [`range`](mod@range): a single `Range: bytes=…` header against a file size
//!   ([`parse_range`]).
//! - [`multipart`]: the `map` part of a GraphQL multipart request ([`parse_upload_map`]).

pub mod multipart;
pub mod range;

pub use multipart::{parse_upload_map, UploadMapError, MAX_PART_NAME_LEN, MAX_PATHS_PER_FILE};
pub use range::parse_range;
