//! The topics a Phoenix socket may join and who may join them:
//!
//! | topic | who | presence | history |
//! |---|---|---|---|
//! | `user:{id}` | that user | no | memory |
//! | `community:{id}` | its members and admins (not guests) | yes | memory |
//! | `conversation:{id}` | its participants | yes | stored messages |
//! | `system:alerts` | every signed-in user; a community's admins publish to their community, the server and the operator to every community | no | memory, per community |
//! | `upload:{id}` | the upload's owner | no | — |
//! | `stream:{file_id}` | whoever may see the photo | no | — |

use crate::contexts::auth::{Principal, Role};
use crate::contexts::chat::{ChatError, Conversation};
use crate::contexts::media::{MediaError, Photo, Upload};
use crate::realtime::Position;
use crate::state::AppState;

pub const SYSTEM_ALERTS: &str = "system:alerts";
/// Clients all join `system:alerts`, but each community's subscribers are kept under a key
/// of their own in the hub (`system:alerts@{community_id}`), with their own offsets: an
/// alert published for one community cannot reach, or be recovered by, another.
const ALERTS_KEY_PREFIX: &str = "system:alerts@";

/// The hub key of `community_id`'s `system:alerts`.
pub fn alerts_key(community_id: &str) -> String {
    format!("{ALERTS_KEY_PREFIX}{community_id}")
}

/// Hub keys of every community's `system:alerts` held now (for instance-wide alerts).
pub fn all_alerts_keys(hub: &crate::realtime::Hub) -> Vec<String> {
    hub.topics_with_prefix(ALERTS_KEY_PREFIX)
}

/// The hub key under which `principal`'s join of `topic` lives: the topic itself, but for
/// `system:alerts`, which is scoped to the principal's community.
pub fn hub_key<'a>(topic: &'a str, principal: &Principal) -> std::borrow::Cow<'a, str> {
    if topic == SYSTEM_ALERTS {
        std::borrow::Cow::Owned(alerts_key(&principal.community_id))
    } else {
        std::borrow::Cow::Borrowed(topic)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TopicKind {
    User(String),
    Community(String),
    Conversation(String),
    SystemAlerts,
    Upload(String),
    Stream(String),
}

impl TopicKind {
    pub fn parse(topic: &str) -> Option<TopicKind> {
        if topic == SYSTEM_ALERTS {
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
            "user" => Some(TopicKind::User(id.to_string())),
            "community" => Some(TopicKind::Community(id.to_string())),
            "conversation" => Some(TopicKind::Conversation(id.to_string())),
            "upload" => Some(TopicKind::Upload(id.to_string())),
            "stream" => Some(TopicKind::Stream(id.to_string())),
            _ => None,
        }
    }

    pub fn has_presence(&self) -> bool {
        matches!(self, TopicKind::Community(_) | TopicKind::Conversation(_))
    }
}

/// Why a join is refused; the `reason` of the error reply.
#[derive(Debug)]
pub enum JoinRefusal {
    Unauthorized,
    Internal,
}

impl JoinRefusal {
    pub fn reason(&self) -> &'static str {
        match self {
            JoinRefusal::Unauthorized => "unauthorized",
            JoinRefusal::Internal => "internal error",
        }
    }
}

/// What an authorised join knows about its topic.
pub struct Authorized {
    /// Where a storage-backed topic stands.
    pub storage: Option<Position>,
    pub conversation: Option<Conversation>,
    pub upload: Option<Upload>,
    pub photo: Option<Photo>,
}

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    kind: &TopicKind,
) -> Result<Authorized, JoinRefusal> {
    let plain = Authorized {
        storage: None,
        conversation: None,
        upload: None,
        photo: None,
    };
    match kind {
        TopicKind::User(id) if *id == principal.user_id => Ok(plain),
        // Guests see presence where they chat (conversation topics), not the whole community's.
        TopicKind::Community(id)
            if *id == principal.community_id && principal.role != Role::Guest =>
        {
            Ok(plain)
        }
        TopicKind::SystemAlerts => Ok(plain),
        TopicKind::Conversation(id) => {
            match state.chat.conversation_for(&principal.user_id, id).await {
                Ok(conversation) => Ok(Authorized {
                    storage: Some(Position {
                        epoch: conversation.epoch.clone(),
                        offset: conversation.last_offset,
                    }),
                    conversation: Some(conversation),
                    upload: None,
                    photo: None,
                }),
                Err(ChatError::NotFound) => Err(JoinRefusal::Unauthorized),
                Err(e) => {
                    tracing::error!(error = %e, "join authorization failed");
                    Err(JoinRefusal::Internal)
                }
            }
        }
        TopicKind::Upload(id) => match state.media.upload_for(principal, id).await {
            Ok(upload) => Ok(Authorized {
                upload: Some(upload),
                ..plain
            }),
            Err(MediaError::NotFound) => Err(JoinRefusal::Unauthorized),
            Err(e) => {
                tracing::error!(error = %e, "join authorization failed");
                Err(JoinRefusal::Internal)
            }
        },
        TopicKind::Stream(id) => match state.media.photo_for(Some(principal), id).await {
            Ok(photo) => Ok(Authorized {
                photo: Some(photo),
                ..plain
            }),
            Err(MediaError::NotFound) => Err(JoinRefusal::Unauthorized),
            Err(e) => {
                tracing::error!(error = %e, "join authorization failed");
                Err(JoinRefusal::Internal)
            }
        },
        _ => Err(JoinRefusal::Unauthorized),
    }
}

/// Only the server and admins publish alerts.
pub fn may_publish_alerts(principal: &Principal) -> bool {
    principal.role == Role::Admin
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
}
