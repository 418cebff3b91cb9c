//! The one error type of the crate.
//!
//! Callers mostly need to tell "the upload is hostile or broken" (`TooLarge`, `Decode`,
//! `Unsupported`: keep the original, skip the renditions, tell the user) from "the machine has a
//! problem" (`Video` tool failures, `Io`).

/// Why a rendition, probe or poster could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// Decoder limits hit: a decompression bomb or simply an image bigger than allowed.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// Truncated or corrupt data.
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// A format this build cannot decode (HEIC, AVIF, TIFF, or not an image at all).
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// ffprobe/ffmpeg missing, failing, timing out or printing something unusable.
    #[error("video tool failed: {0}")]
    Video(String),
    /// Filesystem error around a video file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
