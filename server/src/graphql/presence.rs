//! `userPresence(communityId)`: who is online in the caller's community, then each change.

use crate::realtime::events::{USER_OFFLINE, USER_ONLINE};
use async_graphql::{Context, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use std::sync::Arc;

use super::{principal, GqlError};
use crate::contexts::auth::{AuthError, Role};
use crate::events::EventBus;
use crate::realtime::Hub;

#[derive(SimpleObject, Clone)]
pub struct PresenceEvent {
    user_id: String,
    online: bool,
    at: DateTime<Utc>,
}

#[derive(Default)]
pub struct PresenceSubscription;

#[Subscription]
impl PresenceSubscription {
    /// First one `online: true` item per user connected now, then `user.online` /
    /// `user.offline` changes (debounced: a quick reconnect is not reported).
    async fn user_presence(
        &self,
        ctx: &Context<'_>,
        community_id: String,
    ) -> Result<impl Stream<Item = PresenceEvent>, GqlError> {
        let principal = principal(ctx)?;
        // Guests see presence where they chat (conversation topics), not the whole community's.
        if principal.community_id != community_id || principal.role == Role::Guest {
            return Err(AuthError::Forbidden.into());
        }
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        let online_now = ctx
            .data_unchecked::<Arc<Hub>>()
            .online_users(&principal.community_id);
        Ok(async_stream::stream! {
            let now = Utc::now();
            for user_id in online_now {
                yield PresenceEvent { user_id: user_id.into_string(), online: true, at: now };
            }
            loop {
                match events.recv().await {
                    Ok(event) if (event.kind == USER_ONLINE || event.kind == USER_OFFLINE)
                        && event.community_id.as_ref().is_some_and(|c| *c == community_id) =>
                    {
                        if let Some(user_id) = event.user_id.clone() {
                            yield PresenceEvent { user_id: user_id.into_string(), online: event.kind == USER_ONLINE, at: event.timestamp };
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
