//! Errors of the Phoenix frame codecs.

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A text frame that is not valid JSON.
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an array.
    #[error("frame is not a JSON array")]
    NotArray,
    /// A JSON array that does not have exactly 5 elements.
    #[error("frame has {0} elements, expected 5")]
    WrongArity(usize),
    /// A field of the wrong JSON type (`join_ref`/`ref` must be a string or
    /// null, `topic`/`event` strings), or a malformed reply.
    #[error("field `{0}` has the wrong type")]
    BadField(&'static str),
    /// The payload element is not a JSON object.
    #[error("payload is not a JSON object")]
    PayloadNotObject,
    /// A zero-length frame.
    #[error("empty frame")]
    EmptyFrame,
    /// A binary frame whose first byte is not a kind valid for this direction.
    #[error("unknown binary frame kind {0:#04x}")]
    UnknownBinaryKind(u8),
    /// A binary header cut short, or whose lengths run past the frame's end.
    #[error("binary frame truncated")]
    Truncated,
    /// A binary header field that is not UTF-8.
    #[error("field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A binary header field over 255 bytes (its length is a single byte).
    #[error("field `{0}` is longer than 255 bytes")]
    FieldTooLong(&'static str),
}
