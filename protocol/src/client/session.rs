//! The connection every client is built on: one WebSocket, the frame families
//! its [`Mode`] carries, and a buffer per family for what arrives while a call
//! waits for something else.
//!
//! Frames are demultiplexed by mode: a Phoenix socket reads everything as
//! Phoenix V2, a GraphQL socket everything as graphql-transport-ws, and a mux
//! socket by shape — text `{` → GraphQL, other text → Phoenix; binary
//! MessagePack map or array → envelope, other binary → Phoenix (whose decoder
//! reports anything else). Pings of every kind (WebSocket, GraphQL `ping`,
//! envelope `ping`) are answered on the way and never surface.

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

use super::graphql::{self, ServerMessage};
use super::options::{self, ConnectOptions};
use super::{handshake, ClientError, GraphqlEvent, DEFAULT_REPLY_TIMEOUT};
use crate::envelope::{self, Envelope};
use crate::phoenix::{decode_server_binary, decode_text, Message};

/// How long [`Session::close`] waits for the server's closing frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// RFC 6455 §7.4.1: a close frame that carried no status code.
const NO_STATUS: u16 = 1005;
/// RFC 6455 §7.4.1: the connection ended without a close frame.
const ABNORMAL: u16 = 1006;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which protocols the socket speaks, which decides how frames are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Phoenix Channels V2 only.
    Phoenix,
    /// graphql-transport-ws only.
    Graphql,
    /// `taina.v1`: Phoenix, GraphQL and envelopes, told apart by shape.
    Mux,
}

/// One item read from the socket, after demultiplexing.
#[derive(Debug)]
pub(super) enum Inbound {
    /// A decoded Phoenix message.
    Phoenix(Message),
    /// A GraphQL `next`, `error` or `complete`.
    Graphql(GraphqlEvent),
    /// GraphQL `connection_ack`.
    Ack,
    /// An envelope `pong` with its id.
    Pong(u64),
    /// A `close` envelope ended the GraphQL sub-session; the socket stays up.
    GraphqlEnded {
        /// graphql-transport-ws close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The socket is closed.
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// A connected socket and the protocol state of every side it may speak.
pub(super) struct Session {
    sink: SplitSink<Socket, WsMessage>,
    stream: SplitStream<Socket>,
    mode: Mode,
    /// `Sec-WebSocket-Protocol` the server answered.
    pub(super) protocol: Option<String>,
    /// Set once the connection has closed, so later reads report it again.
    pub(super) closed: Option<(u16, String)>,
    /// How long a call waits for its answer.
    pub(super) reply_timeout: Duration,
    /// Last Phoenix ref handed out; refs are decimal strings from one counter,
    /// as in phoenix.js.
    pub(super) next_ref: u64,
    /// Phoenix messages read while waiting for something else, oldest first.
    pub(super) messages: VecDeque<Message>,
    /// Topic → join_ref of the current membership.
    pub(super) join_refs: HashMap<String, String>,
    /// Last number used for an `execute` operation id.
    pub(super) next_operation: u64,
    /// GraphQL events read while waiting for something else, oldest first.
    pub(super) events: VecDeque<GraphqlEvent>,
    /// Set when a `close` envelope ended the GraphQL sub-session (mux), until
    /// the next `connection_init`.
    pub(super) graphql_ended: Option<(u16, String)>,
}

impl Session {
    /// Upgrades with `request`; when `expected` is given the server must have
    /// answered that subprotocol.
    pub(super) async fn open(
        request: Request,
        mode: Mode,
        expected: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let connected = match options.local_address {
            None => {
                tokio_tungstenite::connect_async_with_config(
                    request,
                    Some(options::socket_config()),
                    true,
                )
                .await
            }
            Some(local) => match options::connect_from(&request, local).await {
                Ok(stream) => {
                    tokio_tungstenite::client_async_with_config(
                        request,
                        MaybeTlsStream::Plain(stream),
                        Some(options::socket_config()),
                    )
                    .await
                }
                Err(e) => Err(e),
            },
        };
        let (socket, response) = connected.map_err(handshake::classify)?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if let Some(expected) = expected {
            handshake::require_protocol(protocol.as_deref(), expected)?;
        }
        let (sink, stream) = socket.split();
        Ok(Session {
            sink,
            stream,
            mode,
            protocol,
            closed: None,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            next_ref: 0,
            messages: VecDeque::new(),
            join_refs: HashMap::new(),
            next_operation: 0,
            events: VecDeque::new(),
            graphql_ended: None,
        })
    }

    /// Sends a frame, unless the connection is already closed.
    pub(super) async fn send(&mut self, message: WsMessage) -> Result<(), ClientError> {
        if let Some(closed) = &self.closed {
            return Err(closed_error(closed));
        }
        self.sink.send(message).await?;
        Ok(())
    }

    /// Keeps something read while waiting for something else: Phoenix
    /// messages and GraphQL events in their buffers, the end of the GraphQL
    /// sub-session as a [`GraphqlEvent::Closed`] in order among the events.
    pub(super) fn stash(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Phoenix(message) => self.messages.push_back(message),
            Inbound::Graphql(event) => self.events.push_back(event),
            Inbound::GraphqlEnded { code, reason } => {
                self.events.push_back(GraphqlEvent::Closed { code, reason });
            }
            // An ack or pong whose call gave up waiting, and the close, which
            // `closed` remembers.
            Inbound::Ack | Inbound::Pong(_) | Inbound::Closed { .. } => {}
        }
    }

    /// Reads the socket until something for a caller or the end of the
    /// connection. Once closed, every call reports [`Inbound::Closed`] again.
    pub(super) async fn read(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Inbound, ClientError> {
        loop {
            if let Some((code, reason)) = &self.closed {
                return Ok(Inbound::Closed {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| ClientError::Timeout(what))?;
            let inbound = match next {
                Some(Ok(WsMessage::Text(text))) => self.on_text(&text).await?,
                Some(Ok(WsMessage::Binary(data))) => self.on_binary(&data).await?,
                Some(Ok(WsMessage::Ping(_))) => {
                    // tungstenite queued the pong; flushing sends it now rather
                    // than on some later read.
                    self.sink.flush().await?;
                    None
                }
                Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => None,
                Some(Ok(WsMessage::Close(frame))) => {
                    self.closed = Some(match frame {
                        Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                        None => (NO_STATUS, String::new()),
                    });
                    // Sends the close reply tungstenite queued; the peer may
                    // already be gone, which changes nothing for us.
                    let _ = self.sink.flush().await;
                    None
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
                    None
                }
                Some(Err(error)) => return Err(error.into()),
            };
            if let Some(inbound) = inbound {
                return Ok(inbound);
            }
        }
    }

    /// A text frame: Phoenix or GraphQL depending on the mode and its shape.
    /// GraphQL pings are answered here.
    async fn on_text(&mut self, text: &str) -> Result<Option<Inbound>, ClientError> {
        let is_graphql = match self.mode {
            Mode::Phoenix => false,
            Mode::Graphql => true,
            Mode::Mux => text
                .trim_start_matches([' ', '\t', '\n', '\r'])
                .starts_with('{'),
        };
        if !is_graphql {
            return Ok(Some(Inbound::Phoenix(decode_text(text)?)));
        }
        Ok(match graphql::parse(text)? {
            ServerMessage::Ack => Some(Inbound::Ack),
            ServerMessage::Ping(payload) => {
                let pong = graphql::pong(payload);
                self.sink.send(WsMessage::text(pong.to_string())).await?;
                None
            }
            ServerMessage::Pong => None,
            ServerMessage::Event(event) => Some(Inbound::Graphql(event)),
        })
    }

    /// A binary frame: Phoenix, or on a mux socket an envelope when it starts
    /// with a MessagePack map or array marker.
    async fn on_binary(&mut self, data: &[u8]) -> Result<Option<Inbound>, ClientError> {
        match self.mode {
            Mode::Graphql => Err(ClientError::GraphqlFrame(
                "binary frame on a graphql-transport-ws socket".into(),
            )),
            Mode::Mux
                if data
                    .first()
                    .is_some_and(|&b| envelope::is_envelope_start(b)) =>
            {
                self.on_envelope(Envelope::decode(data)?).await
            }
            Mode::Phoenix | Mode::Mux => Ok(Some(Inbound::Phoenix(decode_server_binary(data)?))),
        }
    }

    /// An envelope: pings are answered, a `gql` close ends the GraphQL
    /// sub-session, closes of other sub-sessions are not this client's.
    async fn on_envelope(&mut self, received: Envelope) -> Result<Option<Inbound>, ClientError> {
        match received {
            Envelope::Ping { id } => {
                let pong = Envelope::Pong { id }.encode();
                self.sink.send(WsMessage::binary(pong)).await?;
                Ok(None)
            }
            Envelope::Pong { id } => Ok(Some(Inbound::Pong(id))),
            Envelope::Close { sub, code, reason } if sub == envelope::GRAPHQL_SUB => {
                self.graphql_ended = Some((code, reason.clone()));
                Ok(Some(Inbound::GraphqlEnded { code, reason }))
            }
            Envelope::Close { .. } => Ok(None),
        }
    }

    /// Closes with 1000 and waits briefly for the server's answering close.
    pub(super) async fn close(mut self) -> Result<(), ClientError> {
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
}

/// [`ClientError::Closed`] for a remembered `(code, reason)`.
pub(super) fn closed_error((code, reason): &(u16, String)) -> ClientError {
    ClientError::Closed {
        code: *code,
        reason: reason.clone(),
    }
}

/// `{}`, the empty payload of Phoenix control messages.
pub(super) fn empty_object() -> Value {
    Value::Object(Default::default())
}
