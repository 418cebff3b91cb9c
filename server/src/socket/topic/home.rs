//! `home:{community_id}`: a community's smart home. Joined by its members, admins and guests;
//! the server publishes `state_changed` `{entity_id, kind, name, state, old_state, attributes,
//! unit, area, last_changed, last_updated}` for every new state of an entity, with offsets
//! (recovered after a reconnect like `user:`). Clients push `control` `{entity_id, action,
//! brightness?, value?, mode?}` (what `controlEntity` takes, actions in snake case) → `ok`
//! with the entity (`forbidden` without control access, `invalid_input`, `not_found`,
//! `device_unavailable`).
//!
//! Entities an admin hid from someone (`setEntityAccess … NONE`) never reach them: their join
//! lives under their own hub key ([`Topic::home_of`]), and when their grants change their
//! socket re-checks the join and sends `phx_error`, so the client rejoins with the new view.

use serde::Deserialize;
use taina_protocol::phoenix::Payload;

use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use crate::contexts::automation::{AutomationError, Command};
use crate::ids::CommunityId;
use crate::realtime::Topic;
use crate::state::AppState;

/// A new state of an entity.
pub const STATE_CHANGED: &str = "state_changed";

/// Someone from whom an admin hid some entities joins their own audience of the topic, which
/// the bridge publishes only what they may see.
pub fn authorize(
    state: &AppState,
    principal: &Principal,
    community_id: &CommunityId,
) -> Result<Authorized, JoinRefusal> {
    if *community_id != principal.community_id {
        return Err(JoinRefusal::Unauthorized);
    }
    let key = state
        .automation
        .is_restricted(principal)
        .then(|| Topic::home_of(community_id, &principal.user_id));
    Ok(Authorized::Subscription(Subscription {
        key,
        ..Subscription::default()
    }))
}

#[derive(Deserialize)]
struct Control {
    entity_id: String,
    action: String,
    #[serde(default, deserialize_with = "super::lenient")]
    brightness: Option<u8>,
    #[serde(default, deserialize_with = "super::lenient")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "super::lenient")]
    mode: Option<String>,
}

impl Control {
    fn command(&self) -> Result<Command, AutomationError> {
        Command::parse(&self.action, self.brightness, self.value, self.mode.clone())
    }
}

pub async fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    let control: Control = match (event, payload) {
        ("control", Payload::Json(value)) => match decode(value) {
            Ok(control) => control,
            Err(_) => return Reply::invalid("send entity_id and action"),
        },
        _ => return Reply::unknown_event(),
    };
    let command = match control.command() {
        Ok(command) => command,
        Err(e) => return Reply::failed(e),
    };
    match channel
        .state
        .automation
        .control(channel.principal, &control.entity_id, &command)
        .await
    {
        Ok(entity) => Reply::Ok(serde_json::to_value(entity).unwrap_or_default()),
        Err(e) => Reply::failed(e),
    }
}
