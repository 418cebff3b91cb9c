//! Web Push and notifications in GraphQL: `webPushKey`, `notifications`,
//! `subscribeWebPush`, `unsubscribeWebPush` (see [`super::push`]).

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::push::Notifier;
use crate::graphql::{principal, GqlError};

type Result<T, E = GqlError> = std::result::Result<T, E>;

/// A message that arrived while the user had no socket open.
#[derive(SimpleObject)]
#[graphql(name = "Notification")]
pub struct GqlNotification {
    id: String,
    conversation_id: String,
    message_id: String,
    created_at: DateTime<Utc>,
    /// How many of the user's browsers the push reached.
    pushed: u32,
}

#[derive(Default)]
pub struct PushQuery;

#[Object]
impl PushQuery {
    /// The server's VAPID public key (base64url): a browser's `applicationServerKey`.
    async fn web_push_key(&self, ctx: &Context<'_>) -> Result<String> {
        principal(ctx)?;
        Ok(ctx.data_unchecked::<Notifier>().public_key().to_string())
    }

    /// Messages that arrived while the caller was away, newest first.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 200))] first: Option<u32>,
    ) -> Result<Vec<GqlNotification>> {
        let principal = principal(ctx)?;
        let list = ctx
            .data_unchecked::<Notifier>()
            .notifications(principal, first.unwrap_or(50))
            .await?;
        Ok(list
            .into_iter()
            .map(|n| GqlNotification {
                id: n.id,
                conversation_id: n.conversation_id.into(),
                message_id: n.message_id.into(),
                created_at: n.created_at,
                pushed: n.pushed,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct PushMutation;

#[Object]
impl PushMutation {
    /// Subscribes a browser (the `endpoint` and `keys` of its `PushSubscription`).
    async fn subscribe_web_push(
        &self,
        ctx: &Context<'_>,
        endpoint: String,
        p256dh: String,
        auth: String,
    ) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<Notifier>()
            .subscribe(principal, &endpoint, &p256dh, &auth)
            .await?;
        Ok(true)
    }

    /// Stops pushes to a browser; false when it was not subscribed.
    async fn unsubscribe_web_push(&self, ctx: &Context<'_>, endpoint: String) -> Result<bool> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<Notifier>()
            .unsubscribe(principal, &endpoint)
            .await?)
    }
}
