//! `device:{device_id}`: a device agent's own topic, joined only with that device's token
//! (`tdv_…`). The agent pushes `state`, as JSON or as a binary push of MessagePack (compact for
//! microcontrollers): `{entity, state, attributes?}` or `{states: [{entity, state,
//! attributes?}, …]}` (at most 64) → `ok` `{stored: n}` (`invalid_input` naming the problem,
//! nothing stored). When someone controls one of its entities, the server pushes `command`
//! `{entity, entity_id, action, brightness?, value?, mode?}` to it (not kept: a device that is
//! not connected misses it).

use taina_protocol::phoenix::Payload;

use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use crate::contexts::automation::agents::StatePush;
use crate::ids::DeviceId;

/// A command for the agent.
pub const COMMAND: &str = "command";
const STATE: &str = "state";

pub fn authorize(principal: &Principal, device_id: &DeviceId) -> Result<Authorized, JoinRefusal> {
    if principal.user_id.as_str() == device_id.as_str() {
        Ok(Authorized::Subscription(Subscription::default()))
    } else {
        Err(JoinRefusal::Unauthorized)
    }
}

pub async fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    let push: StatePush = match (event, payload) {
        (STATE, Payload::Json(value)) => match decode(value) {
            Ok(push) => push,
            Err(_) => {
                return Reply::invalid("send {entity, state, attributes?} or {states: [...]}")
            }
        },
        (STATE, Payload::Binary(bytes)) => match rmp_serde::from_slice(bytes) {
            Ok(push) => push,
            Err(e) => return Reply::invalid(format!("MessagePack state: {e}")),
        },
        _ => return Reply::unknown_event(),
    };
    match channel
        .state
        .automation
        .agent_states(channel.principal, push.into_states())
        .await
    {
        Ok(stored) => Reply::Ok(serde_json::json!({ "stored": stored })),
        Err(e) => Reply::failed(e),
    }
}
