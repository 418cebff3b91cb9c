//! Topic names: the one place a topic string is built ([`Topic`]) or read ([`TopicKind`]).
//!
//! A topic is `{kind}:{id}` (`user:`, `community:`, `conversation:`, `files:`, `upload:`, `stream:`,
//! `item:`, `home:`) or
//! `system:alerts`. Who may join which, and what travels on each, lives with the socket's topic
//! handlers (`crate::socket`); contexts that hand a topic to a client (an upload's `topic`)
//! build its name here, so a name never drifts from what the socket parses.
//!
//! `system:alerts` is one name on the wire but several audiences in the hub: each community's
//! subscribers are kept under a key of their own ([`Topic::alerts_key`]), with their own
//! offsets, so an alert published for one community cannot reach, or be recovered by, another.

use crate::ids::{
    CommunityId, ConversationId, DeviceId, ItemId, PhotoId, SpaceId, UploadId, UserId,
};

/// Builds topic names (and the hub keys that differ from them).
pub struct Topic;

/// The prefix of the hub keys of every community's `system:alerts`.
const ALERTS_KEY_PREFIX: &str = "system:alerts@";

impl Topic {
    /// The topic every client joins for alerts.
    pub const SYSTEM_ALERTS: &'static str = "system:alerts";

    pub fn user(user_id: &UserId) -> String {
        format!("user:{user_id}")
    }

    pub fn community(community_id: &CommunityId) -> String {
        format!("community:{community_id}")
    }

    pub fn conversation(conversation_id: &ConversationId) -> String {
        format!("conversation:{conversation_id}")
    }

    /// A files space's change feed.
    pub fn files(space_id: &SpaceId) -> String {
        format!("files:{space_id}")
    }

    pub fn upload(upload_id: &UploadId) -> String {
        format!("upload:{upload_id}")
    }

    pub fn stream(file_id: &PhotoId) -> String {
        format!("stream:{file_id}")
    }

    /// A community's smart home: every entity's state changes.
    pub fn home(community_id: &CommunityId) -> String {
        format!("home:{community_id}")
    }

    /// A device agent's own topic: its states in, commands out.
    pub fn device(device_id: &DeviceId) -> String {
        format!("device:{device_id}")
    }

    /// The hub key of `home:{community_id}` for someone from whom some entities are hidden:
    /// their own audience (`home:{community_id}@{user_id}`), published only what they may see.
    pub fn home_of(community_id: &CommunityId, user_id: &UserId) -> String {
        format!("home:{community_id}@{user_id}")
    }

    /// A streaming library item's file, streamed like `stream:` (its remux on request).
    pub fn item(item_id: &ItemId) -> String {
        format!("item:{item_id}")
    }

    /// The hub key of `community_id`'s `system:alerts` (`system:alerts@{community_id}`).
    pub fn alerts_key(community_id: &CommunityId) -> String {
        format!("{ALERTS_KEY_PREFIX}{community_id}")
    }

    /// Hub keys of every community's `system:alerts` held now (for instance-wide alerts).
    pub fn all_alerts_keys(hub: &super::Hub) -> Vec<String> {
        hub.topics_with_prefix(ALERTS_KEY_PREFIX)
    }

    /// The hub key under which a join of `topic` by a member of `community_id` lives: the
    /// topic itself, but for `system:alerts`, which is scoped to the joiner's community.
    pub fn hub_key<'a>(topic: &'a str, community_id: &CommunityId) -> std::borrow::Cow<'a, str> {
        if topic == Self::SYSTEM_ALERTS {
            std::borrow::Cow::Owned(Self::alerts_key(community_id))
        } else {
            std::borrow::Cow::Borrowed(topic)
        }
    }
}

/// What a topic name denotes.
#[derive(Clone, Debug, PartialEq)]
pub enum TopicKind {
    User(UserId),
    Community(CommunityId),
    Conversation(ConversationId),
    Files(SpaceId),
    SystemAlerts,
    Upload(UploadId),
    Stream(PhotoId),
    Item(ItemId),
    Home(CommunityId),
    Device(DeviceId),
}

impl TopicKind {
    /// `None` for an unknown kind or an id that is empty, over 64 bytes, or not made of ASCII
    /// letters, digits, `_` and `-`.
    pub fn parse(topic: &str) -> Option<TopicKind> {
        if topic == Topic::SYSTEM_ALERTS {
            return Some(TopicKind::SystemAlerts);
        }
        let (prefix, id) = topic.split_once(':')?;
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        match prefix {
            "user" => Some(TopicKind::User(id.into())),
            "community" => Some(TopicKind::Community(id.into())),
            "conversation" => Some(TopicKind::Conversation(id.into())),
            "files" => Some(TopicKind::Files(id.into())),
            "upload" => Some(TopicKind::Upload(id.into())),
            "stream" => Some(TopicKind::Stream(id.into())),
            "item" => Some(TopicKind::Item(id.into())),
            "home" => Some(TopicKind::Home(id.into())),
            "device" => Some(TopicKind::Device(id.into())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse() {
        assert_eq!(
            TopicKind::parse("user:abc"),
            Some(TopicKind::User("abc".into()))
        );
        assert_eq!(
            TopicKind::parse("system:alerts"),
            Some(TopicKind::SystemAlerts)
        );
        assert_eq!(
            TopicKind::parse("conversation:x_-1"),
            Some(TopicKind::Conversation("x_-1".into()))
        );
        assert_eq!(TopicKind::parse("room:lobby"), None);
        assert_eq!(TopicKind::parse("user:"), None);
        assert_eq!(TopicKind::parse("user:a b"), None);
        assert_eq!(TopicKind::parse("nocolon"), None);
    }

    #[test]
    fn built_names_parse_back_to_their_kind() {
        assert_eq!(
            TopicKind::parse(&Topic::conversation(&"x_2".into())),
            Some(TopicKind::Conversation("x_2".into()))
        );
        assert_eq!(
            TopicKind::parse(&Topic::upload(&"up".into())),
            Some(TopicKind::Upload("up".into()))
        );
        assert_eq!(
            TopicKind::parse(Topic::SYSTEM_ALERTS),
            Some(TopicKind::SystemAlerts)
        );
    }

    #[test]
    fn alerts_keys_are_per_community_and_not_topics() {
        let c1 = CommunityId::from("c1");
        assert_eq!(Topic::alerts_key(&c1), "system:alerts@c1");
        assert_eq!(Topic::hub_key("system:alerts", &c1), "system:alerts@c1");
        assert_eq!(Topic::hub_key("user:u", &c1), "user:u");
        assert_eq!(TopicKind::parse(&Topic::alerts_key(&c1)), None);
    }
}
