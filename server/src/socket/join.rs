//! Joining and leaving topics, and recovery: what a `phx_join` does between the topic's
//! authorisation (`topic::authorize`) and live publications.
//!
//! A join of a hub topic subscribes under the topic's hub key, answers `{epoch, offset}` (with
//! `since`: `recovered` and the missed publications, from memory, from the topic's stored
//! history, or with several nodes from the shared topic log), then goes live and, where the topic tracks presence, sends `presence_state` and
//! tracks the joiner (with the payload's `device`). A transfer join (`upload:`, `stream:`) is
//! answered by its topic module. A second join of a joined topic replaces the first, which
//! gets `phx_close`.

use serde::Deserialize;
use serde_json::{json, Value};
use taina_protocol::phoenix::{Message, Payload};

use super::phoenix::{text_frame, PhoenixSession};
use super::stream::StreamHandle;
use super::topic::{self, Authorized, Subscription, TopicKind, Transfer};
use crate::realtime::{Frame, Lane, Position};

/// One joined topic.
pub struct Joined {
    pub join_ref: String,
    pub kind: TopicKind,
    /// The hub key the join lives under.
    pub key: String,
    /// The running stream of a `stream:` join.
    pub stream: Option<StreamHandle>,
}

/// What every join payload may carry; `device` of another type counts as absent.
#[derive(Deserialize, Default)]
struct JoinParams {
    /// Where the client was: recover what it missed since.
    #[serde(default)]
    since: Option<Position>,
    #[serde(default, deserialize_with = "topic::lenient")]
    device: Option<String>,
}

/// A presence `device` is cut to this many characters.
const MAX_DEVICE_CHARS: usize = 64;

impl PhoenixSession {
    pub(super) async fn join(&mut self, message: Message) {
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
            self.refuse_join(&unmatched, "unmatched topic");
            return;
        };
        let payload = match &message.payload {
            Payload::Json(value) => value.clone(),
            _ => json!({}),
        };
        let Ok(params) = JoinParams::deserialize(&payload) else {
            self.refuse_join(&message, "invalid since");
            return;
        };
        if let Some(previous) = self.joined.remove(&topic) {
            // A second join replaces the first, which the client learns through phx_close.
            self.unsubscribe(&previous.key);
            self.push_close(&previous.join_ref, &topic);
        }
        if self.joined.len() >= self.state.config.realtime.max_channels_per_socket {
            self.refuse_join(&message, "too many channels joined");
            return;
        }
        let authorized = match topic::authorize(&self.state, &self.principal, &kind).await {
            Ok(authorized) => authorized,
            Err(refusal) => {
                self.refuse_join(&message, refusal.reason());
                return;
            }
        };
        let (stream, key) = match authorized {
            Authorized::Transfer(transfer) => {
                match self.open_transfer(transfer, &message, &payload).await {
                    Some(stream) => (stream, topic.clone()),
                    None => return,
                }
            }
            Authorized::Subscription(subscription) => {
                (None, self.subscribe(&message, subscription, params).await)
            }
        };
        self.joined.insert(
            topic,
            Joined {
                join_ref,
                kind,
                key,
                stream,
            },
        );
    }

    fn refuse_join(&self, message: &Message, reason: &str) {
        self.reply_on(Lane::Control, message, "error", json!({ "reason": reason }));
    }

    /// Answers a transfer join and starts what it serves; `None` when it was refused.
    async fn open_transfer(
        &self,
        transfer: Transfer,
        message: &Message,
        payload: &Value,
    ) -> Option<Option<StreamHandle>> {
        match transfer.open(&self.state, &self.principal, payload).await {
            Ok(opened) => {
                self.reply_on(Lane::Control, message, "ok", opened.reply);
                let join_ref = message.join_ref.as_deref().unwrap_or_default();
                Some(
                    opened
                        .stream
                        .map(|s| s.start(&self.state, &self.conn, join_ref, &message.topic)),
                )
            }
            Err(reason) => {
                self.refuse_join(message, reason);
                None
            }
        }
    }

    /// Subscribes to a hub topic: the reply, recovered publications, then live ones and
    /// presence. Returns the hub key joined.
    async fn subscribe(
        &self,
        message: &Message,
        subscription: Subscription,
        params: JoinParams,
    ) -> String {
        let topic = &message.topic;
        let join_ref = message.join_ref.as_deref().unwrap_or_default();
        let key = self.key_of(topic, subscription.key.clone());
        let subscribed = self.state.hub.subscribe(
            &key,
            &self.conn,
            join_ref,
            subscription.storage.as_ref(),
            params.since.as_ref(),
        );
        let position = subscribed.position.clone();
        let mut response = json!({ "epoch": position.epoch, "offset": position.offset });
        let mut missed: Vec<Frame> = Vec::new();
        let mut recovered = false;
        if let Some(since) = &params.since {
            (recovered, missed) = self
                .recover(
                    &key,
                    topic,
                    &subscription,
                    since,
                    &position,
                    subscribed.missed,
                )
                .await;
            response["recovered"] = json!(recovered);
        }
        self.reply_on(Lane::Control, message, "ok", response);
        for frame in missed {
            self.send(Lane::Realtime, frame);
        }
        subscribed
            .subscriber
            .go_live(recovered.then_some(position.offset));
        if subscription.presence {
            self.state
                .hub
                .send_presence_state(topic, &subscribed.subscriber);
            let device = params
                .device
                .map(|d| d.chars().take(MAX_DEVICE_CHARS).collect());
            self.state.hub.track_presence(topic, &self.conn, device);
        }
        key
    }

    /// The publications after `since`: from memory when it holds them all, else from the
    /// topic's stored history or the shared log; `(false, [])` when the gap cannot be served.
    async fn recover(
        &self,
        key: &str,
        topic: &str,
        subscription: &Subscription,
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
        let max = self.state.config.realtime.recovery_max_messages;
        if let Some(log) = self.state.hub.log().filter(|log| log.epoch() == now.epoch) {
            // Log offsets have gaps: the log says what lies between, not the count.
            return match log.read(key, since.offset, now.offset, max).await {
                Some(entries) => (
                    true,
                    entries
                        .into_iter()
                        .map(|(offset, mut entry)| {
                            entry.payload.insert("epoch".into(), json!(now.epoch));
                            entry.payload.insert("offset".into(), json!(offset));
                            text_frame(
                                None,
                                None,
                                topic,
                                &entry.event,
                                &Value::Object(entry.payload),
                            )
                        })
                        .collect(),
                ),
                None => (false, Vec::new()),
            };
        }
        let gap = now.offset - since.offset;
        if gap > u64::from(max) {
            return (false, Vec::new());
        }
        match subscription
            .stored_between(&self.state, since.offset, now.offset, max)
            .await
        {
            Some(publications) if publications.len() as u64 == gap => (
                true,
                publications
                    .iter()
                    .map(|(event, payload)| text_frame(None, None, topic, event, payload))
                    .collect(),
            ),
            _ => (false, Vec::new()),
        }
    }

    pub(super) fn leave(&mut self, message: Message) {
        if let Some(joined) = self.joined.remove(&message.topic) {
            self.unsubscribe(&joined.key);
        }
        self.reply_on(Lane::Control, &message, "ok", json!({}));
        let join_ref = message.join_ref.clone().unwrap_or_default();
        self.push_close(&join_ref, &message.topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_malformed_since_refuses_a_join_payload() {
        let params = |payload: Value| JoinParams::deserialize(&payload);
        let ok = params(json!({ "since": null, "device": 5, "rendition": "thumb" })).unwrap();
        assert_eq!((ok.since, ok.device), (None, None));
        let since =
            params(json!({ "since": { "epoch": "e", "offset": 3 }, "device": "tv" })).unwrap();
        assert_eq!(since.since.map(|p| p.offset), Some(3));
        assert_eq!(since.device.as_deref(), Some("tv"));
        for bad in [
            json!({ "since": { "epoch": "e" } }),
            json!({ "since": "e" }),
        ] {
            assert!(params(bad).is_err());
        }
    }
}
