//! Monitoring's REST routes under `/api/monitoring` (admins): the security log and bans.

use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::contexts::auth::AuthService;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser};

use super::{Ban, MonitoringError, MonitoringService, SecurityEventKind, SecurityFilter};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The routes, under any router state that hands over the [`MonitoringService`], the
/// [`AuthService`] (for [`AuthUser`]) and the configuration (for [`ApiJson`]).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    MonitoringService: FromRef<S>,
    AuthService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        .route("/security-events", get(security_events))
        .route("/bans", get(list_bans).post(ban))
        .route("/bans/{address}", delete(lift_ban))
}

#[derive(Deserialize)]
struct EventQuery {
    kind: Option<String>,
    address: Option<String>,
    user_id: Option<String>,
    first: Option<u32>,
    after: Option<i64>,
}

/// # `GET /api/monitoring/security-events?kind=&address=&user_id=&first=&after=` (admin)
async fn security_events(
    State(monitoring): State<MonitoringService>,
    AuthUser(principal): AuthUser,
    Query(query): Query<EventQuery>,
) -> Result<Json<Value>> {
    let kind = match query.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(kind) => Some(SecurityEventKind::parse(kind).ok_or_else(|| {
            MonitoringError::Invalid(format!("`{kind}` is not a security event kind"))
        })?),
        None => None,
    };
    let filter = SecurityFilter {
        kind,
        address: query.address.filter(|a| !a.is_empty()),
        user_id: query.user_id.filter(|u| !u.is_empty()),
    };
    let page = monitoring
        .recent_security_events(&principal, &filter, query.first, query.after)
        .await?;
    Ok(Json(
        json!({ "events": page.events, "has_more": page.has_more }),
    ))
}

/// # `GET /api/monitoring/bans` (admin): bans in force.
async fn list_bans(
    State(monitoring): State<MonitoringService>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Value>> {
    let bans = monitoring.list_bans(&principal).await?;
    Ok(Json(json!({ "bans": bans })))
}

#[derive(Deserialize)]
struct NewBan {
    address: String,
    minutes: Option<u64>,
    reason: Option<String>,
}

/// # `POST /api/monitoring/bans` (admin)
async fn ban(
    State(monitoring): State<MonitoringService>,
    AuthUser(principal): AuthUser,
    ApiJson(body): ApiJson<NewBan>,
) -> Result<(StatusCode, Json<Ban>)> {
    let ban = monitoring
        .ban(
            &principal,
            &body.address,
            body.minutes,
            body.reason.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ban)))
}

/// # `DELETE /api/monitoring/bans/{address}` (admin)
async fn lift_ban(
    State(monitoring): State<MonitoringService>,
    AuthUser(principal): AuthUser,
    Path(address): Path<String>,
) -> Result<StatusCode> {
    monitoring.lift_ban(&principal, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
