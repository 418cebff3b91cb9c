//! Photos others made readable to someone outside media's own rules: chat, when a message
//! carries a photo, lets the conversation's participants see it (guests included). Media
//! asks through [`SharedPhotos`], set once at start.

use std::future::Future;
use std::pin::Pin;

use crate::ids::{PhotoId, UserId};

pub trait SharedPhotos: Send + Sync {
    /// Whether `user_id` was given the photo to see.
    fn shared_with<'a>(
        &'a self,
        user_id: &'a UserId,
        photo_id: &'a PhotoId,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}
