//! Files others made readable to someone outside the space and share rules: chat, when a
//! message carries a file, lets the conversation's participants read it (that file only,
//! read-only). Files asks through [`SharedFiles`], set once at start.

use std::future::Future;
use std::pin::Pin;

use crate::ids::{NodeId, UserId};

pub trait SharedFiles: Send + Sync {
    /// Whether `user_id` was given the file to read.
    fn shared_with<'a>(
        &'a self,
        user_id: &'a UserId,
        node_id: &'a NodeId,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}
