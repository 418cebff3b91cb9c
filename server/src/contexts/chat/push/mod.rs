//! Notifications for people who are away. When a message is stored, every participant but
//! the sender with no socket open on any node gets a notification record (`notifications`),
//! and each browser they subscribed for Web Push gets it too: the payload encrypted for that
//! browser (RFC 8291, `aes128gcm`), the request signed with the server's VAPID key (RFC 8292).
//! One node of an installation sends (the hub's coordinator), so nobody is notified twice.

mod notifier;
mod send;
mod store;
mod vapid;

use crate::ids::UserId;

pub use notifier::{Notification, Notifier, PushPayload, Subscription};
pub use vapid::{Vapid, VAPID_FILE};

/// What the notifier needs to know about sockets.
pub trait Recipients: Send + Sync {
    /// Whether the user has a socket open on any node.
    fn is_online(&self, user_id: &UserId) -> bool;
    /// Whether this node is the one of its installation that sends notifications.
    fn sends_notifications(&self) -> bool;
}

/// Everything that can go wrong delivering a push.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read or write the VAPID key {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the VAPID key in {0} is not a P-256 private key")]
    BadKey(String),
    #[error("push service unreachable: {0}")]
    Unreachable(String),
}
