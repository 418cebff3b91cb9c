//! The decoded Phoenix frame, independent of whether it travelled as text or
//! binary.

use bytes::Bytes;

/// What a frame carries after the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A text frame's payload; always a JSON object on the wire.
    Json(serde_json::Value),
    /// Binary push or broadcast data.
    Binary(Bytes),
    /// A binary `phx_reply` (kind 1) as seen by a client: the status travels in
    /// the header, the data is the reply's `response`.
    BinaryReply {
        /// Reply status, e.g. `"ok"` or `"error"`.
        status: String,
        /// Reply data.
        data: Bytes,
    },
}

/// One Phoenix V2 message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The ref of the join this message belongs to, if any.
    pub join_ref: Option<String>,
    /// The ref of this push (client) or of the push being replied to (server).
    pub msg_ref: Option<String>,
    /// Channel topic, e.g. `room:lobby`.
    pub topic: String,
    /// Event name.
    pub event: String,
    /// Frame payload.
    pub payload: Payload,
}
