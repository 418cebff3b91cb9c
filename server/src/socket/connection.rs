//! One socket from upgrade to close: the reader loop (this task, which also completes the
//! upgrade), the writer task draining the outbox, and the protocol sides the mode calls
//! for. Timers live here: idle timeout, token expiry, the graphql-transport-ws init timeout
//! and keep-alive pings.
//!
//! In mux mode frames are routed by shape: text `[` → Phoenix, `{` → GraphQL; binary
//! `0x00`–`0x02` → Phoenix, a MessagePack map or array → an envelope. A GraphQL fatal error
//! ends only the GraphQL sub-session, announced with a `close` envelope.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use taina_protocol::close;
use taina_protocol::envelope::{self, Envelope};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use super::graphql_ws::{Authenticated, GraphqlSession};
use super::phoenix::{refuse_unauthenticated, PhoenixSession};
use super::upgrade::{Pending, WebSocket};
use super::{Refreshed, SocketLink};
use crate::contexts::auth::{ClientInfo, Principal};
use crate::metrics::{FrameCounters, Metrics, SocketMode};
use crate::realtime::{Commands, ConnCommand, Frame, Lane, Next, Outbox, Registration};
use crate::state::AppState;

/// graphql-transport-ws: `connection_init` must arrive within this long (close 4408).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the server pings acknowledged GraphQL sessions.
pub const KEEPALIVE: Duration = Duration::from_secs(25);
/// How long the writer gets to flush after the session ends.
const WRITER_GRACE: Duration = Duration::from_secs(5);
/// A deadline far enough away to mean "never" for a timer that is not armed.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Phoenix,
    Graphql,
    Mux,
}

impl Mode {
    fn metric(self) -> SocketMode {
        match self {
            Mode::Phoenix => SocketMode::Phoenix,
            Mode::Graphql => SocketMode::Graphql,
            Mode::Mux => SocketMode::Mux,
        }
    }
}

/// A socket that authenticated at the upgrade, already registered in the hub.
pub struct Attached {
    pub registration: Registration,
    pub commands: Commands,
    pub principal: Principal,
    pub token: String,
}

struct Link {
    registration: Option<Registration>,
    commands: Option<Commands>,
}

async fn next_command(commands: &mut Option<Commands>) -> Option<ConnCommand> {
    match commands {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn fire(timer: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => drop(interval.tick().await),
        None => std::future::pending().await,
    }
}

async fn next_refresh(refreshed: Option<&Refreshed>) -> (Principal, String) {
    match refreshed {
        Some(refreshed) => refreshed.next().await,
        None => std::future::pending().await,
    }
}

fn until(deadline: chrono::DateTime<chrono::Utc>) -> Instant {
    Instant::now()
        + (deadline - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
}

/// What a socket starts with, decided before the upgrade.
pub struct Start {
    pub state: AppState,
    pub config: WebSocketConfig,
    pub mode: Mode,
    pub attached: Option<Attached>,
    pub client: ClientInfo,
    pub address: Option<IpAddr>,
}

/// The socket's task: completes the upgrade, then serves the socket.
///
/// What lives in a task's state is what it holds across an `.await`, and the compiler keeps
/// some of it longer than it looks (`-Zprint-type-sizes`): an argument keeps its slot for the
/// task's whole life, so the arguments are small and the rest arrives boxed; the upgrade
/// awaits here, apart from the session loop, so its state does not sit beside the loop's;
/// and the sides are set up by a plain function ([`sides`]), whose locals stay out of it.
pub async fn run(socket: Pending, start: Box<Start>) {
    let Some(socket) = socket.open(start.config).await else {
        return;
    };
    let (sink, stream) = socket.split();
    serve(sink, stream, start).await;
}

/// A socket's protocol sides and links, set up from what the upgrade decided.
struct Sides {
    outbox: Arc<Outbox>,
    graphql: Option<Box<GraphqlSession>>,
    phoenix: Option<Box<PhoenixSession>>,
    link: Link,
    refreshed: Option<Arc<Refreshed>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn sides(state: &AppState, mode: Mode, attached: Option<Attached>, client: &ClientInfo) -> Sides {
    let outbox = match &attached {
        Some(attached) => attached.registration.conn.outbox.clone(),
        None => Arc::new(Outbox::new(state.config.realtime.outbox_bytes)),
    };
    // Boxed, like the handlers' futures in the loop: a Phoenix socket does not carry an empty
    // GraphQL session inline in its task, nor the reverse. A mux socket that authenticated at
    // the upgrade starts its GraphQL side with its first GraphQL frame (many never send one);
    // without a token, GraphQL's connection_init is how it authenticates, so it starts now.
    let graphql_now = mode == Mode::Graphql || (mode == Mode::Mux && attached.is_none());
    let mut graphql = graphql_now.then(|| {
        Box::new(GraphqlSession::new(
            state.clone(),
            outbox.clone(),
            client.clone(),
            attached.as_ref().map(|a| a.principal.clone()),
        ))
    });
    let mut sides = Sides {
        outbox,
        graphql: None,
        phoenix: None,
        link: Link {
            registration: None,
            commands: None,
        },
        // Only GraphQL operations (`refreshToken`) hand sessions over this way; created with
        // the first GraphQL session's link.
        refreshed: None,
        expires_at: None,
    };
    if let Some(attached) = attached {
        if let Some(graphql) = &mut graphql {
            graphql.set_link(link_for(
                state,
                &attached.registration.conn,
                &mut sides.refreshed,
            ));
        }
        if mode != Mode::Graphql {
            sides.phoenix = Some(Box::new(PhoenixSession::new(
                state.clone(),
                attached.registration.conn.clone(),
                attached.principal.clone(),
                attached.token,
            )));
        }
        sides.expires_at = Some(attached.principal.expires_at);
        sides.link.registration = Some(attached.registration);
        sides.link.commands = Some(attached.commands);
    }
    sides.graphql = graphql;
    sides
}

fn link_for(
    state: &AppState,
    conn: &Arc<crate::realtime::Conn>,
    refreshed: &mut Option<Arc<Refreshed>>,
) -> Arc<SocketLink> {
    Arc::new(SocketLink {
        hub: state.hub.clone(),
        conn: conn.clone(),
        refreshed: refreshed.get_or_insert_with(Default::default).clone(),
    })
}

async fn serve(
    sink: SplitSink<WebSocket, WsMessage>,
    mut stream: SplitStream<WebSocket>,
    start: Box<Start>,
) {
    // `*{ start }`: the box moves into a temporary, freed at the end of this statement (a
    // box only moved out of is freed when its variable ends, with the task).
    let Start {
        state,
        mode,
        attached,
        client,
        address,
        ..
    } = *{ start };
    let Sides {
        outbox,
        mut graphql,
        mut phoenix,
        mut link,
        mut refreshed,
        expires_at,
    } = sides(&state, mode, attached, &client);
    let _open = state.metrics.socket_opened(mode.metric());
    let counters = state.metrics.frame_counters(mode.metric());
    let mut writer = tokio::spawn(write_loop(
        outbox.clone(),
        sink,
        counters.clone(),
        state.metrics.clone(),
    ));
    let expiry = tokio::time::sleep(NEVER);
    tokio::pin!(expiry);
    if let Some(expires_at) = expires_at {
        expiry.as_mut().reset(until(expires_at));
    }

    let idle = Duration::from_secs(state.config.realtime.idle_timeout_seconds);
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // GraphQL's init timeout and keep-alive pings; a Phoenix-only socket carries neither.
    let mut init_timer = graphql
        .is_some()
        .then(|| Box::pin(tokio::time::sleep(INIT_TIMEOUT)));
    let mut keepalive = graphql
        .is_some()
        .then(|| tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE));
    let mut writer_finished = false;

    loop {
        tokio::select! {
            _ = &mut writer => {
                writer_finished = true;
                break;
            }
            Some(command) = next_command(&mut link.commands) => match (&mut phoenix, command) {
                (Some(phoenix), command) => Box::pin(phoenix.command(command)).await,
                (None, ConnCommand::End { code, reason }) => outbox.close_after_queued(code, &reason),
                (None, ConnCommand::Reauthorize) => {}
            },
            frame = stream.next() => {
                let message = match frame {
                    None | Some(Ok(WsMessage::Close(_))) => break,
                    Some(Err(error)) => match refused_frame(&error) {
                        // Answer with the code that names the violation, then let the read
                        // side see the close through.
                        Some((code, reason)) => {
                            outbox.close_now(code, reason);
                            continue;
                        }
                        None => break,
                    },
                    Some(Ok(message)) => message,
                };
                idle_timer.as_mut().reset(Instant::now() + idle);
                match &message {
                    WsMessage::Text(_) => counters.in_text.inc(),
                    WsMessage::Binary(_) => counters.in_binary.inc(),
                    _ => 0,
                };
                if outbox.is_closing()
                    || matches!(message, WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))
                {
                    continue;
                }
                let route = route(mode, &message);
                match route {
                    Route::Phoenix => match &mut phoenix {
                        Some(session) => {
                            let before = session.expires_at();
                            // Boxed: the handlers' large states would otherwise sit in every
                            // idle connection's task.
                            Box::pin(session.handle(message)).await;
                            if session.expires_at() != before {
                                expiry.as_mut().reset(until(session.expires_at()));
                                if let Some(graphql) = &mut graphql {
                                    graphql.set_principal(session.principal().clone());
                                }
                            }
                        }
                        None => refuse_unauthenticated(&outbox, &message),
                    },
                    Route::Graphql => {
                        let WsMessage::Text(text) = &message else { continue };
                        if graphql.is_none() {
                            // A mux socket's first GraphQL frame: its GraphQL side starts now,
                            // already authenticated by the upgrade.
                            let (Some(registration), Some(phoenix)) = (&link.registration, &phoenix) else { continue };
                            let mut session = Box::new(GraphqlSession::new(
                                state.clone(),
                                outbox.clone(),
                                client.clone(),
                                Some(phoenix.principal().clone()),
                            ));
                            session.set_link(link_for(&state, &registration.conn, &mut refreshed));
                            graphql = Some(session);
                            keepalive = Some(tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE));
                        }
                        let Some(session) = &mut graphql else { continue };
                        match Box::pin(session.on_text(text)).await {
                            Ok(None) => {}
                            Ok(Some(authenticated)) => {
                                init_timer = None;
                                if link.registration.is_none() {
                                    match attach(&state, &outbox, authenticated, address) {
                                        Ok((registration, commands, principal, token)) => {
                                            expiry.as_mut().reset(until(principal.expires_at));
                                            session.set_link(link_for(&state, &registration.conn, &mut refreshed));
                                            if mode == Mode::Mux {
                                                phoenix = Some(Box::new(PhoenixSession::new(
                                                    state.clone(),
                                                    registration.conn.clone(),
                                                    principal,
                                                    token,
                                                )));
                                            }
                                            link.registration = Some(registration);
                                            link.commands = Some(commands);
                                        }
                                        Err(reason) => outbox.close_now(close::TOO_MANY_CONNECTIONS, &reason),
                                    }
                                }
                            }
                            Err(fatal) => {
                                if mode == Mode::Mux && link.registration.is_some() {
                                    // Only the GraphQL sub-session ends; Phoenix carries on.
                                    session.reset();
                                    let notice = Envelope::Close {
                                        sub: envelope::GRAPHQL_SUB.to_string(),
                                        code: fatal.code,
                                        reason: fatal.reason,
                                    };
                                    send(&outbox, Lane::Control, Frame::Binary(notice.encode().into()));
                                } else {
                                    outbox.close_now(fatal.code, &fatal.reason);
                                }
                            }
                        }
                    }
                    Route::Envelope => {
                        let WsMessage::Binary(bytes) = &message else { continue };
                        match Envelope::decode(bytes) {
                            Ok(Envelope::Ping { id }) => {
                                send(&outbox, Lane::Control, Frame::Binary(Envelope::Pong { id }.encode().into()));
                            }
                            Ok(_) => {}
                            Err(e) => outbox.close_now(close::INVALID_FRAME, &format!("invalid envelope: {e}")),
                        }
                    }
                    Route::Invalid(reason) => outbox.close_now(close::INVALID_FRAME, reason),
                }
            }
            (principal, token) = next_refresh(refreshed.as_deref()) => {
                expiry.as_mut().reset(until(principal.expires_at));
                if let Some(graphql) = &mut graphql {
                    graphql.set_principal(principal.clone());
                }
                if let Some(phoenix) = &mut phoenix {
                    phoenix.adopt(principal, token);
                }
            }
            () = &mut idle_timer => {
                outbox.close_now(close::IDLE_TIMEOUT, "no data from the client within the idle timeout");
                idle_timer.as_mut().reset(Instant::now() + NEVER);
            }
            () = fire(&mut init_timer) => {
                init_timer = None;
                let waiting = graphql.as_ref().is_some_and(|g| !g.is_acked());
                if waiting && link.registration.is_none() {
                    outbox.close_now(close::graphql::INIT_TIMEOUT, "Connection initialisation timeout");
                }
            }
            () = &mut expiry => {
                expiry.as_mut().reset(Instant::now() + NEVER);
                match &mut phoenix {
                    Some(session) => session.end(close::SESSION_ENDED, "session ended: token expired"),
                    None => outbox.close_after_queued(close::SESSION_ENDED, "session ended: token expired"),
                }
            }
            () = tick(&mut keepalive) => {
                if let Some(graphql) = &graphql {
                    graphql.ping();
                }
            }
        }
    }
    if !writer_finished {
        outbox.close_after_queued(close::NORMAL, "");
        if tokio::time::timeout(WRITER_GRACE, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
    drop(graphql);
    drop(phoenix);
    drop(link);
}

type AttachResult = Result<(Registration, Commands, Principal, String), String>;

/// Registers a socket that authenticated with `connection_init`.
fn attach(
    state: &AppState,
    outbox: &Arc<Outbox>,
    authenticated: Authenticated,
    address: Option<IpAddr>,
) -> AttachResult {
    let Authenticated { principal, token } = authenticated;
    state
        .hub
        .register_with_outbox(
            &principal.user_id,
            &principal.community_id,
            &principal.session_id,
            address,
            outbox.clone(),
        )
        .map(|(registration, commands)| (registration, commands, principal, token))
        .map_err(|refusal| refusal.to_string())
}

fn send(outbox: &Outbox, lane: Lane, frame: Frame) {
    if outbox.push(lane, frame).is_err() {
        outbox.close_now(close::SLOW_CONSUMER, "slow consumer: outbox full");
    }
}

enum Route {
    Phoenix,
    Graphql,
    Envelope,
    Invalid(&'static str),
}

fn route(mode: Mode, message: &WsMessage) -> Route {
    match (mode, message) {
        (Mode::Phoenix, _) => Route::Phoenix,
        (Mode::Graphql, WsMessage::Text(_)) => Route::Graphql,
        (Mode::Graphql, _) => Route::Invalid("graphql-transport-ws carries text frames only"),
        (Mode::Mux, WsMessage::Text(text)) => match text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .as_bytes()
            .first()
        {
            Some(b'[') => Route::Phoenix,
            Some(b'{') => Route::Graphql,
            _ => Route::Invalid("a text frame must be a JSON array (Phoenix) or object (GraphQL)"),
        },
        (Mode::Mux, WsMessage::Binary(bytes)) => match bytes.first() {
            Some(0x00..=0x02) => Route::Phoenix,
            Some(&byte) if envelope::is_envelope_start(byte) => Route::Envelope,
            _ => Route::Invalid(
                "a binary frame must be a Phoenix frame or a MessagePack map or array",
            ),
        },
        (Mode::Mux, _) => Route::Invalid("unexpected frame"),
    }
}

/// The close code and reason for a frame the WebSocket layer refused: 1009 over the size
/// limit, 1007 invalid UTF-8 in a text message, 1002 any other violation of RFC 6455
/// (unmasked or fragmented control frames, reserved bits, bad opcodes…). `None` for I/O
/// errors: the peer is gone and there is nobody to tell.
fn refused_frame(error: &WsError) -> Option<(u16, &'static str)> {
    match error {
        WsError::Capacity(_) => Some((close::MESSAGE_TOO_BIG, "frame larger than the limit")),
        WsError::Utf8(_) => Some((close::INVALID_PAYLOAD, "invalid UTF-8 in a text message")),
        WsError::Protocol(_) => Some((close::PROTOCOL_ERROR, "WebSocket protocol violation")),
        _ => None,
    }
}

/// Drains the outbox into the socket, flushing once per batch, until the close. Frames are
/// counted once per batch, the close by its code.
async fn write_loop(
    outbox: Arc<Outbox>,
    mut sink: SplitSink<WebSocket, WsMessage>,
    counters: FrameCounters,
    metrics: Arc<Metrics>,
) {
    loop {
        let first = match outbox.next().await {
            Next::Send(frame) => frame,
            Next::Close(closing) => {
                metrics.socket_closed(closing.code);
                let mut reason = closing.reason;
                // A close frame's reason is at most 123 bytes.
                while reason.len() > 123 {
                    reason.pop();
                }
                let _ = sink
                    .send(WsMessage::Close(Some(CloseFrame {
                        code: CloseCode::from(closing.code),
                        reason: Utf8Bytes::from(reason),
                    })))
                    .await;
                return;
            }
        };
        let (mut texts, mut binaries) = (0, 0);
        let mut frame = Some(first);
        while let Some(next) = frame {
            match &next {
                Frame::Text(_) => texts += 1,
                Frame::Binary(_) => binaries += 1,
            }
            if sink.feed(to_ws(next)).await.is_err() {
                outbox.close_now(close::NORMAL, "");
                return;
            }
            frame = outbox.try_next();
        }
        counters.out_text.inc_by(texts);
        counters.out_binary.inc_by(binaries);
        if sink.flush().await.is_err() {
            outbox.close_now(close::NORMAL, "");
            return;
        }
    }
}

fn to_ws(frame: Frame) -> WsMessage {
    match frame {
        Frame::Text(text) => WsMessage::Text(text),
        Frame::Binary(bytes) => WsMessage::Binary(bytes),
    }
}
