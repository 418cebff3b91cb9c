//! An async Phoenix Channels V2 client over tokio-tungstenite, for
//! integration tests and load tools.
//!
//! It is deliberately sequential: a call that awaits a reply reads the socket
//! itself and buffers every other message, in order, for
//! [`PhoenixClient::next_message`] and [`PhoenixClient::expect_event`].

mod error;
mod handshake;
mod incoming;
mod reply;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{
    self,
    handshake::client::Request,
    protocol::{frame::coding::CloseCode, CloseFrame},
    Message as WsMessage,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use error::ClientError;
pub use incoming::Incoming;
pub use reply::Reply;

use crate::phoenix::{
    decode_server_binary, decode_text, encode_client_binary, encode_text, event, Message,
    PHOENIX_TOPIC,
};

/// How long a join, push, leave or heartbeat waits for its reply unless
/// changed with [`PhoenixClient::set_reply_timeout`]; phoenix.js uses the same.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`PhoenixClient::close`] waits for the server's closing frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// RFC 6455 §7.4.1: a close frame that carried no status code.
const NO_STATUS: u16 = 1005;
/// RFC 6455 §7.4.1: the connection ended without a close frame.
const ABNORMAL: u16 = 1006;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected Phoenix V2 socket.
pub struct PhoenixClient {
    sink: SplitSink<Socket, WsMessage>,
    stream: SplitStream<Socket>,
    /// Last ref handed out; refs are decimal strings from one counter, as in phoenix.js.
    next_ref: u64,
    /// Messages read while waiting for something else, oldest first.
    buffered: VecDeque<Message>,
    /// Set once the connection has closed, so later reads report it again.
    closed: Option<(u16, String)>,
    /// Topic → join_ref of the current membership.
    join_refs: HashMap<String, String>,
    /// `Sec-WebSocket-Protocol` the server answered.
    protocol: Option<String>,
    reply_timeout: Duration,
}

impl std::fmt::Debug for PhoenixClient {
    // The socket halves have nothing useful to show; the protocol state does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixClient")
            .field("next_ref", &self.next_ref)
            .field("buffered", &self.buffered.len())
            .field("closed", &self.closed)
            .field("join_refs", &self.join_refs)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl PhoenixClient {
    /// Connects to `url` (like `ws://127.0.0.1:4000/socket/websocket`),
    /// appending `?<params>&vsn=2.0.0` with the params URL-encoded, params
    /// first and `vsn` last, as the JS client does.
    pub async fn connect(url: &str, params: &[(&str, &str)]) -> Result<Self, ClientError> {
        Self::open(handshake::request(url, params, None)?).await
    }

    /// Connects offering the subprotocols `phoenix` and
    /// `base64url.bearer.phx.<base64 of token>` like phoenix.js 1.8 `authToken`
    /// (standard alphabet, `=` padding stripped).
    pub async fn connect_with_auth_token(url: &str, token: &str) -> Result<Self, ClientError> {
        Self::open(handshake::request(url, &[], Some(token))?).await
    }

    async fn open(request: Request) -> Result<Self, ClientError> {
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(handshake::classify)?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (sink, stream) = socket.split();
        Ok(PhoenixClient {
            sink,
            stream,
            next_ref: 0,
            buffered: VecDeque::new(),
            closed: None,
            join_refs: HashMap::new(),
            protocol,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        })
    }

    /// The `Sec-WebSocket-Protocol` the server answered, if any.
    pub fn negotiated_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Changes how long calls wait for their reply.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// The join_ref of the current membership of `topic`.
    pub fn join_ref(&self, topic: &str) -> Option<&str> {
        self.join_refs.get(topic).map(String::as_str)
    }

    /// Joins `topic` (`join_ref == ref`) and returns the reply's `response`;
    /// a reply with status `"error"` becomes [`ClientError::Refused`].
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, ClientError> {
        let join_ref = self.make_ref();
        let frame = encode_text(
            Some(&join_ref),
            Some(&join_ref),
            topic,
            event::JOIN,
            &payload,
        );
        self.send(WsMessage::text(frame)).await?;
        let outcome = self.await_reply(topic, &join_ref, "join reply").await;
        match outcome {
            Ok(reply) => {
                self.join_refs.insert(topic.to_owned(), join_ref);
                Ok(reply.into_json()?)
            }
            Err(error) => {
                // A failed (re)join leaves no membership behind on the server.
                self.join_refs.remove(topic);
                Err(error)
            }
        }
    }

    /// Pushes a JSON event and waits for its reply, buffering everything else.
    pub async fn push(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Reply, ClientError> {
        let msg_ref = self.push_no_reply(topic, event, payload).await?;
        self.await_reply(topic, &msg_ref, "push reply").await
    }

    /// Pushes binary data (kind 0 frame) and waits for its reply.
    pub async fn push_binary(
        &mut self,
        topic: &str,
        event: &str,
        data: &[u8],
    ) -> Result<Reply, ClientError> {
        let msg_ref = self.make_ref();
        let frame = encode_client_binary(self.join_ref(topic), Some(&msg_ref), topic, event, data)?;
        self.send(WsMessage::binary(frame)).await?;
        self.await_reply(topic, &msg_ref, "push reply").await
    }

    /// Pushes a JSON event without waiting; returns its ref so the reply can
    /// be found among later messages.
    pub async fn push_no_reply(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<String, ClientError> {
        let msg_ref = self.make_ref();
        let frame = encode_text(self.join_ref(topic), Some(&msg_ref), topic, event, &payload);
        self.send(WsMessage::text(frame)).await?;
        Ok(msg_ref)
    }

    /// Leaves `topic` and waits for the reply; the server's `phx_close` that
    /// follows stays buffered.
    pub async fn leave(&mut self, topic: &str) -> Result<(), ClientError> {
        // The membership ends on our side whatever the server answers.
        let join_ref = self.join_refs.remove(topic);
        let msg_ref = self.make_ref();
        let frame = encode_text(
            join_ref.as_deref(),
            Some(&msg_ref),
            topic,
            event::LEAVE,
            &Value::Object(Default::default()),
        );
        self.send(WsMessage::text(frame)).await?;
        self.await_reply(topic, &msg_ref, "leave reply").await?;
        Ok(())
    }

    /// Sends a heartbeat and returns the round-trip time to its reply.
    pub async fn heartbeat(&mut self) -> Result<Duration, ClientError> {
        let started = Instant::now();
        let msg_ref = self.make_ref();
        let frame = encode_text(
            None,
            Some(&msg_ref),
            PHOENIX_TOPIC,
            event::HEARTBEAT,
            &Value::Object(Default::default()),
        );
        self.send(WsMessage::text(frame)).await?;
        self.await_reply(PHOENIX_TOPIC, &msg_ref, "heartbeat reply")
            .await?;
        Ok(started.elapsed())
    }

    /// Sends a raw text frame, e.g. a malformed one.
    pub async fn send_text(&mut self, raw: String) -> Result<(), ClientError> {
        self.send(WsMessage::text(raw)).await
    }

    /// Sends a raw binary frame, e.g. a malformed one.
    pub async fn send_binary(&mut self, raw: Vec<u8>) -> Result<(), ClientError> {
        self.send(WsMessage::binary(raw)).await
    }

    /// The next message: buffered ones first, then the socket. WebSocket pings
    /// are answered on the way. Once the server has closed, every call returns
    /// [`Incoming::Closed`] after the buffer is drained.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Incoming, ClientError> {
        if let Some(message) = self.buffered.pop_front() {
            return Ok(Incoming::Message(message));
        }
        self.read(Instant::now() + timeout, "message").await
    }

    /// The first message on `topic` with `event`; every other message stays
    /// buffered in arrival order.
    pub async fn expect_event(
        &mut self,
        topic: &str,
        event: &str,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.wait_for(
            |m| m.topic == topic && m.event == event,
            Instant::now() + timeout,
            "event",
        )
        .await
    }

    /// Closes with 1000 and waits briefly for the server's answering close.
    pub async fn close(mut self) -> Result<(), ClientError> {
        if self.closed.is_some() {
            return Ok(());
        }
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match self.sink.send(WsMessage::Close(Some(frame))).await {
            Ok(()) => {}
            // The server got there first; the connection is closed either way.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(error) => return Err(error.into()),
        }
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        // Drain until the server's close frame (or the end of the stream) so
        // the closing handshake completes; other frames no longer matter.
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout_at(deadline, self.stream.next()).await
        {
            if matches!(message, WsMessage::Close(_)) {
                break;
            }
        }
        Ok(())
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    async fn send(&mut self, message: WsMessage) -> Result<(), ClientError> {
        if let Some((code, reason)) = &self.closed {
            return Err(ClientError::Closed {
                code: *code,
                reason: reason.clone(),
            });
        }
        self.sink.send(message).await?;
        Ok(())
    }

    /// Waits for the `phx_reply` to `msg_ref` on `topic`; `"error"` replies
    /// become [`ClientError::Refused`].
    async fn await_reply(
        &mut self,
        topic: &str,
        msg_ref: &str,
        what: &'static str,
    ) -> Result<Reply, ClientError> {
        let message = self
            .wait_for(
                |m| {
                    m.event == event::REPLY
                        && m.topic == topic
                        && m.msg_ref.as_deref() == Some(msg_ref)
                },
                Instant::now() + self.reply_timeout,
                what,
            )
            .await?;
        Reply::from_payload(message.payload)?.refuse_errors()
    }

    /// The first message matching `wanted`, from the buffer or the socket;
    /// non-matching messages are buffered in order.
    async fn wait_for(
        &mut self,
        wanted: impl Fn(&Message) -> bool,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Message, ClientError> {
        if let Some(index) = self.buffered.iter().position(&wanted) {
            if let Some(message) = self.buffered.remove(index) {
                return Ok(message);
            }
        }
        loop {
            match self.read(deadline, what).await? {
                Incoming::Message(message) if wanted(&message) => return Ok(message),
                Incoming::Message(message) => self.buffered.push_back(message),
                Incoming::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason })
                }
            }
        }
    }

    /// Reads the socket until a Phoenix message or the end of the connection.
    async fn read(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Incoming, ClientError> {
        loop {
            if let Some((code, reason)) = &self.closed {
                return Ok(Incoming::Closed {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| ClientError::Timeout(what))?;
            match next {
                Some(Ok(WsMessage::Text(text))) => {
                    return Ok(Incoming::Message(decode_text(&text)?));
                }
                Some(Ok(WsMessage::Binary(data))) => {
                    return Ok(Incoming::Message(decode_server_binary(&data)?));
                }
                Some(Ok(WsMessage::Ping(_))) => {
                    // tungstenite queued the pong; flushing sends it now rather
                    // than on some later read.
                    self.sink.flush().await?;
                }
                Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Close(frame))) => {
                    self.closed = Some(match frame {
                        Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                        None => (NO_STATUS, String::new()),
                    });
                    // Sends the close reply tungstenite queued; the peer may
                    // already be gone, which changes nothing for us.
                    let _ = self.sink.flush().await;
                }
                Some(Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ))
                | None => {
                    self.closed = Some((ABNORMAL, String::new()));
                }
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }
}
