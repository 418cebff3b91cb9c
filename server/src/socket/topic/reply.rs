//! What a topic handler answers a push with; the session (`phoenix.rs`) frames it.

use std::fmt::Display;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::error::AppError;

#[derive(Debug, PartialEq)]
pub enum Reply {
    /// `phx_reply` `ok` with this response.
    Ok(Value),
    /// `phx_reply` `error` with this response: `{"reason", "message"?, …}`.
    Error(Value),
    /// A binary `ok` reply (kind 1) carrying `data`, then a binary push `push` (kind 0) of the
    /// same bytes, both on the bulk lane.
    Binary { data: Bytes, push: &'static str },
    /// Live auth: move the socket to this token's session; the session answers.
    RefreshToken(String),
    /// Nothing to answer (a stream control with no stream running).
    None,
}

impl Reply {
    /// `ok` with an empty response.
    pub fn ok() -> Reply {
        Reply::Ok(json!({}))
    }

    /// `error` `{"reason"}`.
    pub fn error(reason: &str) -> Reply {
        Reply::Error(json!({ "reason": reason }))
    }

    /// `error` `{"reason", "message"}`.
    pub fn refused(reason: &str, message: impl Display) -> Reply {
        Reply::Error(json!({ "reason": reason, "message": message.to_string() }))
    }

    /// `error` `{"reason": "invalid_input", "message"}`.
    pub fn invalid(message: impl Display) -> Reply {
        Self::refused("invalid_input", message)
    }

    /// What an event the topic does not know gets.
    pub fn unknown_event() -> Reply {
        Self::error("unknown event")
    }

    /// A context's error under its code from the one error table (`crate::error`); an
    /// internal cause is logged there and not sent.
    pub fn failed(error: impl Into<AppError>) -> Reply {
        let error = error.into();
        Self::refused(error.code().as_str(), error.public_message())
    }
}
