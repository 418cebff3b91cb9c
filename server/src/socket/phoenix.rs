//! The Phoenix Channels V2 side of a socket: framing, the rate limit, dispatch, replies and
//! live auth (token refresh, re-authorisation, the end of a session). Joins and recovery are
//! in `join.rs`; what each topic accepts is in `topic/`, reached through its registry, so
//! nothing here names a context. The connection driver (`connection.rs`) feeds this frames
//! and commands; everything it sends goes through the connection's outbox.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use taina_protocol::close;
use taina_protocol::phoenix::{self, event, DecodeError, Message, Payload};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use super::join::Joined;
use super::joins::Joins;
use super::topic::{self, Authorized, Reply, TopicKind, TypingThrottle};
use crate::contexts::auth::Principal;
use crate::realtime::{Conn, ConnCommand, Frame, Lane, Outbox, Topic};
use crate::state::AppState;

pub struct PhoenixSession {
    pub(super) state: AppState,
    pub(super) conn: Arc<Conn>,
    /// Who holds the socket now (refreshed in-band, re-read on re-authorisation).
    pub(super) principal: Principal,
    /// The token of `principal`'s session, to re-authenticate with.
    token: String,
    pub(super) joined: Joins<Joined>,
    limiter: DefaultDirectRateLimiter,
    /// Messages refused by the rate limit; past `abuse_close_after` the socket is closed.
    refused: u32,
    typing: TypingThrottle,
}

pub(super) fn text_frame(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Value,
) -> Frame {
    Frame::Text(Utf8Bytes::from(phoenix::encode_text(
        join_ref, msg_ref, topic, event, payload,
    )))
}

impl PhoenixSession {
    pub fn new(state: AppState, conn: Arc<Conn>, principal: Principal, token: String) -> Self {
        let limits = &state.config.realtime;
        let quota = Quota::per_second(
            NonZeroU32::new(limits.messages_per_second).unwrap_or(NonZeroU32::MIN),
        )
        .allow_burst(NonZeroU32::new(limits.message_burst).unwrap_or(NonZeroU32::MIN));
        Self {
            state,
            conn,
            principal,
            token,
            joined: Joins::default(),
            limiter: RateLimiter::direct(quota),
            refused: 0,
            typing: TypingThrottle::default(),
        }
    }

    /// Adopts a session refreshed on the GraphQL side of a mux socket.
    pub fn adopt(&mut self, principal: Principal, token: String) {
        self.principal = principal;
        self.token = token;
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// When the current session (token) expires.
    pub fn expires_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.principal.expires_at
    }

    pub(super) fn send(&self, lane: Lane, frame: Frame) {
        self.conn.send(lane, frame);
    }

    pub(super) fn reply_on(&self, lane: Lane, message: &Message, status: &str, response: Value) {
        let payload = phoenix::reply_payload(status, response);
        self.send(
            lane,
            text_frame(
                message.join_ref.as_deref(),
                message.msg_ref.as_deref(),
                &message.topic,
                event::REPLY,
                &payload,
            ),
        );
    }

    fn reply(&self, message: &Message, status: &str, response: Value) {
        self.reply_on(Lane::Realtime, message, status, response);
    }

    fn reply_error(&self, message: &Message, reason: &str) {
        self.reply(message, "error", json!({ "reason": reason }));
    }

    pub(super) fn push_close(&self, join_ref: &str, topic: &str) {
        let close = text_frame(
            Some(join_ref),
            Some(join_ref),
            topic,
            event::CLOSE,
            &json!({}),
        );
        self.send(Lane::Control, close);
    }

    /// The hub key a join of `topic` lives under (`key`: the one its authorisation chose).
    pub(super) fn key_of(&self, topic: &str, key: Option<String>) -> String {
        key.unwrap_or_else(|| Topic::hub_key(topic, &self.principal.community_id).into_owned())
    }

    /// Tells the client a join failed on the server (`phx_error`): the stock client rejoins.
    pub(super) fn push_error(&self, join_ref: &str, topic: &str) {
        let error = text_frame(
            Some(join_ref),
            Some(join_ref),
            topic,
            event::ERROR,
            &json!({}),
        );
        self.send(Lane::Control, error);
    }

    fn close_now(&self, code: u16, reason: &str) {
        self.conn.outbox.close_now(code, reason);
    }

    pub async fn handle(&mut self, frame: WsMessage) {
        let limits = &self.state.config.realtime;
        let message = match frame {
            WsMessage::Text(text) => {
                if text.len() > limits.max_text_frame_bytes {
                    return self
                        .close_now(close::MESSAGE_TOO_BIG, "text frame larger than the limit");
                }
                match phoenix::decode_text(&text) {
                    Ok(message) => message,
                    Err(DecodeError::PayloadNotObject) => return self.refuse_non_object(&text),
                    Err(error) => {
                        return self
                            .close_now(close::INVALID_FRAME, &format!("invalid frame: {error}"));
                    }
                }
            }
            WsMessage::Binary(bytes) => {
                if bytes.len() > limits.max_binary_frame_bytes {
                    return self
                        .close_now(close::MESSAGE_TOO_BIG, "binary frame larger than the limit");
                }
                match phoenix::decode_client_binary(&bytes) {
                    Ok(message) => message,
                    Err(error) => {
                        let reason = format!("invalid binary frame: {error}");
                        return self.close_now(close::INVALID_FRAME, &reason);
                    }
                }
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Close(_) | WsMessage::Frame(_) => {
                return
            }
        };
        self.dispatch(message).await;
    }

    /// A well-formed frame whose payload is not an object still gets a reply to its ref.
    fn refuse_non_object(&self, text: &str) {
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let field = |i: usize| items.get(i).and_then(Value::as_str).map(str::to_string);
        let (Some(topic), Some(event)) = (field(2), field(3)) else {
            return;
        };
        let message = Message {
            join_ref: field(0),
            msg_ref: field(1),
            topic,
            event,
            payload: Payload::Json(json!({})),
        };
        self.reply_error(&message, "payload must be a JSON object");
    }

    async fn dispatch(&mut self, message: Message) {
        let is_heartbeat =
            message.topic == phoenix::PHOENIX_TOPIC && message.event == event::HEARTBEAT;
        if !is_heartbeat && self.limiter.check().is_err() {
            self.refused += 1;
            if self.refused > self.state.config.realtime.abuse_close_after {
                let reason = "too many messages: rate limit exceeded persistently";
                self.close_now(close::RATE_LIMITED, reason);
            } else if message.msg_ref.is_some() {
                self.reply_error(&message, "rate_limited");
            }
            return;
        }
        if message.topic == phoenix::PHOENIX_TOPIC {
            if is_heartbeat {
                self.reply_on(Lane::Control, &message, "ok", json!({}));
            } else {
                self.reply_error(&message, "unmatched topic");
            }
            return;
        }
        match message.event.as_str() {
            event::JOIN => self.join(message).await,
            event::LEAVE => self.leave(message),
            _ => {
                let Some(joined) = self.joined.get(&message.topic) else {
                    let unmatched = Message {
                        join_ref: None,
                        ..message
                    };
                    self.reply_error(&unmatched, "unmatched topic");
                    return;
                };
                if message.join_ref.as_deref() != Some(joined.join_ref.as_str()) {
                    // A frame from an earlier join of this topic: Phoenix ignores it too.
                    return;
                }
                let channel = topic::Channel {
                    state: &self.state,
                    conn: &self.conn,
                    principal: &self.principal,
                    topic: &message.topic,
                    typing: &mut self.typing,
                    stream: joined.stream.as_ref(),
                };
                let reply =
                    topic::handle(&joined.kind, channel, &message.event, &message.payload).await;
                self.answer(&message, reply).await;
            }
        }
    }

    /// Leaves a joined topic's hub key (`system:alerts` is kept per community, `home:` may be
    /// someone's own audience).
    pub(super) fn unsubscribe(&self, key: &str) {
        self.state.hub.unsubscribe(key, &self.conn);
    }

    /// Sends a topic handler's reply to `message`.
    async fn answer(&mut self, message: &Message, reply: Reply) {
        match reply {
            Reply::Ok(response) => self.reply(message, "ok", response),
            Reply::Error(response) => self.reply(message, "error", response),
            Reply::Binary { data, push } => {
                let join_ref = message.join_ref.as_deref();
                let (topic, msg_ref) = (&message.topic, message.msg_ref.as_deref());
                match (
                    phoenix::encode_server_reply(join_ref, msg_ref, topic, "ok", &data),
                    phoenix::encode_server_push(join_ref, topic, push, &data),
                ) {
                    (Ok(reply), Ok(push)) => {
                        self.send(Lane::Bulk, Frame::Binary(reply.into()));
                        self.send(Lane::Bulk, Frame::Binary(push.into()));
                    }
                    _ => self.reply_error(message, "invalid_input"),
                }
            }
            Reply::RefreshToken(token) => self.refresh_token(message, token).await,
            Reply::None => {}
        }
    }

    /// In-band token refresh: the socket moves to the new session and keeps its joins.
    async fn refresh_token(&mut self, message: &Message, token: String) {
        match self.state.auth.authenticate(&token).await {
            Ok(principal) if principal.user_id == self.principal.user_id => {
                self.state
                    .hub
                    .move_session(&self.conn, &principal.session_id);
                let expires_at = principal.expires_at;
                self.principal = principal;
                self.token = token;
                self.reply(message, "ok", json!({ "expires_at": expires_at }));
            }
            Ok(_) => self.reply_error(message, "forbidden"),
            Err(e) => self.reply_error(message, crate::error::AppError::from(e).code().as_str()),
        }
    }

    pub async fn command(&mut self, command: ConnCommand) {
        match command {
            ConnCommand::End { code, reason } => self.end(code, &reason),
            ConnCommand::Reauthorize => self.reauthorize().await,
        }
    }

    /// Closes every join with `phx_close`, then the socket with `code`.
    pub fn end(&mut self, code: u16, reason: &str) {
        for (topic, joined) in std::mem::take(&mut self.joined).drain() {
            self.unsubscribe(&joined.key);
            self.push_close(&joined.join_ref, &topic);
        }
        self.conn.outbox.close_after_queued(code, reason);
    }

    /// Re-reads the principal (its role may have changed) and closes joins it may no longer hold.
    async fn reauthorize(&mut self) {
        let again = if self.principal.role == crate::contexts::auth::Role::Device {
            self.state
                .automation
                .authenticate_device(&self.token)
                .await
                .map_err(crate::error::AppError::from)
        } else {
            self.state
                .auth
                .authenticate(&self.token)
                .await
                .map_err(crate::error::AppError::from)
        };
        match again {
            Ok(principal) => self.principal = principal,
            Err(_) => {
                self.end(close::SESSION_ENDED, "session ended");
                return;
            }
        }
        let topics: Vec<(String, TopicKind, String)> = self
            .joined
            .iter()
            .map(|(t, j)| (t.clone(), j.kind.clone(), j.key.clone()))
            .collect();
        for (topic, kind, key) in topics {
            match topic::authorize(&self.state, &self.principal, &kind).await {
                Err(_) => {
                    if let Some(joined) = self.joined.remove(&topic) {
                        self.unsubscribe(&joined.key);
                        self.push_close(&joined.join_ref, &topic);
                    }
                }
                // The join now belongs under another key (what it may see changed): the
                // client rejoins after `phx_error`, as after a server-side channel crash.
                Ok(Authorized::Subscription(s)) if self.key_of(&topic, s.key.clone()) != key => {
                    if let Some(joined) = self.joined.remove(&topic) {
                        self.unsubscribe(&joined.key);
                        self.push_error(&joined.join_ref, &topic);
                    }
                }
                Ok(_) => {}
            }
        }
    }
}

/// In a mux socket before anyone signed in: every Phoenix request is refused as unauthorized.
pub fn refuse_unauthenticated(outbox: &Outbox, frame: &WsMessage) {
    let message = match frame {
        WsMessage::Text(text) => phoenix::decode_text(text).ok(),
        WsMessage::Binary(bytes) => phoenix::decode_client_binary(bytes).ok(),
        _ => None,
    };
    let Some(message) = message else {
        outbox.close_now(close::INVALID_FRAME, "invalid frame");
        return;
    };
    let payload = phoenix::reply_payload("error", json!({ "reason": "unauthorized" }));
    let frame = text_frame(
        message.join_ref.as_deref(),
        message.msg_ref.as_deref(),
        &message.topic,
        event::REPLY,
        &payload,
    );
    if outbox.push(Lane::Control, frame).is_err() {
        outbox.close_now(close::SLOW_CONSUMER, "slow consumer: outbox full");
    }
}
