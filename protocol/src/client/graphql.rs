//! graphql-transport-ws (enisdenjo/graphql-ws `PROTOCOL.md`) on the client
//! side: [`GraphqlClient`] for GraphQL-only sockets, and the operations on a
//! [`Session`] that [`MuxClient`](super::MuxClient) shares.
//!
//! Server `ping`s are answered with `pong` as they are read and `pong`s are
//! ignored; neither surfaces. `execute` runs a query or mutation under an id
//! of its own (`execute-<n>`), so pick subscription ids that do not start with
//! `execute-`.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::{closed_error, Inbound, Mode, Session};
use super::{handshake, ClientError, ConnectOptions, DEFAULT_REPLY_TIMEOUT, GRAPHQL_PROTOCOL};

/// Prefix of the operation ids `execute` generates.
const EXECUTE_ID_PREFIX: &str = "execute-";

/// Something the server said about GraphQL operations.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphqlEvent {
    /// A result of operation `id` (`{data, errors?, extensions?}`).
    Next {
        /// Operation id.
        id: String,
        /// The execution result.
        payload: serde_json::Value,
    },
    /// Operation `id` failed before producing results; it is over (no
    /// `complete` follows).
    Error {
        /// Operation id.
        id: String,
        /// The array of GraphQL errors.
        errors: serde_json::Value,
    },
    /// Operation `id` is over.
    Complete {
        /// Operation id.
        id: String,
    },
    /// GraphQL ended: the socket closed, or on a mux socket a `close`
    /// envelope ended the GraphQL sub-session (the socket stays open and a new
    /// `connection_init` may start over). Reported again by every later
    /// `next_event` until then.
    Closed {
        /// Close code (graphql-transport-ws codes such as 4403, or 1006 when
        /// the connection ended without a close frame).
        code: u16,
        /// Close reason.
        reason: String,
    },
}

impl GraphqlEvent {
    /// The operation the event belongs to; `None` for [`GraphqlEvent::Closed`].
    pub fn id(&self) -> Option<&str> {
        match self {
            GraphqlEvent::Next { id, .. }
            | GraphqlEvent::Error { id, .. }
            | GraphqlEvent::Complete { id } => Some(id),
            GraphqlEvent::Closed { .. } => None,
        }
    }
}

/// A graphql-transport-ws message from the server, as read.
#[derive(Debug, PartialEq)]
pub(super) enum ServerMessage {
    /// `connection_ack`.
    Ack,
    /// `ping`, with its payload if any.
    Ping(Option<Value>),
    /// `pong`.
    Pong,
    /// `next`, `error` or `complete`.
    Event(GraphqlEvent),
}

/// Reads a server message; anything outside the protocol is
/// [`ClientError::GraphqlFrame`].
pub(super) fn parse(text: &str) -> Result<ServerMessage, ClientError> {
    let invalid = |why: String| ClientError::GraphqlFrame(why);
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(invalid("not a JSON object".into()));
    };
    let Some(Value::String(kind)) = object.remove("type") else {
        return Err(invalid("missing string `type`".into()));
    };
    let payload = object.remove("payload");
    let id = || match object.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        _ => Err(invalid(format!("`{kind}` without a string `id`"))),
    };
    let required = |payload: Option<Value>| {
        payload.ok_or_else(|| invalid(format!("`{kind}` without a `payload`")))
    };
    Ok(match kind.as_str() {
        "connection_ack" => ServerMessage::Ack,
        "ping" => ServerMessage::Ping(payload),
        "pong" => ServerMessage::Pong,
        "next" => ServerMessage::Event(GraphqlEvent::Next {
            id: id()?,
            payload: required(payload)?,
        }),
        "error" => ServerMessage::Event(GraphqlEvent::Error {
            id: id()?,
            errors: required(payload)?,
        }),
        "complete" => ServerMessage::Event(GraphqlEvent::Complete { id: id()? }),
        other => return Err(invalid(format!("unknown type `{other}`"))),
    })
}

/// The `pong` answering a `ping`; an object payload is echoed.
pub(super) fn pong(ping_payload: Option<Value>) -> Value {
    match ping_payload {
        Some(payload @ Value::Object(_)) => json!({ "type": "pong", "payload": payload }),
        _ => json!({ "type": "pong" }),
    }
}

/// A `subscribe` message; null variables are left out.
fn subscribe_message(id: &str, query: &str, variables: Value) -> Value {
    let mut payload = Map::new();
    payload.insert("query".into(), Value::String(query.to_owned()));
    if !variables.is_null() {
        payload.insert("variables".into(), variables);
    }
    json!({ "id": id, "type": "subscribe", "payload": payload })
}

impl Session {
    /// The end of GraphQL, if it has ended: the socket's close, else a `close`
    /// envelope's.
    fn graphql_end(&self) -> Option<&(u16, String)> {
        self.closed.as_ref().or(self.graphql_ended.as_ref())
    }

    /// Sends a GraphQL message, unless GraphQL has ended.
    async fn send_graphql(&mut self, message: &Value) -> Result<(), ClientError> {
        if let Some(end) = self.graphql_end() {
            return Err(closed_error(end));
        }
        self.send(WsMessage::text(message.to_string())).await
    }

    /// Sends `connection_init` (with `{token}` when given) and waits for
    /// `connection_ack`; a close before it is [`ClientError::Closed`].
    pub(super) async fn graphql_init(
        &mut self,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        // After a `close` envelope a new sub-session may start over.
        self.graphql_ended = None;
        let init = match token {
            Some(token) => json!({ "type": "connection_init", "payload": { "token": token } }),
            None => json!({ "type": "connection_init" }),
        };
        self.send_graphql(&init).await?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.read(deadline, "connection_ack").await? {
                Inbound::Ack => return Ok(()),
                Inbound::GraphqlEnded { code, reason } | Inbound::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason })
                }
                other => self.stash(other),
            }
        }
    }

    pub(super) async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
    ) -> Result<(), ClientError> {
        self.send_graphql(&subscribe_message(id, query, variables))
            .await
    }

    pub(super) async fn complete(&mut self, id: &str) -> Result<(), ClientError> {
        self.send_graphql(&json!({ "id": id, "type": "complete" }))
            .await
    }

    pub(super) async fn next_event(
        &mut self,
        timeout: Duration,
    ) -> Result<GraphqlEvent, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        if let Some((code, reason)) = self.graphql_end().cloned() {
            return Ok(GraphqlEvent::Closed { code, reason });
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.read(deadline, "graphql event").await? {
                Inbound::Graphql(event) => return Ok(event),
                Inbound::GraphqlEnded { code, reason } | Inbound::Closed { code, reason } => {
                    return Ok(GraphqlEvent::Closed { code, reason })
                }
                other => self.stash(other),
            }
        }
    }

    pub(super) async fn execute(
        &mut self,
        query: &str,
        variables: Value,
    ) -> Result<Value, ClientError> {
        self.next_operation += 1;
        let id = format!("{EXECUTE_ID_PREFIX}{}", self.next_operation);
        self.send_graphql(&subscribe_message(&id, query, variables))
            .await?;
        let deadline = Instant::now() + self.reply_timeout;
        let outcome = self.await_result(&id, deadline).await;
        if let Err(ClientError::Timeout(_)) = outcome {
            // Stop it on the server too; what the caller needs is the timeout.
            let _ = self.complete(&id).await;
        }
        outcome
    }

    /// The first `next` payload of operation `id`, once its `complete` arrives.
    async fn await_result(&mut self, id: &str, deadline: Instant) -> Result<Value, ClientError> {
        let mut result = None;
        loop {
            match self.read(deadline, "graphql result").await? {
                Inbound::Graphql(GraphqlEvent::Next { id: of, payload }) if of == id => {
                    result.get_or_insert(payload);
                }
                Inbound::Graphql(GraphqlEvent::Error { id: of, errors }) if of == id => {
                    return Err(ClientError::Graphql(errors))
                }
                Inbound::Graphql(GraphqlEvent::Complete { id: of }) if of == id => {
                    return result.ok_or_else(|| {
                        ClientError::GraphqlFrame(format!("`{id}` completed without a result"))
                    })
                }
                Inbound::GraphqlEnded { code, reason } | Inbound::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason })
                }
                other => self.stash(other),
            }
        }
    }
}

/// A connected, acknowledged graphql-transport-ws socket.
pub struct GraphqlClient {
    session: Session,
}

impl std::fmt::Debug for GraphqlClient {
    // The socket halves have nothing useful to show; the protocol state does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphqlClient")
            .field("buffered", &self.session.events.len())
            .field("closed", &self.session.closed)
            .finish_non_exhaustive()
    }
}

impl GraphqlClient {
    /// Connects to `url` (like `ws://127.0.0.1:4000/socket/websocket`)
    /// offering `graphql-transport-ws`, sends `connection_init` with
    /// `{"token": token}` and waits up to [`DEFAULT_REPLY_TIMEOUT`] for
    /// `connection_ack`.
    ///
    /// A server that does not answer the subprotocol is a
    /// [`ClientError::Handshake`]; a close before the ack (e.g. 4403 for a bad
    /// token) is [`ClientError::Closed`].
    pub async fn connect(url: &str, token: &str) -> Result<Self, ClientError> {
        Self::connect_with_timeout(url, token, DEFAULT_REPLY_TIMEOUT).await
    }

    /// [`GraphqlClient::connect`], waiting up to `ack_timeout` for
    /// `connection_ack`.
    pub async fn connect_with_timeout(
        url: &str,
        token: &str,
        ack_timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::open(url, token, ack_timeout, &ConnectOptions::default()).await
    }

    /// [`GraphqlClient::connect`] with [`ConnectOptions`] (e.g. a source address).
    pub async fn connect_with(
        url: &str,
        token: &str,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        Self::open(url, token, DEFAULT_REPLY_TIMEOUT, options).await
    }

    async fn open(
        url: &str,
        token: &str,
        ack_timeout: Duration,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let request = handshake::graphql_request(url)?;
        let mut session =
            Session::open(request, Mode::Graphql, Some(GRAPHQL_PROTOCOL), options).await?;
        session.graphql_init(Some(token), ack_timeout).await?;
        Ok(GraphqlClient { session })
    }

    /// The `Sec-WebSocket-Protocol` the server answered: `graphql-transport-ws`.
    pub fn negotiated_protocol(&self) -> Option<&str> {
        self.session.protocol.as_deref()
    }

    /// Changes how long [`GraphqlClient::execute`] waits for its result.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.session.reply_timeout = timeout;
    }

    /// Starts operation `id` (usually a subscription); its events come from
    /// [`GraphqlClient::next_event`]. Null `variables` are left out.
    pub async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
    ) -> Result<(), ClientError> {
        self.session.subscribe(id, query, variables).await
    }

    /// Stops operation `id` (sends `complete`).
    pub async fn complete(&mut self, id: &str) -> Result<(), ClientError> {
        self.session.complete(id).await
    }

    /// Runs a query or mutation under a generated id (`execute-<n>`) and
    /// returns the `payload` of its `next`
    /// (`{data, errors?}`) once its `complete` has arrived. An `error` answer
    /// is [`ClientError::Graphql`]; other operations' events read meanwhile
    /// stay buffered for [`GraphqlClient::next_event`]. Waits up to the reply
    /// timeout, then sends `complete` for it and fails with
    /// [`ClientError::Timeout`].
    pub async fn execute(&mut self, query: &str, variables: Value) -> Result<Value, ClientError> {
        self.session.execute(query, variables).await
    }

    /// The next event: buffered ones first, then the socket. Once the server
    /// has closed, every call returns [`GraphqlEvent::Closed`].
    pub async fn next_event(&mut self, timeout: Duration) -> Result<GraphqlEvent, ClientError> {
        self.session.next_event(timeout).await
    }

    /// Sends a raw text frame, e.g. a malformed message.
    pub async fn send_raw(&mut self, text: String) -> Result<(), ClientError> {
        self.session.send(WsMessage::text(text)).await
    }

    /// Closes with 1000 and waits briefly for the server's answering close.
    pub async fn close(self) -> Result<(), ClientError> {
        self.session.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_messages() {
        assert_eq!(
            parse(r#"{"type":"connection_ack","payload":{}}"#).unwrap(),
            ServerMessage::Ack
        );
        assert_eq!(
            parse(r#"{"type":"ping"}"#).unwrap(),
            ServerMessage::Ping(None)
        );
        assert_eq!(parse(r#"{"type":"pong"}"#).unwrap(), ServerMessage::Pong);
        assert_eq!(
            parse(r#"{"id":"a","type":"next","payload":{"data":1}}"#).unwrap(),
            ServerMessage::Event(GraphqlEvent::Next {
                id: "a".into(),
                payload: json!({"data": 1})
            })
        );
        assert_eq!(
            parse(r#"{"id":"a","type":"error","payload":[{"message":"x"}]}"#).unwrap(),
            ServerMessage::Event(GraphqlEvent::Error {
                id: "a".into(),
                errors: json!([{"message": "x"}])
            })
        );
        assert_eq!(
            parse(r#"{"id":"a","type":"complete"}"#).unwrap(),
            ServerMessage::Event(GraphqlEvent::Complete { id: "a".into() })
        );
    }

    #[test]
    fn rejects_messages_outside_the_protocol() {
        for text in [
            "nope",
            "[]",
            r#"{"payload":{}}"#,
            r#"{"type":"connection_error"}"#,
            r#"{"type":"next","payload":{}}"#,
            r#"{"id":1,"type":"complete"}"#,
            r#"{"id":"a","type":"next"}"#,
        ] {
            assert!(
                matches!(parse(text), Err(ClientError::GraphqlFrame(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn pongs_echo_object_payloads() {
        assert_eq!(pong(None), json!({"type": "pong"}));
        assert_eq!(
            pong(Some(json!({"t": 1}))),
            json!({"type": "pong", "payload": {"t": 1}})
        );
        assert_eq!(pong(Some(json!("x"))), json!({"type": "pong"}));
    }

    #[test]
    fn subscribe_leaves_null_variables_out() {
        assert_eq!(
            subscribe_message("1", "{ a }", Value::Null),
            json!({"id": "1", "type": "subscribe", "payload": {"query": "{ a }"}})
        );
        assert_eq!(
            subscribe_message("1", "{ a }", json!({"x": 1}))["payload"]["variables"],
            json!({"x": 1})
        );
    }

    #[test]
    fn events_name_their_operation() {
        assert_eq!(GraphqlEvent::Complete { id: "a".into() }.id(), Some("a"));
        let closed = GraphqlEvent::Closed {
            code: 4403,
            reason: String::new(),
        };
        assert_eq!(closed.id(), None);
    }
}
