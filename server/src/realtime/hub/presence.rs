//! The hub's presence: tracking this node's devices on a topic, telling this node's
//! subscribers (a joining device's `presence_state`, coalesced `presence_diff`s, and on a
//! summarized topic `presence_summary` counts instead), and switching a topic between listed
//! and summarized as its devices cross `realtime.presence_list_limit`
//! (`super::super::presence_summary`). Everything sent to this node's subscribers about a
//! topic's presence is sent under that topic's summary lock, so a switch never overtakes a
//! diff or a state, nor the other way round.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use taina_protocol::phoenix::{self, event};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{Conn, Hub, Subscriber, NO_PRESENCE_STATE_YET};
use crate::realtime::outbox::{Frame, Lane};
use crate::realtime::presence::{Meta, Presences};
use crate::realtime::presence_summary::{should_summarize, PresenceCount, Summary};
use crate::realtime::relay::Relayed;

impl Hub {
    /// Adds the connection to the topic's presence and broadcasts the diff (after the
    /// topic's window, with the other changes of that window).
    pub fn track_presence(self: &Arc<Self>, topic: &str, conn: &Conn, device: Option<String>) {
        let meta = Meta {
            phx_ref: rand::random(),
            conn_id: conn.id,
            online_at: chrono::Utc::now().timestamp(),
            device,
        };
        self.presences.track(topic, &conn.user_id, meta.clone());
        if self.presence_window().is_zero() {
            let diff = Presences::diff(Some((&conn.user_id, &meta)), None);
            self.send_presence_diff(topic, diff);
        } else if self.presence_batches.join(topic, &conn.user_id, meta) {
            self.after(self.presence_window(), topic, Hub::flush_presence);
        }
        self.presence_changed(topic);
    }

    /// Takes the connection out of the topic's presence, if it was there.
    pub(super) fn untrack_presence(self: &Arc<Self>, topic: &str, conn: &Conn) {
        let Some(meta) = self.presences.untrack(topic, &conn.user_id, conn.id) else {
            return;
        };
        if self.presence_window().is_zero() {
            let diff = Presences::diff(None, Some((&conn.user_id, &meta)));
            self.send_presence_diff(topic, diff);
        } else if self.presence_batches.leave(topic, &conn.user_id, meta) {
            self.after(self.presence_window(), topic, Hub::flush_presence);
        }
        self.presence_changed(topic);
    }

    /// A `presence_diff` another node sent, or the leaves of a node that died: to this node's
    /// subscribers while the topic is listed.
    pub(super) fn remote_presence_changed(self: &Arc<Self>, topic: &str, diff: &Value) {
        self.presence_summaries.with(topic, |summary| {
            if summary.is_none() {
                self.deliver_presence_diff(topic, diff, None);
            }
        });
        self.presence_changed(topic);
    }

    fn presence_window(&self) -> Duration {
        Duration::from_millis(self.config.presence_diff_window_ms)
    }

    /// Runs `then` on the topic after `delay`, unless the hub is gone by then (a coalesced
    /// diff's window, a summary's interval).
    fn after(self: &Arc<Self>, delay: Duration, topic: &str, then: fn(&Hub, &str)) {
        let (hub, topic) = (Arc::downgrade(self), topic.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(hub) = hub.upgrade() {
                then(&hub, &topic);
            }
        });
    }

    /// The topic's waiting changes as one `presence_diff`: to the local subscribers that
    /// do not have them all yet (while the topic is listed), and to the other nodes. Taken
    /// and sent under the topic's lock, so two windows' diffs never overtake each other.
    fn flush_presence(&self, topic: &str) {
        self.presence_summaries.with(topic, |summary| {
            let Some(ready) = self.presence_batches.take(topic) else {
                return;
            };
            if summary.is_none() {
                self.deliver_presence_diff(topic, &ready.diff, Some(ready.last_change));
            }
            if let Some(relay) = self.relay.get() {
                relay.forward(Relayed::PresenceDiff {
                    topic: topic.to_owned(),
                    diff: ready.diff,
                });
            }
        });
    }

    /// A change of this node's presence sent at once (no window): to local subscribers while
    /// the topic is listed, and to the other nodes.
    fn send_presence_diff(&self, topic: &str, diff: Value) {
        self.presence_summaries.with(topic, |summary| {
            if summary.is_none() {
                self.deliver_presence_diff(topic, &diff, None);
            }
            if let Some(relay) = self.relay.get() {
                relay.forward(Relayed::PresenceDiff {
                    topic: topic.to_owned(),
                    diff,
                });
            }
        });
    }

    /// A `presence_diff` to this node's subscribers that have had their `presence_state`
    /// (it holds what came before), and for a coalesced diff (numbered up to `last_change`)
    /// only to those whose state did not hold all of it.
    fn deliver_presence_diff(&self, topic: &str, diff: &Value, last_change: Option<u64>) {
        let Some(entry) = self.topics.get(topic) else {
            return;
        };
        let frame = presence_frame(topic, event::PRESENCE_DIFF, diff);
        let mut sent = 0;
        for subscriber in entry.subscribers.values() {
            let seen = subscriber.presence_seen.load(Ordering::Acquire);
            if seen != NO_PRESENCE_STATE_YET && last_change.is_none_or(|last| seen < last) {
                subscriber.deliver(None, &frame);
                sent += 1;
            }
        }
        self.stats.published(sent);
    }

    /// After a change of the topic's presence, here or on another node: switches the topic
    /// between listed and summarized when its devices crossed the limit, and has a summary
    /// sent after the interval while it is summarized.
    pub(super) fn presence_changed(self: &Arc<Self>, topic: &str) {
        let limit = self.config.presence_list_limit;
        if limit == 0 {
            return;
        }
        let summary_due = self.presence_summaries.with(topic, |summary| {
            // Counted under the lock: concurrent changes decide in the order they count.
            let devices = self.presences.devices(topic) + self.remote_presence.devices(topic);
            let summarized = summary.is_some();
            match (summarized, should_summarize(devices, limit, summarized)) {
                (false, false) => false,
                (false, true) => {
                    // Every device drops its list, then learns the counts.
                    self.broadcast_ephemeral(topic, event::PRESENCE_STATE, &json!({}), None);
                    let count = self.presence_count(topic);
                    self.broadcast_ephemeral(
                        topic,
                        event::PRESENCE_SUMMARY,
                        &summary_payload(count),
                        None,
                    );
                    *summary = Some(Summary {
                        due: false,
                        sent: Some(count),
                    });
                    false
                }
                (true, false) => {
                    *summary = None;
                    self.broadcast_presence_state(topic);
                    false
                }
                (true, true) => summary
                    .as_mut()
                    .is_some_and(|summary| !std::mem::replace(&mut summary.due, true)),
            }
        });
        if summary_due {
            let interval = Duration::from_millis(self.config.presence_summary_interval_ms);
            self.after(interval, topic, Hub::send_presence_summary);
        }
    }

    /// The summarized topic's counts to its subscribers here, unless they are what the last
    /// summary said.
    fn send_presence_summary(&self, topic: &str) {
        self.presence_summaries.with(topic, |summary| {
            let Some(summary) = summary else {
                return;
            };
            summary.due = false;
            let count = self.presence_count(topic);
            if summary.sent != Some(count) {
                summary.sent = Some(count);
                let payload = summary_payload(count);
                self.broadcast_ephemeral(topic, event::PRESENCE_SUMMARY, &payload, None);
            }
        });
    }

    /// A topic listed again: its whole presence to every subscriber here, encoded once.
    fn broadcast_presence_state(&self, topic: &str) {
        // Read first: every change numbered up to here is in the state below.
        let seen = self.presence_batches.current();
        let state = self.presence_state(topic);
        let Some(entry) = self.topics.get(topic) else {
            return;
        };
        let frame = presence_frame(topic, event::PRESENCE_STATE, &state);
        for subscriber in entry.subscribers.values() {
            subscriber.presence_seen.store(seen, Ordering::Release);
            subscriber.deliver(None, &frame);
        }
        self.stats.published(entry.subscribers.len());
    }

    /// Sends a joining subscriber its `presence_state` (with its join's `join_ref`): who is
    /// on the topic, or on a summarized topic nobody, followed by the last counts sent. The
    /// coalesced diffs of what the state holds will not be sent to it.
    pub fn send_presence_state(&self, topic: &str, subscriber: &Subscriber) {
        self.presence_summaries.with(topic, |summary| {
            // Read first: every change numbered up to here is in the state below.
            let seen = self.presence_batches.current();
            let state = match summary {
                Some(_) => json!({}),
                None => self.presence_state(topic),
            };
            subscriber.presence_seen.store(seen, Ordering::Release);
            let join_ref = Some(subscriber.join_ref.as_str());
            let frame = phoenix::encode_text(join_ref, None, topic, event::PRESENCE_STATE, &state);
            let sent = subscriber
                .conn
                .send(Lane::Realtime, Frame::Text(frame.into()));
            // The counts the others were last sent (counting afresh at every join would
            // cost the topic's size each time); its own join has a newer one follow.
            if let Some(count) = summary.as_ref().and_then(|summary| summary.sent) {
                if sent {
                    subscriber.conn.send(
                        Lane::Realtime,
                        presence_frame(topic, event::PRESENCE_SUMMARY, &summary_payload(count)),
                    );
                }
            }
        });
    }

    /// Who is on `topic`, on this node and (with a relay) on the others.
    pub fn presence_state(&self, topic: &str) -> Value {
        let mut state = self.presences.state(topic);
        if let Value::Object(map) = &mut state {
            self.remote_presence.merge_into(topic, map);
        }
        state
    }

    /// Devices and users on `topic` across nodes.
    pub fn presence_count(&self, topic: &str) -> PresenceCount {
        let mut users: HashSet<String> = self
            .presences
            .users(topic)
            .into_iter()
            .map(|user| user.into_string())
            .collect();
        let devices =
            self.presences.devices(topic) + self.remote_presence.count_into(topic, &mut users);
        PresenceCount {
            devices,
            users: users.len(),
        }
    }
}

fn summary_payload(count: PresenceCount) -> Value {
    json!({ "devices": count.devices, "users": count.users })
}

fn presence_frame(topic: &str, event: &str, payload: &Value) -> Frame {
    Frame::Text(Utf8Bytes::from(phoenix::encode_text(
        None, None, topic, event, payload,
    )))
}
