//! `community:{community_id}`: a community's members and admins (guests see presence where
//! they chat, on `conversation:` topics, not the whole community's). Presence is tracked; the
//! server publishes `user_online` / `user_offline` `{user_id}`. Clients push `typing`.

use serde::Serialize;
use taina_protocol::phoenix::Payload;

use super::typing::{self, TYPING};
use super::{Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::{Principal, Role};
use crate::ids::{CommunityId, UserId};

/// A user's first device connected.
pub const USER_ONLINE: &str = "user_online";
/// A user's last device has been gone for the debounce.
pub const USER_OFFLINE: &str = "user_offline";

/// What [`USER_ONLINE`] and [`USER_OFFLINE`] carry.
#[derive(Serialize)]
pub struct UserPresence {
    pub user_id: UserId,
}

pub fn authorize(
    principal: &Principal,
    community_id: &CommunityId,
) -> Result<Authorized, JoinRefusal> {
    if *community_id == principal.community_id && principal.role != Role::Guest {
        Ok(Authorized::Subscription(Subscription {
            presence: true,
            ..Subscription::default()
        }))
    } else {
        Err(JoinRefusal::Unauthorized)
    }
}

pub fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    match event {
        TYPING => typing::relay(channel, payload),
        _ => Reply::unknown_event(),
    }
}
