//! Typing indicators, pushed on `community:` and `conversation:` topics: relayed to the
//! topic's other subscribers as `typing` `{user_id, typing}`, not stored, at most one per
//! topic per socket every [`TYPING_INTERVAL`] (more get `rate_limited`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taina_protocol::phoenix::Payload;

use super::{Channel, Reply};
use crate::ids::UserId;

/// Typing indicators relayed per topic per socket, at most one per this interval.
const TYPING_INTERVAL: Duration = Duration::from_millis(500);

/// The event, both ways.
pub const TYPING: &str = "typing";

/// When this socket last relayed typing, per topic.
#[derive(Default)]
pub struct TypingThrottle {
    last: HashMap<String, Instant>,
}

/// What the client pushes; a binary push, or `typing` that is not a boolean, means typing.
#[derive(Deserialize, Default)]
struct Typing {
    #[serde(default, deserialize_with = "super::lenient")]
    typing: Option<bool>,
}

/// What the others receive.
#[derive(Serialize)]
struct Typed<'a> {
    user_id: &'a UserId,
    typing: bool,
}

pub fn relay(channel: Channel<'_>, payload: &Payload) -> Reply {
    let now = Instant::now();
    let recent = channel
        .typing
        .last
        .get(channel.topic)
        .is_some_and(|at| now.duration_since(*at) < TYPING_INTERVAL);
    if recent {
        return Reply::error("rate_limited");
    }
    channel.typing.last.insert(channel.topic.to_string(), now);
    let typing = match payload {
        Payload::Json(value) => super::decode::<Typing>(value).unwrap_or_default(),
        _ => Typing::default(),
    };
    let typed = Typed {
        user_id: &channel.principal.user_id,
        typing: typing.typing.unwrap_or(true),
    };
    channel.state.hub.broadcast_ephemeral_everywhere(
        channel.topic,
        TYPING,
        &serde_json::to_value(typed).unwrap_or_default(),
        Some(channel.conn.id),
    );
    Reply::ok()
}
