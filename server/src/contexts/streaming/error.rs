//! Everything streaming can refuse.

#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    /// Also what members of other communities get, so an item's existence is not revealed.
    #[error("no such library or item")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("only admins may manage libraries")]
    Forbidden,
    #[error("a library with this path exists")]
    LibraryExists,
    /// The item's file is no longer on disk (a scan will mark it missing).
    #[error("the media file is missing from the library's disk")]
    FileMissing,
    #[error("ffmpeg and ffprobe are not installed on the server")]
    ToolsMissing,
    /// Every transcode slot (`streaming.max_transcodes`) is taken; try again shortly.
    #[error("the server is transcoding as much as it can; retry shortly")]
    TranscodeBusy,
    #[error("ffmpeg failed: {0}")]
    TranscodeFailed(String),
    #[error("a playback URL that is expired or not signed by this server")]
    BadUrlToken,
    #[error("the range is outside the file")]
    RangeNotSatisfiable,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
