//! Turns domain events from the bus into topic publications and live-auth actions. This is
//! the only place contexts' events reach the hub.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use taina_protocol::close;
use tokio::sync::broadcast::error::RecvError;

use crate::contexts::monitoring::ALERT_RAISED;
use crate::events::{Event, EventBus};
use crate::realtime::{Hub, Position, Sequence, Topic};

/// Runs until the bus closes (the server state is dropped).
pub fn spawn_bridge(bus: &Arc<dyn EventBus>, hub: &Arc<Hub>) {
    let mut events = bus.subscribe();
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let Some(hub) = hub.upgrade() else { return };
                    apply(&hub, &event);
                }
                Err(RecvError::Lagged(missed)) => {
                    // Live subscribers miss these; conversation history still has them.
                    tracing::error!(missed, "realtime bridge fell behind the event bus");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

fn data_str<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.data.get(key).and_then(Value::as_str)
}

fn apply(hub: &Hub, event: &Event) {
    match event.kind.as_str() {
        "message.sent" => {
            let (Some(conversation), Some(epoch), Some(offset)) = (
                data_str(event, "conversation_id"),
                data_str(event, "epoch"),
                event.data.get("offset").and_then(Value::as_u64),
            ) else {
                tracing::error!(?event, "message.sent without a position");
                return;
            };
            let payload = event.data.as_object().cloned().unwrap_or_default();
            hub.publish(
                &Topic::conversation(conversation),
                "new_msg",
                payload,
                Sequence::At(Position {
                    epoch: epoch.to_string(),
                    offset,
                }),
            );
        }
        "photo.uploaded" => {
            if let Some(user) = &event.user_id {
                let payload = event.data.as_object().cloned().unwrap_or_default();
                hub.publish(
                    &Topic::user(user),
                    "photo_uploaded",
                    payload,
                    Sequence::Next,
                );
            }
        }
        "user.signed_out" | "session.revoked" => {
            if let Some(session) = data_str(event, "session_id") {
                hub.end_session(
                    session,
                    close::SESSION_ENDED,
                    "session ended: signed out or revoked",
                );
            }
        }
        "user.sessions_revoked" => {
            if let Some(user) = &event.user_id {
                hub.end_user(user, close::SESSION_ENDED, "session ended: revoked");
            }
        }
        "user.role_changed" | "conversation.participant_removed" => {
            if let Some(user) = &event.user_id {
                hub.reauthorize_user(user);
            }
        }
        "user.online" | "user.offline" => {
            if let (Some(user), Some(community)) = (&event.user_id, &event.community_id) {
                let mut payload = Map::new();
                payload.insert("user_id".into(), json!(user));
                let name = if event.kind == "user.online" {
                    "user_online"
                } else {
                    "user_offline"
                };
                hub.publish(&Topic::community(community), name, payload, Sequence::Next);
            }
        }
        ALERT_RAISED => {
            // Instance-wide: from the server or the operator, to every community listening.
            let payload = event.data.as_object().cloned().unwrap_or_default();
            for key in Topic::all_alerts_keys(hub) {
                hub.publish_on(
                    &key,
                    Topic::SYSTEM_ALERTS,
                    "alert",
                    payload.clone(),
                    Sequence::Next,
                );
            }
        }
        _ => {}
    }
}
