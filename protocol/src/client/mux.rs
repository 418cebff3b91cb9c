//! [`MuxClient`]: one `taina.v1` socket speaking Phoenix Channels V2,
//! graphql-transport-ws and MessagePack [envelopes](crate::envelope) at once.
//!
//! Incoming frames are told apart by shape — text `[` Phoenix, text `{`
//! GraphQL, binary `0x00`–`0x02` Phoenix, binary MessagePack map or array an
//! envelope — and each family is buffered for its own calls while another
//! call waits. A `close` envelope for `gql` ends only the GraphQL sub-session:
//! GraphQL calls report it ([`GraphqlEvent::Closed`] or
//! [`ClientError::Closed`]) while Phoenix carries on, and
//! [`MuxClient::graphql_init`] may start a new sub-session.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::{Inbound, Mode, Session};
use super::{handshake, ClientError, ConnectOptions, GraphqlEvent, Incoming, Reply, MUX_PROTOCOL};
use crate::envelope::Envelope;
use crate::phoenix::Message;

/// A connected `taina.v1` mux socket.
pub struct MuxClient {
    session: Session,
}

impl std::fmt::Debug for MuxClient {
    // The socket halves have nothing useful to show; the protocol state does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let session = &self.session;
        f.debug_struct("MuxClient")
            .field("next_ref", &session.next_ref)
            .field("buffered_messages", &session.messages.len())
            .field("buffered_events", &session.events.len())
            .field("closed", &session.closed)
            .field("graphql_ended", &session.graphql_ended)
            .field("join_refs", &session.join_refs)
            .finish_non_exhaustive()
    }
}

impl MuxClient {
    /// Connects to `url` (like `ws://127.0.0.1:4000/socket/websocket`)
    /// offering `taina.v1`, with the token as the URL-encoded `?token=` query
    /// parameter (no `vsn`). The server authenticates at the upgrade, so
    /// Phoenix works at once and [`MuxClient::graphql_init`] needs no token.
    /// A server that does not answer `taina.v1` is a [`ClientError::Handshake`].
    pub async fn connect(url: &str, token: &str) -> Result<Self, ClientError> {
        Self::open(url, Some(token), &ConnectOptions::default()).await
    }

    /// [`MuxClient::connect`] with [`ConnectOptions`] (e.g. a source address).
    pub async fn connect_with(
        url: &str,
        token: &str,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        Self::open(url, Some(token), options).await
    }

    /// Connects offering `taina.v1` without a token: the socket authenticates
    /// with [`MuxClient::graphql_init`] and a token, and until then the server
    /// refuses Phoenix joins.
    pub async fn connect_without_token(url: &str) -> Result<Self, ClientError> {
        Self::open(url, None, &ConnectOptions::default()).await
    }

    async fn open(
        url: &str,
        token: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let request = handshake::mux_request(url, token)?;
        let session = Session::open(request, Mode::Mux, Some(MUX_PROTOCOL), options).await?;
        Ok(MuxClient { session })
    }

    /// The `Sec-WebSocket-Protocol` the server answered: `taina.v1`.
    pub fn negotiated_protocol(&self) -> Option<&str> {
        self.session.protocol.as_deref()
    }

    /// Changes how long Phoenix replies, `connection_ack`, GraphQL `execute`
    /// results and envelope pongs are waited for.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.session.reply_timeout = timeout;
    }

    /// Sends a raw text frame, e.g. a malformed one.
    pub async fn send_text(&mut self, raw: String) -> Result<(), ClientError> {
        self.session.send(WsMessage::text(raw)).await
    }

    /// Sends a raw binary frame, e.g. a malformed one.
    pub async fn send_binary(&mut self, raw: Vec<u8>) -> Result<(), ClientError> {
        self.session.send(WsMessage::binary(raw)).await
    }

    /// Closes with 1000 and waits briefly for the server's answering close.
    pub async fn close(self) -> Result<(), ClientError> {
        self.session.close().await
    }

    // Phoenix Channels.

    /// The join_ref of the current membership of `topic`.
    pub fn join_ref(&self, topic: &str) -> Option<&str> {
        self.session.join_ref(topic)
    }

    /// Joins `topic` and returns the reply's `response`; a reply with status
    /// `"error"` becomes [`ClientError::Refused`].
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

    /// Pushes a JSON event without waiting; returns its ref.
    pub async fn push_no_reply(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<String, ClientError> {
        self.session.push_no_reply(topic, event, payload).await
    }

    /// Leaves `topic` and waits for the reply; the `phx_close` that follows
    /// stays buffered.
    pub async fn leave(&mut self, topic: &str) -> Result<(), ClientError> {
        self.session.leave(topic).await
    }

    /// Sends a Phoenix heartbeat and returns the round-trip time to its reply.
    pub async fn heartbeat(&mut self) -> Result<Duration, ClientError> {
        self.session.heartbeat().await
    }

    /// The next Phoenix message: buffered ones first, then the socket (GraphQL
    /// events read meanwhile stay buffered). Once the socket has closed, every
    /// call returns [`Incoming::Closed`] after the buffer is drained.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Incoming, ClientError> {
        self.session.next_message(timeout).await
    }

    /// The first Phoenix message on `topic` with `event`; everything else
    /// stays buffered in arrival order.
    pub async fn expect_event(
        &mut self,
        topic: &str,
        event: &str,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.session.expect_event(topic, event, timeout).await
    }

    // GraphQL.

    /// Sends `connection_init` — with `{"token": …}` when given, without a
    /// payload otherwise (the upgrade carried the token) — and waits for
    /// `connection_ack`. Also starts a new GraphQL sub-session after a `close`
    /// envelope; events of the old one still buffered (its
    /// [`GraphqlEvent::Closed`] included) come first from
    /// [`MuxClient::next_event`]. A `close` envelope or socket close instead
    /// of the ack is [`ClientError::Closed`].
    pub async fn graphql_init(&mut self, token: Option<&str>) -> Result<(), ClientError> {
        let timeout = self.session.reply_timeout;
        self.session.graphql_init(token, timeout).await
    }

    /// Starts GraphQL operation `id` (usually a subscription); its events come
    /// from [`MuxClient::next_event`]. Null `variables` are left out. Fails
    /// with [`ClientError::Closed`] once the GraphQL sub-session has ended.
    pub async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
    ) -> Result<(), ClientError> {
        self.session.subscribe(id, query, variables).await
    }

    /// Stops GraphQL operation `id` (sends `complete`).
    pub async fn complete(&mut self, id: &str) -> Result<(), ClientError> {
        self.session.complete(id).await
    }

    /// Runs a GraphQL query or mutation under a generated id (`execute-<n>`)
    /// and returns the `payload` of its `next` once its `complete` has
    /// arrived, waiting up to the reply timeout; an `error` answer is
    /// [`ClientError::Graphql`], the end of the sub-session
    /// [`ClientError::Closed`]. Everything else read meanwhile stays buffered.
    pub async fn execute(&mut self, query: &str, variables: Value) -> Result<Value, ClientError> {
        self.session.execute(query, variables).await
    }

    /// The next GraphQL event: buffered ones first, then the socket (Phoenix
    /// messages read meanwhile stay buffered). A `close` envelope for `gql`
    /// or the socket's close is [`GraphqlEvent::Closed`], reported again by
    /// later calls until [`MuxClient::graphql_init`] starts over.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<GraphqlEvent, ClientError> {
        self.session.next_event(timeout).await
    }

    // Envelopes.

    /// Sends `Envelope::Ping { id }` and waits for the matching
    /// `Envelope::Pong`; everything else read meanwhile stays buffered.
    pub async fn envelope_ping(&mut self, id: u64) -> Result<(), ClientError> {
        let ping = Envelope::Ping { id }.encode();
        self.session.send(WsMessage::binary(ping)).await?;
        let deadline = Instant::now() + self.session.reply_timeout;
        loop {
            match self.session.read(deadline, "envelope pong").await? {
                Inbound::Pong(answered) if answered == id => return Ok(()),
                Inbound::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason })
                }
                other => self.session.stash(other),
            }
        }
    }
}
