//! Errors of the clients.

use crate::envelope::EnvelopeError;
use crate::phoenix::{DecodeError, EncodeError};

/// Everything a [`PhoenixClient`](super::PhoenixClient),
/// [`GraphqlClient`](super::GraphqlClient) or [`MuxClient`](super::MuxClient)
/// call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket upgrade failed: `status` is the HTTP status when the
    /// server answered something other than 101, `None` when the response
    /// was not a valid upgrade (e.g. an unrequested subprotocol).
    #[error("handshake failed (status {status:?}): {body}")]
    Handshake {
        /// HTTP status of the refusal, if there was one.
        status: Option<u16>,
        /// Response body, or a description of what was wrong.
        body: String,
    },
    /// Transport error.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server sent a frame this crate cannot decode.
    #[error("undecodable frame: {0}")]
    Decode(#[from] DecodeError),
    /// An outgoing binary frame could not be encoded.
    #[error("unencodable frame: {0}")]
    Encode(#[from] EncodeError),
    /// Nothing arrived in time; names what was awaited.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection is closed (code 1006 when it ended without a close frame).
    #[error("connection closed with {code}: {reason}")]
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// A join or push was answered with status `"error"`; holds its `response`.
    #[error("refused: {0}")]
    Refused(serde_json::Value),
    /// A GraphQL operation was answered with an `error` message; holds its
    /// `payload` (the array of GraphQL errors).
    #[error("graphql errors: {0}")]
    Graphql(serde_json::Value),
    /// The server sent a GraphQL message that does not follow
    /// graphql-transport-ws (not a JSON object, unknown `type`, missing `id`),
    /// or a binary frame on a GraphQL-only socket.
    #[error("invalid graphql-transport-ws message: {0}")]
    GraphqlFrame(String),
    /// A mux socket sent a MessagePack envelope this crate cannot decode.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}
