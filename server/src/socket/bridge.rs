//! Turns domain events from the bus into topic publications and live-auth actions. This is
//! the only place contexts' events reach the hub.
//!
//! Publications on topics that storage does not back go through [`Hub::publish_logged`]: with
//! several nodes every node's bridge sees each event, but only the node where it happened
//! appends it to the shared log, from which every node delivers it once.
//!
//! Each event is decoded by its name into the payload struct its context declares (its
//! `events.rs`). An event the bridge does not know, or whose `data` does not decode, is logged
//! (warn) and delivered to nobody; events known not to concern sockets are listed by name, so
//! a new or misspelt name shows up in the log instead of silently going nowhere.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use taina_protocol::close;
use tokio::sync::broadcast::error::RecvError;

use super::topic::{community, conversation, device, files, home, system, user};
use crate::contexts::auth::events as auth;
use crate::contexts::automation::events as automation;
use crate::contexts::chat as chat_context;
use crate::contexts::chat::events as chat;
use crate::contexts::chat::{Activity, Conversation, Message};
use crate::contexts::files::events as file_events;
use crate::contexts::files::Change;
use crate::contexts::media::events as media;
use crate::contexts::media::Photo;
use crate::contexts::monitoring::{AlertRaised, ALERT_RAISED};
use crate::contexts::streaming::events as streaming;
use crate::events::{Event, EventBus};
use crate::ids::UserId;
use crate::realtime::events::{USER_OFFLINE, USER_ONLINE};
use crate::realtime::{Hub, Logged, Position, Sequence, Topic, ALL_ALERTS_KEY};

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

/// Why an event of a known name was not delivered.
#[derive(Debug, thiserror::Error)]
enum Malformed {
    #[error("data does not decode: {0}")]
    Data(#[from] serde_json::Error),
    #[error("data is not a JSON object")]
    NotAnObject,
    #[error("no {0}")]
    Missing(&'static str),
}

/// What became of one event.
#[derive(Debug)]
enum Applied {
    /// Published, or acted on.
    Done,
    /// Known, and nothing a socket receives.
    NotForSockets,
    Unknown,
    Malformed(Malformed),
}

fn apply(hub: &Hub, event: &Event) {
    match route(hub, event) {
        Applied::Done | Applied::NotForSockets => {}
        Applied::Unknown => {
            tracing::warn!(event = %event.kind, "unknown event on the bus: delivered to no socket");
        }
        Applied::Malformed(error) => {
            tracing::warn!(event = %event.kind, %error, "malformed event: delivered to no socket");
        }
    }
}

fn route(hub: &Hub, event: &Event) -> Applied {
    let applied = match event.kind.as_str() {
        chat::MESSAGE_SENT => message_sent(hub, event),
        chat::MESSAGE_REACTED | chat::MESSAGE_EDITED | chat::MESSAGE_DELETED => {
            message_activity(hub, event)
        }
        chat::CONVERSATION_READ => conversation_read(hub, event),
        chat::MESSAGE_MENTIONED => to_user::<chat::Mention>(hub, event, user::MENTION),
        chat::CONVERSATION_CREATED => {
            to_participants(hub, event, user::CONVERSATION_CREATED, None)
        }
        chat::CONVERSATION_UPDATED => {
            to_participants(hub, event, user::CONVERSATION_UPDATED, None)
        }
        chat::PARTICIPANT_ADDED => to_participants(hub, event, user::PARTICIPANT_ADDED, event.user_id.clone()),
        media::PHOTO_UPLOADED => photo_uploaded(hub, event),
        file_events::FILE_CHANGED => file_changed(hub, event),
        auth::USER_SIGNED_OUT | auth::SESSION_REVOKED => session_ended(hub, event),
        auth::USER_SESSIONS_REVOKED => sessions_revoked(hub, event),
        auth::USER_ROLE_CHANGED => reauthorize::<auth::RoleChanged>(hub, event),
        chat::PARTICIPANT_REMOVED => participant_removed(hub, event),
        USER_ONLINE => presence(hub, event, community::USER_ONLINE),
        USER_OFFLINE => presence(hub, event, community::USER_OFFLINE),
        ALERT_RAISED => alert_raised(hub, event),
        streaming::WATCH_PROGRESS => watch_progress(hub, event),
        automation::ENTITY_STATE_CHANGED => state_changed(hub, event),
        automation::RULE_ALERT => rule_alert(hub, event),
        automation::DEVICE_COMMAND => device_command(hub, event),
        automation::DEVICE_TOKEN_REVOKED => device_token_revoked(hub, event),
        auth::USER_SIGNED_UP
        | auth::USER_SIGNED_IN
        | media::PHOTO_DELETED
        | media::ALBUM_CREATED
        | media::BACKUP_COMPLETED
        | streaming::LIBRARY_CHANGED
        // Automation re-checks the person's joins itself once its grants are in step.
        | automation::GRANTS_CHANGED
        | automation::RULES_CHANGED
        | automation::SETTINGS_CHANGED
        | crate::contexts::monitoring::health::BUS_PROBE => return Applied::NotForSockets,
        // Account changes: their sockets end through the session events.
        kind if auth::NOT_FOR_SOCKETS.contains(&kind) => return Applied::NotForSockets,
        // The security log's entries, for rules; admins read the log itself.
        kind if kind.starts_with(crate::contexts::monitoring::SECURITY_PREFIX) => {
            return Applied::NotForSockets
        }
        _ => return Applied::Unknown,
    };
    match applied {
        Ok(()) => Applied::Done,
        Err(error) => Applied::Malformed(error),
    }
}

fn to_map(payload: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The event's `data`, as the payload of a publication.
fn object(event: &Event) -> Result<Map<String, Value>, Malformed> {
    event
        .data
        .as_object()
        .cloned()
        .ok_or(Malformed::NotAnObject)
}

fn user_id(event: &Event) -> Result<&UserId, Malformed> {
    event.user_id.as_ref().ok_or(Malformed::Missing("user_id"))
}

/// A stored message, to its conversation, at the position storage gave it.
fn message_sent(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let message: Message = event.data_as()?;
    hub.publish(
        &Topic::conversation(&message.conversation_id),
        conversation::NEW_MSG,
        object(event)?,
        Sequence::At(Position {
            epoch: message.epoch,
            offset: message.offset,
        }),
    );
    Ok(())
}

/// A reaction, edit or delete, to its conversation at the position storage gave it.
fn message_activity(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let activity: Activity = event.data_as()?;
    let event_name = match activity.event.as_str() {
        chat_context::REACTION => chat_context::REACTION,
        chat_context::MESSAGE_EDITED => chat_context::MESSAGE_EDITED,
        chat_context::MESSAGE_DELETED => chat_context::MESSAGE_DELETED,
        _ => return Err(Malformed::Missing("a known activity event")),
    };
    hub.publish(
        &Topic::conversation(&activity.conversation_id),
        event_name,
        object(event)?,
        Sequence::At(Position {
            epoch: activity.epoch,
            offset: activity.offset,
        }),
    );
    Ok(())
}

/// A read position, live to the conversation (not stored as an offset: the positions
/// themselves are, in `readStates`) and to the reader's devices on `user:`.
fn conversation_read(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let read: chat::Read = event.data_as()?;
    hub.broadcast_ephemeral(
        &Topic::conversation(&read.conversation_id),
        conversation::READ,
        &event.data,
        None,
    );
    let topic = Topic::user(&read.user_id);
    hub.publish_logged(
        Logged::new(&topic, &topic, user::READ, object(event)?),
        !event.from_other_node,
    );
    Ok(())
}

/// The event's data (a `T`), to the `user:` topic of its user.
fn to_user<T: serde::de::DeserializeOwned>(
    hub: &Hub,
    event: &Event,
    name: &str,
) -> Result<(), Malformed> {
    let _: T = event.data_as()?;
    let topic = Topic::user(user_id(event)?);
    hub.publish_logged(
        Logged::new(&topic, &topic, name, object(event)?),
        !event.from_other_node,
    );
    Ok(())
}

/// A conversation (the event's data), to the `user:` topic of each of its participants, with
/// `user_id` set to `subject` when given (who was added).
fn to_participants(
    hub: &Hub,
    event: &Event,
    name: &str,
    subject: Option<UserId>,
) -> Result<(), Malformed> {
    let conversation: Conversation = event.data_as()?;
    let mut payload = object(event)?;
    if let Some(subject) = &subject {
        payload.insert("user_id".into(), Value::from(subject.as_str()));
    }
    for participant in &conversation.participant_ids {
        let topic = Topic::user(participant);
        hub.publish_logged(
            Logged::new(&topic, &topic, name, payload.clone()),
            !event.from_other_node,
        );
    }
    Ok(())
}

/// The removed participant's joins are re-checked (so they leave the conversation's topic),
/// their devices hear it on `user:`, and the others on the conversation's topic.
fn participant_removed(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let removed: chat::ParticipantRemoved = event.data_as()?;
    let who = user_id(event)?;
    let mut payload = object(event)?;
    payload.insert("user_id".into(), Value::from(who.as_str()));
    hub.broadcast_ephemeral(
        &Topic::conversation(&removed.conversation_id),
        user::PARTICIPANT_REMOVED,
        &Value::Object(payload.clone()),
        None,
    );
    let topic = Topic::user(who);
    hub.publish_logged(
        Logged::new(&topic, &topic, user::PARTICIPANT_REMOVED, payload),
        !event.from_other_node,
    );
    hub.reauthorize_user(who);
    Ok(())
}

/// A files journal row, to its space's feed at the position the journal gave it.
fn file_changed(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let change: Change = event.data_as()?;
    hub.publish(
        &Topic::files(&change.space_id),
        files::FILE_CHANGED,
        object(event)?,
        Sequence::At(Position {
            epoch: change.epoch,
            offset: change.cursor,
        }),
    );
    Ok(())
}

/// A processed photo, to its owner's `user:` topic.
fn photo_uploaded(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let _: Photo = event.data_as()?;
    let topic = Topic::user(user_id(event)?);
    hub.publish_logged(
        Logged::new(&topic, &topic, user::PHOTO_UPLOADED, object(event)?),
        !event.from_other_node,
    );
    Ok(())
}

/// A user's new position in an item, to all their devices' `user:` topic (with an offset, so
/// a device that was off recovers it).
fn watch_progress(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let _: streaming::WatchProgress = event.data_as()?;
    let topic = Topic::user(user_id(event)?);
    hub.publish_logged(
        Logged::new(&topic, &topic, user::WATCH_PROGRESS, object(event)?),
        !event.from_other_node,
    );
    Ok(())
}

/// An entity's new state, to its community's `home:` topic (with an offset): to those who see
/// every entity, and to the own audience of each person with hidden entities who may see it.
fn state_changed(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let changed: automation::StateChanged = event.data_as()?;
    let community = event
        .community_id
        .as_ref()
        .ok_or(Malformed::Missing("community_id"))?;
    let topic = Topic::home(community);
    let mut payload = object(event)?;
    for field in automation::AUDIENCE_FIELDS {
        payload.remove(field);
    }
    for viewer in &changed.viewers {
        let key = Topic::home_of(community, viewer);
        hub.publish_logged(
            Logged::new(&key, &topic, home::STATE_CHANGED, payload.clone()),
            !event.from_other_node,
        );
    }
    hub.publish_logged(
        Logged::new(&topic, &topic, home::STATE_CHANGED, payload),
        !event.from_other_node,
    );
    Ok(())
}

/// A rule's alert, to its community's `system:alerts` as `alert` `{level, message, rule_id,
/// rule, from: "rule", scope: "community"}`.
fn rule_alert(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let _: automation::RuleAlert = event.data_as()?;
    let community = event
        .community_id
        .as_ref()
        .ok_or(Malformed::Missing("community_id"))?;
    let mut payload = object(event)?;
    payload.insert("from".into(), Value::from("rule"));
    payload.insert("scope".into(), Value::from("community"));
    hub.publish_logged(
        Logged::new(
            &Topic::alerts_key(community),
            Topic::SYSTEM_ALERTS,
            system::ALERT,
            payload,
        ),
        !event.from_other_node,
    );
    Ok(())
}

/// A command for a device agent, to its `device:` topic on whichever node it is connected to
/// (every node's bridge sees the event; not kept for a reconnect).
fn device_command(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let command: automation::DeviceCommand = event.data_as()?;
    hub.broadcast_ephemeral(
        &Topic::device(&command.device_id),
        device::COMMAND,
        &command.command,
        None,
    );
    Ok(())
}

/// A revoked device token: the agent's sockets end.
fn device_token_revoked(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let revoked: automation::DeviceTokenRevoked = event.data_as()?;
    hub.end_session(
        &revoked.session_id,
        close::SESSION_ENDED,
        "device token revoked",
    );
    Ok(())
}

/// A signed-out or revoked session: its sockets end.
fn session_ended(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let ended: auth::SessionChanged = event.data_as()?;
    hub.end_session(
        &ended.session_id,
        close::SESSION_ENDED,
        "session ended: signed out or revoked",
    );
    Ok(())
}

fn sessions_revoked(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let _: auth::SessionsRevoked = event.data_as()?;
    hub.end_user(
        user_id(event)?,
        close::SESSION_ENDED,
        "session ended: revoked",
    );
    Ok(())
}

/// The user's rights changed (`T` is the event's payload): their sockets re-check their joins.
fn reauthorize<T: serde::de::DeserializeOwned>(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let _: T = event.data_as()?;
    hub.reauthorize_user(user_id(event)?);
    Ok(())
}

/// `user.online` / `user.offline` (no data), to the user's `community:` topic.
fn presence(hub: &Hub, event: &Event, name: &str) -> Result<(), Malformed> {
    let user = user_id(event)?;
    let community_id = event
        .community_id
        .as_ref()
        .ok_or(Malformed::Missing("community_id"))?;
    let payload = community::UserPresence {
        user_id: user.clone(),
    };
    let topic = Topic::community(community_id);
    hub.publish_logged(
        Logged::new(&topic, &topic, name, to_map(&payload)),
        !event.from_other_node,
    );
    Ok(())
}

/// Instance-wide: from the server or the operator, to every community listening. Every
/// node's alert relay announces each stored alert, so the log keeps one per alert id.
fn alert_raised(hub: &Hub, event: &Event) -> Result<(), Malformed> {
    let alert: AlertRaised = event.data_as()?;
    let mut entry = Logged::new(
        ALL_ALERTS_KEY,
        Topic::SYSTEM_ALERTS,
        system::ALERT,
        object(event)?,
    );
    entry.once = Some(format!("alert-{}", alert.alert_id));
    hub.publish_logged(entry, !event.from_other_node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RealtimeConfig;
    use crate::contexts::auth::{Principal, Role};
    use crate::contexts::chat::events::ChatEvent;
    use crate::events::MemoryBus;
    use crate::ids::CommunityId;
    use crate::realtime::{Frame, Next, Registration};
    use serde_json::json;

    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new(
            RealtimeConfig::default(),
            Arc::new(MemoryBus::new(64)),
        ))
    }

    fn subscribed(hub: &Arc<Hub>, topic: &str) -> Registration {
        let (registration, _) = hub
            .register(&"u1".into(), &"c1".into(), &"s1".into(), None)
            .unwrap();
        hub.subscribe(topic, &registration.conn, "1", None, None)
            .subscriber
            .go_live(None);
        registration
    }

    fn principal() -> Principal {
        Principal {
            user_id: "u1".into(),
            community_id: "c1".into(),
            role: Role::Member,
            session_id: "s1".into(),
            email: "u1@example.org".into(),
            expires_at: chrono::Utc::now(),
        }
    }

    fn message() -> Message {
        Message {
            id: "m1".into(),
            conversation_id: "x".into(),
            sender_id: "u1".into(),
            body: "olá".into(),
            client_id: None,
            inserted_at: chrono::Utc::now(),
            epoch: "e1".into(),
            offset: 7,
            message_type: "text".into(),
            metadata: None,
            reply_to: None,
            thread_root: None,
            edited_at: None,
            deleted_at: None,
        }
    }

    #[tokio::test]
    async fn a_typed_event_is_published_where_its_context_says() {
        let hub = hub();
        let listener = subscribed(&hub, &Topic::conversation(&"x".into()));
        let event = ChatEvent::message_sent(&principal(), &"c1".into(), &message());
        assert!(matches!(route(&hub, &event), Applied::Done));
        match listener.conn.outbox.next().await {
            Next::Send(Frame::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(frame[2], "conversation:x");
                assert_eq!(frame[3], "new_msg");
                assert_eq!(frame[4]["body"], "olá");
                assert_eq!(
                    (&frame[4]["epoch"], &frame[4]["offset"]),
                    (&json!("e1"), &json!(7))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_and_malformed_events_are_reported_and_delivered_nowhere() {
        let hub = hub();
        let listener = subscribed(&hub, &Topic::conversation(&"x".into()));
        let (u1, c1) = (UserId::from("u1"), CommunityId::from("c1"));
        let misspelt = Event::typed("message.snet", Some(&u1), Some(&c1), &message());
        assert!(matches!(route(&hub, &misspelt), Applied::Unknown));
        // A message.sent without its position.
        let partial = Event::new(
            chat::MESSAGE_SENT,
            Some(&u1),
            Some(&c1),
            json!({ "conversation_id": "x", "body": "olá" }),
        );
        assert!(matches!(
            route(&hub, &partial),
            Applied::Malformed(Malformed::Data(_))
        ));
        let anonymous = Event::new(USER_ONLINE, None, Some(&c1), Value::Null);
        assert!(matches!(
            route(&hub, &anonymous),
            Applied::Malformed(Malformed::Missing("user_id"))
        ));
        assert_eq!(listener.conn.outbox.queued_bytes(), 0);
        let signed_in = Event::new(
            auth::USER_SIGNED_IN,
            Some(&u1),
            Some(&c1),
            json!({ "session_id": "s1" }),
        );
        assert!(matches!(route(&hub, &signed_in), Applied::NotForSockets));
    }
}
