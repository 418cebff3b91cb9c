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
use crate::realtime::{Position, Topic};
use crate::state::AppState;

pub use crate::realtime::TopicKind;

/// The hub key under which `principal`'s join of `topic` lives (`system:alerts` is kept per
/// community).
pub fn hub_key<'a>(topic: &'a str, principal: &Principal) -> std::borrow::Cow<'a, str> {
    Topic::hub_key(topic, &principal.community_id)
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

/// Presence is tracked on `community:` and `conversation:` topics.
pub fn has_presence(kind: &TopicKind) -> bool {
    matches!(kind, TopicKind::Community(_) | TopicKind::Conversation(_))
}

/// Only the server and admins publish alerts.
pub fn may_publish_alerts(principal: &Principal) -> bool {
    principal.role == Role::Admin
}
