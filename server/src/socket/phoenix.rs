//! The Phoenix Channels V2 side of a socket: joins, pushes, replies, recovery, presence and
//! live auth for the topics in `channels`. The connection driver (`connection.rs`) feeds it
//! frames and commands; everything it sends goes through the connection's outbox.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, Utf8Bytes};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use taina_protocol::close;
use taina_protocol::phoenix::{self, event, DecodeError, Message, Payload};

use super::channels::{self, Authorized, TopicKind};
use super::joins::Joins;
use super::stream::StreamHandle;
use crate::contexts::auth::Principal;
use crate::contexts::chat::NewMessage;
use crate::contexts::media::{MediaError, Rendition};
use crate::realtime::{BroadcastError, Conn, ConnCommand, Frame, Lane, Outbox, Position, Topic};
use crate::state::AppState;
use taina_protocol::chunk::Chunk;

/// Typing indicators relayed per topic per connection, at most one per this interval.
const TYPING_INTERVAL: Duration = Duration::from_millis(500);

struct Joined {
    join_ref: String,
    kind: TopicKind,
    /// The running stream of a `stream:` join.
    stream: Option<StreamHandle>,
}

pub struct PhoenixSession {
    state: AppState,
    conn: Arc<Conn>,
    principal: Principal,
    token: String,
    joined: Joins<Joined>,
    limiter: DefaultDirectRateLimiter,
    refused: u32,
    last_typing: HashMap<String, Instant>,
    /// The size of the rendition a `stream:` join is about to serve (looked up before the
    /// synchronous part of the join).
    pending_size: Option<(String, Rendition, u64)>,
}

fn text_frame(
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
            last_typing: HashMap::new(),
            pending_size: None,
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

    fn send(&self, lane: Lane, frame: Frame) {
        self.conn.send(lane, frame);
    }

    fn reply_on(&self, lane: Lane, message: &Message, status: &str, response: Value) {
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

    fn push_close(&self, join_ref: &str, topic: &str) {
        self.send(
            Lane::Control,
            text_frame(
                Some(join_ref),
                Some(join_ref),
                topic,
                event::CLOSE,
                &json!({}),
            ),
        );
    }

    pub async fn handle(&mut self, frame: WsMessage) {
        let limits = &self.state.config.realtime;
        let message = match frame {
            WsMessage::Text(text) => {
                if text.len() > limits.max_text_frame_bytes {
                    self.conn
                        .outbox
                        .close_now(close::MESSAGE_TOO_BIG, "text frame larger than the limit");
                    return;
                }
                match phoenix::decode_text(&text) {
                    Ok(message) => message,
                    Err(DecodeError::PayloadNotObject) => {
                        self.refuse_non_object_payload(&text);
                        return;
                    }
                    Err(error) => {
                        self.conn
                            .outbox
                            .close_now(close::INVALID_FRAME, &format!("invalid frame: {error}"));
                        return;
                    }
                }
            }
            WsMessage::Binary(bytes) => {
                if bytes.len() > limits.max_binary_frame_bytes {
                    self.conn
                        .outbox
                        .close_now(close::MESSAGE_TOO_BIG, "binary frame larger than the limit");
                    return;
                }
                match phoenix::decode_client_binary(&bytes) {
                    Ok(message) => message,
                    Err(error) => {
                        self.conn.outbox.close_now(
                            close::INVALID_FRAME,
                            &format!("invalid binary frame: {error}"),
                        );
                        return;
                    }
                }
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Close(_) => return,
        };
        self.dispatch(message).await;
    }

    /// A well-formed frame whose payload is not an object still gets a reply to its ref.
    fn refuse_non_object_payload(&self, text: &str) {
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
                self.conn.outbox.close_now(
                    close::RATE_LIMITED,
                    "too many messages: rate limit exceeded persistently",
                );
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
                let kind = joined.kind.clone();
                self.channel_event(kind, message).await;
            }
        }
    }

    async fn join(&mut self, message: Message) {
        let topic = message.topic.clone();
        let join_ref = message
            .join_ref
            .clone()
            .or_else(|| message.msg_ref.clone())
            .unwrap_or_default();
        let message = Message {
            join_ref: Some(join_ref.clone()),
            ..message
        };
        let Some(kind) = TopicKind::parse(&topic) else {
            let unmatched = Message {
                join_ref: None,
                ..message
            };
            self.reply_on(
                Lane::Control,
                &unmatched,
                "error",
                json!({ "reason": "unmatched topic" }),
            );
            return;
        };
        let payload = match &message.payload {
            Payload::Json(value) => value.clone(),
            _ => json!({}),
        };
        let since = match payload.get("since") {
            None | Some(Value::Null) => None,
            Some(value) => match serde_json::from_value::<Position>(value.clone()) {
                Ok(position) => Some(position),
                Err(_) => {
                    self.reply_on(
                        Lane::Control,
                        &message,
                        "error",
                        json!({ "reason": "invalid since" }),
                    );
                    return;
                }
            },
        };
        if let Some(previous) = self.joined.remove(&topic) {
            // A second join replaces the first, which the client learns through phx_close.
            self.state
                .hub
                .unsubscribe(&channels::hub_key(&topic, &self.principal), &self.conn);
            self.push_close(&previous.join_ref, &topic);
        }
        if self.joined.len() >= self.state.config.realtime.max_channels_per_socket {
            self.reply_on(
                Lane::Control,
                &message,
                "error",
                json!({ "reason": "too many channels joined" }),
            );
            return;
        }
        let authorized = match channels::authorize(&self.state, &self.principal, &kind).await {
            Ok(authorized) => authorized,
            Err(refusal) => {
                self.reply_on(
                    Lane::Control,
                    &message,
                    "error",
                    json!({ "reason": refusal.reason() }),
                );
                return;
            }
        };
        if matches!(kind, TopicKind::Upload(_) | TopicKind::Stream(_)) {
            if let (TopicKind::Stream(_), Some(photo)) = (&kind, &authorized.photo) {
                // The size is looked up here, where awaiting is allowed.
                let rendition = payload
                    .get("rendition")
                    .and_then(Value::as_str)
                    .and_then(Rendition::parse)
                    .unwrap_or(Rendition::Original);
                self.pending_size = match self.state.media.size(photo, rendition).await {
                    Ok(size) => Some((photo.id.clone(), rendition, size)),
                    Err(_) => None,
                };
            }
            self.join_transfer(topic, join_ref, kind, authorized, &message, &payload);
            return;
        }
        let subscribed = self.state.hub.subscribe(
            &channels::hub_key(&topic, &self.principal),
            &self.conn,
            &join_ref,
            authorized.storage.as_ref(),
            since.as_ref(),
        );
        let position = subscribed.position.clone();
        let mut response = json!({ "epoch": position.epoch, "offset": position.offset });
        let mut missed: Vec<Frame> = Vec::new();
        let mut recovered = false;
        if let Some(since) = &since {
            (recovered, missed) = self
                .recover(&topic, &authorized, since, &position, subscribed.missed)
                .await;
            response["recovered"] = json!(recovered);
        }
        self.reply_on(Lane::Control, &message, "ok", response);
        for frame in missed {
            self.send(Lane::Realtime, frame);
        }
        subscribed
            .subscriber
            .go_live(recovered.then_some(position.offset));
        if channels::has_presence(&kind) {
            let state = self.state.hub.presence_state(&topic);
            self.send(
                Lane::Realtime,
                text_frame(Some(&join_ref), None, &topic, event::PRESENCE_STATE, &state),
            );
            let device = payload
                .get("device")
                .and_then(Value::as_str)
                .map(|d| d.chars().take(64).collect());
            self.state.hub.track_presence(&topic, &self.conn, device);
        }
        self.joined.insert(
            topic,
            Joined {
                join_ref,
                kind,
                stream: None,
            },
        );
    }

    /// Joins of `upload:` and `stream:` topics: no publications, just the transfer state.
    fn join_transfer(
        &mut self,
        topic: String,
        join_ref: String,
        kind: TopicKind,
        authorized: Authorized,
        message: &Message,
        payload: &Value,
    ) {
        let response = match (&kind, authorized.upload, authorized.photo) {
            (TopicKind::Upload(_), Some(upload), _) => json!({
                "offset": upload.received_bytes,
                "size": upload.size_bytes,
                "status": upload.status,
                "file_id": upload.file_id,
            }),
            (TopicKind::Stream(_), _, Some(photo)) => {
                let rendition = payload
                    .get("rendition")
                    .and_then(Value::as_str)
                    .map(|r| Rendition::parse(r).ok_or(()))
                    .unwrap_or(Ok(Rendition::Original));
                let Ok(rendition) = rendition else {
                    self.reply_on(
                        Lane::Control,
                        message,
                        "error",
                        json!({ "reason": "invalid rendition" }),
                    );
                    return;
                };
                let size = match &self.pending_size {
                    Some((id, r, size)) if *id == photo.id && *r == rendition => *size,
                    _ => {
                        self.reply_on(
                            Lane::Control,
                            message,
                            "error",
                            json!({ "reason": "not_found" }),
                        );
                        return;
                    }
                };
                let offset = payload
                    .get("offset")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(size);
                let credit = payload.get("credit").and_then(Value::as_u64).unwrap_or(0);
                let response = json!({
                    "size": size, "offset": offset, "mime_type": if rendition == Rendition::Original { photo.mime_type.clone() } else { "image/jpeg".to_string() },
                    "chunk_bytes": self.state.media.stream_chunk_bytes(),
                });
                self.reply_on(Lane::Control, message, "ok", response);
                let handle = super::stream::start(
                    self.state.media.clone(),
                    self.conn.clone(),
                    join_ref.clone(),
                    topic.clone(),
                    super::stream::StreamRequest {
                        photo,
                        rendition,
                        size,
                        offset,
                        credit,
                    },
                    self.state.config.realtime.outbox_bytes,
                );
                self.joined.insert(
                    topic,
                    Joined {
                        join_ref,
                        kind,
                        stream: Some(handle),
                    },
                );
                return;
            }
            _ => {
                self.reply_on(
                    Lane::Control,
                    message,
                    "error",
                    json!({ "reason": "unauthorized" }),
                );
                return;
            }
        };
        self.reply_on(Lane::Control, message, "ok", response);
        self.joined.insert(
            topic,
            Joined {
                join_ref,
                kind,
                stream: None,
            },
        );
    }

    /// The publications after `since`: from memory when it holds them all, from stored
    /// messages for conversations; `(false, [])` when the gap cannot be served.
    async fn recover(
        &self,
        topic: &str,
        authorized: &Authorized,
        since: &Position,
        now: &Position,
        from_memory: Option<Vec<(u64, Frame)>>,
    ) -> (bool, Vec<Frame>) {
        if since.epoch != now.epoch {
            return (false, Vec::new());
        }
        if since.offset >= now.offset {
            return (true, Vec::new());
        }
        if let Some(frames) = from_memory {
            return (true, frames.into_iter().map(|(_, frame)| frame).collect());
        }
        let Some(conversation) = &authorized.conversation else {
            return (false, Vec::new());
        };
        let gap = now.offset - since.offset;
        let max = self.state.config.realtime.recovery_max_messages;
        if gap > u64::from(max) {
            return (false, Vec::new());
        }
        match self
            .state
            .chat
            .messages_between(conversation, since.offset, now.offset, max)
            .await
        {
            Ok(messages) if messages.len() as u64 == gap => (
                true,
                messages
                    .iter()
                    .map(|m| {
                        text_frame(
                            None,
                            None,
                            topic,
                            "new_msg",
                            &serde_json::to_value(m).unwrap_or_default(),
                        )
                    })
                    .collect(),
            ),
            Ok(_) => (false, Vec::new()),
            Err(e) => {
                tracing::error!(error = %e, "recovery from storage failed");
                (false, Vec::new())
            }
        }
    }

    fn leave(&mut self, message: Message) {
        if self.joined.remove(&message.topic).is_some() {
            self.state.hub.unsubscribe(
                &channels::hub_key(&message.topic, &self.principal),
                &self.conn,
            );
        }
        self.reply_on(Lane::Control, &message, "ok", json!({}));
        let join_ref = message.join_ref.clone().unwrap_or_default();
        self.push_close(&join_ref, &message.topic);
    }

    async fn channel_event(&mut self, kind: TopicKind, message: Message) {
        let json_payload = match &message.payload {
            Payload::Json(value) => Some(value.clone()),
            _ => None,
        };
        match (&kind, message.event.as_str(), json_payload) {
            (TopicKind::Conversation(id), "new_msg", Some(payload)) => {
                let new_message: NewMessage = match serde_json::from_value(payload) {
                    Ok(m) => m,
                    Err(e) => {
                        self.reply(
                            &message,
                            "error",
                            json!({ "reason": "invalid_input", "message": e.to_string() }),
                        );
                        return;
                    }
                };
                match self
                    .state
                    .chat
                    .send_message(&self.principal, id, new_message)
                    .await
                {
                    Ok((stored, _)) => self.reply(
                        &message,
                        "ok",
                        serde_json::to_value(stored).unwrap_or_default(),
                    ),
                    Err(e) => {
                        let (_, code) = crate::error::chat_status_and_code(&e);
                        if code == "internal" {
                            tracing::error!(error = %e, "new_msg failed");
                        }
                        let text = if code == "internal" {
                            "an internal error occurred".to_string()
                        } else {
                            e.to_string()
                        };
                        self.reply(
                            &message,
                            "error",
                            json!({ "reason": code, "message": text }),
                        );
                    }
                }
            }
            (TopicKind::Conversation(_) | TopicKind::Community(_), "typing", payload) => {
                let now = Instant::now();
                let recent = self
                    .last_typing
                    .get(&message.topic)
                    .is_some_and(|at| now.duration_since(*at) < TYPING_INTERVAL);
                if recent {
                    self.reply_error(&message, "rate_limited");
                    return;
                }
                self.last_typing.insert(message.topic.clone(), now);
                let typing = payload
                    .as_ref()
                    .and_then(|p| p.get("typing"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                self.state.hub.broadcast_ephemeral(
                    &message.topic,
                    "typing",
                    &json!({ "user_id": self.principal.user_id, "typing": typing }),
                    Some(self.conn.id),
                );
                self.reply(&message, "ok", json!({}));
            }
            (TopicKind::Conversation(_), "binary", None) => {
                let Payload::Binary(data) = &message.payload else {
                    return;
                };
                match self
                    .state
                    .hub
                    .broadcast_binary(&message.topic, "binary", data)
                {
                    Ok(()) => self.reply(&message, "ok", json!({})),
                    Err(e @ BroadcastError::TooLarge { .. }) => self.reply(
                        &message,
                        "error",
                        json!({ "reason": "payload_too_large", "message": e.to_string() }),
                    ),
                    Err(e) => self.reply(
                        &message,
                        "error",
                        json!({ "reason": "invalid_input", "message": e.to_string() }),
                    ),
                }
            }
            (TopicKind::User(_), "echo", payload) => match (&message.payload, payload) {
                (Payload::Binary(data), _) => {
                    let join_ref = message.join_ref.as_deref();
                    match (
                        phoenix::encode_server_reply(
                            join_ref,
                            message.msg_ref.as_deref(),
                            &message.topic,
                            "ok",
                            data,
                        ),
                        phoenix::encode_server_push(join_ref, &message.topic, "echo", data),
                    ) {
                        (Ok(reply), Ok(push)) => {
                            self.send(Lane::Bulk, Frame::Binary(reply.into()));
                            self.send(Lane::Bulk, Frame::Binary(push.into()));
                        }
                        _ => self.reply_error(&message, "invalid_input"),
                    }
                }
                (_, Some(payload)) => self.reply(&message, "ok", payload),
                _ => self.reply_error(&message, "invalid_input"),
            },
            (TopicKind::User(_), "refresh_token", Some(payload)) => {
                self.refresh_token(&message, payload).await
            }
            (TopicKind::SystemAlerts, "alert", Some(payload)) => {
                if !channels::may_publish_alerts(&self.principal) {
                    self.reply_error(&message, "forbidden");
                    return;
                }
                let Value::Object(mut alert) = payload else {
                    self.reply(
                        &message,
                        "error",
                        json!({ "reason": "invalid_input", "message": "an alert is a JSON object" }),
                    );
                    return;
                };
                let size = serde_json::to_string(&alert).map_or(0, |text| text.len());
                let limit = self.state.hub.max_publication_bytes();
                if size > limit {
                    self.reply(
                        &message,
                        "error",
                        json!({ "reason": "payload_too_large", "message": format!("the alert is {size} bytes, over the limit of {limit}") }),
                    );
                    return;
                }
                // A community admin's alert reaches their community only, marked as such.
                alert.insert("from".into(), json!(self.principal.user_id));
                alert.insert("scope".into(), json!("community"));
                let position = self.state.hub.publish_on(
                    &Topic::alerts_key(&self.principal.community_id),
                    Topic::SYSTEM_ALERTS,
                    "alert",
                    alert,
                    crate::realtime::Sequence::Next,
                );
                self.reply(
                    &message,
                    "ok",
                    json!({ "epoch": position.epoch, "offset": position.offset }),
                );
            }
            (TopicKind::Upload(id), "chunk", None) => {
                let Payload::Binary(data) = &message.payload else {
                    return;
                };
                let chunk = match Chunk::decode(data) {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        self.reply(
                            &message,
                            "error",
                            json!({ "reason": "invalid_input", "message": e.to_string() }),
                        );
                        return;
                    }
                };
                match self
                    .state
                    .media
                    .write_chunk(&self.principal, id, chunk.offset, &chunk.data)
                    .await
                {
                    Ok(outcome) => {
                        let mut response = json!({ "next_offset": outcome.next_offset, "done": outcome.done.is_some() });
                        if let Some(photo) = outcome.done {
                            response["photo"] = serde_json::to_value(photo).unwrap_or_default();
                        }
                        self.reply(&message, "ok", response);
                    }
                    Err(MediaError::OffsetMismatch { expected }) => {
                        self.reply(
                            &message,
                            "error",
                            json!({ "reason": "offset_mismatch", "expected": expected }),
                        );
                    }
                    Err(e) => self.reply_media_error(&message, &e),
                }
            }
            (TopicKind::User(_), "create_upload", Some(payload)) => {
                let filename = payload
                    .get("filename")
                    .and_then(Value::as_str)
                    .unwrap_or("upload");
                let (Some(size), Some(sha256)) = (
                    payload.get("size").and_then(Value::as_u64),
                    payload.get("sha256").and_then(Value::as_str),
                ) else {
                    self.reply(
                        &message,
                        "error",
                        json!({ "reason": "invalid_input", "message": "send size and sha256" }),
                    );
                    return;
                };
                match self.state.media.create_upload(&self.principal, filename, size, sha256).await {
                    Ok(upload) => self.reply(
                        &message,
                        "ok",
                        json!({ "upload_id": upload.id, "topic": Topic::upload(&upload.id), "offset": 0, "expires_at": upload.expires_at }),
                    ),
                    Err(e) => self.reply_media_error(&message, &e),
                }
            }
            (
                TopicKind::Stream(_),
                event @ ("credit" | "seek" | "pause" | "resume"),
                Some(payload),
            ) => {
                let Some(stream) = self
                    .joined
                    .get(&message.topic)
                    .and_then(|j| j.stream.as_ref())
                else {
                    return;
                };
                let ok = match event {
                    "credit" => match payload.get("bytes").and_then(Value::as_u64) {
                        Some(bytes) => {
                            stream.grant(bytes);
                            true
                        }
                        None => false,
                    },
                    "seek" => payload
                        .get("offset")
                        .and_then(Value::as_u64)
                        .is_some_and(|o| stream.seek(o)),
                    "pause" => {
                        stream.set_paused(true);
                        true
                    }
                    _ => {
                        stream.set_paused(false);
                        true
                    }
                };
                if ok {
                    let position = stream.position();
                    self.reply(&message, "ok", json!({ "position": position }));
                } else {
                    self.reply_error(&message, "invalid_input");
                }
            }
            _ => self.reply_error(&message, "unknown event"),
        }
    }

    fn reply_media_error(&self, message: &Message, error: &MediaError) {
        let (_, code) = crate::error::media_status_and_code(error);
        let text = if code == "internal" {
            tracing::error!(error = %error, "media request failed");
            "an internal error occurred".to_string()
        } else {
            error.to_string()
        };
        self.reply(message, "error", json!({ "reason": code, "message": text }));
    }

    /// In-band token refresh: the socket moves to the new session and keeps its joins.
    async fn refresh_token(&mut self, message: &Message, payload: Value) {
        let Some(token) = payload.get("token").and_then(Value::as_str) else {
            self.reply_error(message, "invalid_input");
            return;
        };
        match self.state.auth.authenticate(token).await {
            Ok(principal) if principal.user_id == self.principal.user_id => {
                self.state
                    .hub
                    .move_session(&self.conn, &principal.session_id);
                let expires_at = principal.expires_at;
                self.principal = principal;
                self.token = token.to_string();
                self.reply(message, "ok", json!({ "expires_at": expires_at }));
            }
            Ok(_) => self.reply_error(message, "forbidden"),
            Err(e) => {
                let (_, code) = crate::error::auth_status_and_code(&e);
                self.reply_error(message, code);
            }
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
        let joined: Vec<(String, Joined)> = self.joined.drain().collect();
        for (topic, joined) in joined {
            self.state
                .hub
                .unsubscribe(&channels::hub_key(&topic, &self.principal), &self.conn);
            self.send(
                Lane::Control,
                text_frame(
                    Some(&joined.join_ref),
                    Some(&joined.join_ref),
                    &topic,
                    event::CLOSE,
                    &json!({}),
                ),
            );
        }
        self.conn.outbox.close_after_queued(code, reason);
    }

    /// Re-reads the principal (its role may have changed) and closes joins it may no longer hold.
    async fn reauthorize(&mut self) {
        match self.state.auth.authenticate(&self.token).await {
            Ok(principal) => self.principal = principal,
            Err(_) => {
                self.end(close::SESSION_ENDED, "session ended");
                return;
            }
        }
        let topics: Vec<(String, TopicKind)> = self
            .joined
            .iter()
            .map(|(t, j)| (t.clone(), j.kind.clone()))
            .collect();
        for (topic, kind) in topics {
            if channels::authorize(&self.state, &self.principal, &kind)
                .await
                .is_err()
            {
                if let Some(joined) = self.joined.remove(&topic) {
                    self.state
                        .hub
                        .unsubscribe(&channels::hub_key(&topic, &self.principal), &self.conn);
                    self.push_close(&joined.join_ref, &topic);
                }
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
