//! Monitoring's GraphQL part (admins): `securityEvents` (a connection), `bans`, `ban`,
//! `unban` and the `securityEvent` subscription. Thin: the rules live in `MonitoringService`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{
    Ban, MonitoringError, MonitoringService, SecurityEvent, SecurityEventKind, SecurityFilter,
};
use crate::contexts::auth::Role;
use crate::graphql::{principal, GqlError};

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(SimpleObject)]
#[graphql(name = "SecurityEvent")]
pub struct GqlSecurityEvent {
    id: String,
    /// `signin_failed`, `ban_issued`, … (docs/api.md, "Security events").
    kind: String,
    at: DateTime<Utc>,
    community_id: Option<String>,
    user_id: Option<String>,
    address: Option<String>,
    user_agent: Option<String>,
    reason: String,
}

impl From<SecurityEvent> for GqlSecurityEvent {
    fn from(e: SecurityEvent) -> Self {
        GqlSecurityEvent {
            id: e.id.to_string(),
            kind: e.kind.as_str().to_string(),
            at: e.at,
            community_id: e.community_id,
            user_id: e.user_id,
            address: e.address,
            user_agent: e.user_agent,
            reason: e.reason,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Ban")]
pub struct GqlBan {
    address: String,
    banned_until: DateTime<Utc>,
    offences: u32,
    reason: String,
    issued_by: String,
    created_at: DateTime<Utc>,
}

impl From<Ban> for GqlBan {
    fn from(b: Ban) -> Self {
        GqlBan {
            address: b.address,
            banned_until: b.banned_until,
            offences: b.offences,
            reason: b.reason,
            issued_by: b.issued_by,
            created_at: b.created_at,
        }
    }
}

/// Narrows `securityEvents`; every field given must match.
#[derive(InputObject, Default)]
pub struct SecurityEventFilter {
    kind: Option<String>,
    address: Option<String>,
    user_id: Option<String>,
}

impl SecurityEventFilter {
    fn into_filter(self) -> Result<SecurityFilter, MonitoringError> {
        let kind = match self.kind {
            Some(kind) => Some(SecurityEventKind::parse(&kind).ok_or_else(|| {
                MonitoringError::Invalid(format!("`{kind}` is not a security event kind"))
            })?),
            None => None,
        };
        Ok(SecurityFilter {
            kind,
            address: self.address,
            user_id: self.user_id,
        })
    }
}

#[derive(Default)]
pub struct MonitoringQuery;

#[Object]
impl MonitoringQuery {
    /// The security log, newest first (admins: their community's events and instance-wide
    /// ones). `after` is the cursor of the last edge seen; `first` at most 200 (default 50).
    async fn security_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<SecurityEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, GqlSecurityEvent>> {
        let principal = principal(ctx)?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let first = first
            .map(|n| u32::try_from(n).map_err(|_| invalid("first must be positive")))
            .transpose()?;
        let after_id = after
            .as_deref()
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| invalid("after is not a cursor"))
            })
            .transpose()?;
        let page = ctx
            .data_unchecked::<MonitoringService>()
            .recent_security_events(principal, &filter, first, after_id)
            .await?;
        let mut connection = Connection::new(after.is_some(), page.has_more);
        connection.edges.extend(
            page.events
                .into_iter()
                .map(|e| Edge::new(e.id.to_string(), GqlSecurityEvent::from(e))),
        );
        Ok(connection)
    }

    /// Bans in force (admins).
    async fn bans(&self, ctx: &Context<'_>) -> Result<Vec<GqlBan>> {
        let principal = principal(ctx)?;
        let bans = ctx
            .data_unchecked::<MonitoringService>()
            .list_bans(principal)
            .await?;
        Ok(bans.into_iter().map(GqlBan::from).collect())
    }
}

fn invalid(message: &str) -> GqlError {
    MonitoringError::Invalid(message.to_string()).into()
}

#[derive(Default)]
pub struct MonitoringMutation;

#[Object]
impl MonitoringMutation {
    /// Bans an address (admins), for `minutes` or by the doubling policy.
    async fn ban(
        &self,
        ctx: &Context<'_>,
        address: String,
        minutes: Option<u32>,
        reason: Option<String>,
    ) -> Result<GqlBan> {
        let principal = principal(ctx)?;
        let ban = ctx
            .data_unchecked::<MonitoringService>()
            .ban(
                principal,
                &address,
                minutes.map(u64::from),
                reason.as_deref(),
            )
            .await?;
        Ok(ban.into())
    }

    /// Lifts the ban on an address (admins).
    async fn unban(&self, ctx: &Context<'_>, address: String) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<MonitoringService>()
            .lift_ban(principal, &address)
            .await?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct MonitoringSubscription;

#[Subscription]
impl MonitoringSubscription {
    /// Security events as they are stored (admins: their community's and instance-wide ones).
    async fn security_event(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = GqlSecurityEvent>> {
        let principal = principal(ctx)?;
        principal
            .require(&[Role::Admin])
            .map_err(MonitoringError::from)?;
        let community_id = principal.community_id.as_str().to_string();
        let mut events = ctx
            .data_unchecked::<MonitoringService>()
            .watch_security_events();
        Ok(async_stream::stream! {
            loop {
                match events.recv().await {
                    Ok(event) if event.community_id.as_deref().is_none_or(|c| c == community_id) => {
                        yield GqlSecurityEvent::from(SecurityEvent::clone(&event));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
