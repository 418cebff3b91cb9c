//! What the hub publishes on the bus: a user's first device connected ([`USER_ONLINE`]) or
//! their last one has been gone for the debounce ([`USER_OFFLINE`]). Both carry the user and
//! their community, and no `data` (`null`).

use serde_json::Value;

use crate::events::Event;
use crate::ids::{CommunityId, UserId};

pub const USER_ONLINE: &str = "user.online";
pub const USER_OFFLINE: &str = "user.offline";

/// Builds the hub's presence events.
pub struct UserPresence;

impl UserPresence {
    pub fn online(user_id: &UserId, community_id: &CommunityId) -> Event {
        Event::new(USER_ONLINE, Some(user_id), Some(community_id), Value::Null)
    }

    pub fn offline(user_id: &UserId, community_id: &CommunityId) -> Event {
        Event::new(USER_OFFLINE, Some(user_id), Some(community_id), Value::Null)
    }
}
