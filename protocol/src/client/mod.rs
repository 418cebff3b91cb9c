//! Async clients over tokio-tungstenite for the server's three socket modes,
//! for integration tests and load tools:
//!
//! - [`PhoenixClient`]: Phoenix Channels V2 (`?vsn=2.0.0`);
//! - [`GraphqlClient`]: graphql-transport-ws (subprotocol [`GRAPHQL_PROTOCOL`]);
//! - [`MuxClient`]: the `taina.v1` mux (subprotocol [`MUX_PROTOCOL`]), which
//!   carries Phoenix, GraphQL and MessagePack [envelopes](crate::envelope) on
//!   one socket.
//!
//! They are deliberately sequential: a call that awaits an answer reads the
//! socket itself and buffers everything else, in order — Phoenix messages for
//! `next_message` and `expect_event`, GraphQL events for `next_event`. Pings
//! (WebSocket, GraphQL, envelope) are answered on the way. All three share one
//! private session, so Phoenix and GraphQL behave the same on every socket.

mod channels;
mod error;
mod graphql;
mod handshake;
mod incoming;
mod mux;
mod options;
mod reply;
mod session;

use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use error::ClientError;
pub use graphql::{GraphqlClient, GraphqlEvent};
pub use incoming::Incoming;
pub use mux::MuxClient;
pub use options::{socket_config, ConnectOptions};
pub use reply::Reply;

use crate::phoenix::Message;
use session::{Mode, Session};

/// How long a join, push, leave, heartbeat, `connection_init` or GraphQL
/// `execute` waits for its answer unless changed with `set_reply_timeout`;
/// phoenix.js uses the same.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The subprotocol of GraphQL-only sockets.
pub const GRAPHQL_PROTOCOL: &str = "graphql-transport-ws";

/// The subprotocol of mux sockets.
pub const MUX_PROTOCOL: &str = "taina.v1";

/// A connected Phoenix V2 socket.
pub struct PhoenixClient {
    session: Session,
}

impl std::fmt::Debug for PhoenixClient {
    // The socket halves have nothing useful to show; the protocol state does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let session = &self.session;
        f.debug_struct("PhoenixClient")
            .field("next_ref", &session.next_ref)
            .field("buffered", &session.messages.len())
            .field("closed", &session.closed)
            .field("join_refs", &session.join_refs)
            .field("protocol", &session.protocol)
            .finish_non_exhaustive()
    }
}

impl PhoenixClient {
    /// Connects to `url` (like `ws://127.0.0.1:4000/socket/websocket`),
    /// appending `?<params>&vsn=2.0.0` with the params URL-encoded, params
    /// first and `vsn` last, as the JS client does.
    pub async fn connect(url: &str, params: &[(&str, &str)]) -> Result<Self, ClientError> {
        Self::connect_with(url, params, &ConnectOptions::default()).await
    }

    /// [`PhoenixClient::connect`] with [`ConnectOptions`] (e.g. a source address).
    pub async fn connect_with(
        url: &str,
        params: &[(&str, &str)],
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let request = handshake::request(url, params, None)?;
        let session = Session::open(request, Mode::Phoenix, None, options).await?;
        Ok(PhoenixClient { session })
    }

    /// Connects offering the subprotocols `phoenix` and
    /// `base64url.bearer.phx.<base64 of token>` like phoenix.js 1.8 `authToken`
    /// (standard alphabet, `=` padding stripped).
    pub async fn connect_with_auth_token(url: &str, token: &str) -> Result<Self, ClientError> {
        let request = handshake::request(url, &[], Some(token))?;
        let session =
            Session::open(request, Mode::Phoenix, None, &ConnectOptions::default()).await?;
        Ok(PhoenixClient { session })
    }

    /// The `Sec-WebSocket-Protocol` the server answered, if any.
    pub fn negotiated_protocol(&self) -> Option<&str> {
        self.session.protocol.as_deref()
    }

    /// Changes how long calls wait for their reply.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.session.reply_timeout = timeout;
    }

    /// The join_ref of the current membership of `topic`.
    pub fn join_ref(&self, topic: &str) -> Option<&str> {
        self.session.join_ref(topic)
    }

    /// Joins `topic` (`join_ref == ref`) and returns the reply's `response`;
    /// a reply with status `"error"` becomes [`ClientError::Refused`].
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, ClientError> {
        self.session.join(topic, payload).await
    }

    /// Pushes a JSON event and waits for its reply, buffering everything else.
    pub async fn push(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Reply, ClientError> {
        self.session.push(topic, event, payload).await
    }

    /// Pushes binary data (kind 0 frame) and waits for its reply.
    pub async fn push_binary(
        &mut self,
        topic: &str,
        event: &str,
        data: &[u8],
    ) -> Result<Reply, ClientError> {
        self.session.push_binary(topic, event, data).await
    }

    /// Pushes a JSON event without waiting; returns its ref so the reply can
    /// be found among later messages.
    pub async fn push_no_reply(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<String, ClientError> {
        self.session.push_no_reply(topic, event, payload).await
    }

    /// Leaves `topic` and waits for the reply; the server's `phx_close` that
    /// follows stays buffered.
    pub async fn leave(&mut self, topic: &str) -> Result<(), ClientError> {
        self.session.leave(topic).await
    }

    /// Sends a heartbeat and returns the round-trip time to its reply.
    pub async fn heartbeat(&mut self) -> Result<Duration, ClientError> {
        self.session.heartbeat().await
    }

    /// Sends a raw text frame, e.g. a malformed one.
    pub async fn send_text(&mut self, raw: String) -> Result<(), ClientError> {
        self.session.send(WsMessage::text(raw)).await
    }

    /// Sends a raw binary frame, e.g. a malformed one.
    pub async fn send_binary(&mut self, raw: Vec<u8>) -> Result<(), ClientError> {
        self.session.send(WsMessage::binary(raw)).await
    }

    /// The next message: buffered ones first, then the socket. WebSocket pings
    /// are answered on the way. Once the server has closed, every call returns
    /// [`Incoming::Closed`] after the buffer is drained.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Incoming, ClientError> {
        self.session.next_message(timeout).await
    }

    /// The first message on `topic` with `event`; every other message stays
    /// buffered in arrival order.
    pub async fn expect_event(
        &mut self,
        topic: &str,
        event: &str,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.session.expect_event(topic, event, timeout).await
    }

    /// Closes with 1000 and waits briefly for the server's answering close.
    pub async fn close(self) -> Result<(), ClientError> {
        self.session.close().await
    }
}
