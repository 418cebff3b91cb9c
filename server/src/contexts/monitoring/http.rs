//! Monitoring's REST routes under `/api/monitoring` (admins): the security log, bans and
//! backups.

use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::contexts::auth::{AuthService, Role};
use crate::contexts::chat::ChatService;
use crate::contexts::media::MediaService;
use crate::db::Db;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser};

use super::backup::Manifest;
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
    Db: FromRef<S>,
    ChatService: FromRef<S>,
    MediaService: FromRef<S>,
{
    Router::new()
        .route("/security-events", get(security_events))
        .route("/bans", get(list_bans).post(ban))
        .route("/bans/{address}", delete(lift_ban))
        .route("/backups", get(list_backups).post(backup_now))
        .route("/exports", post(export_now))
}

/// # `POST /api/monitoring/exports` (admin): exports the admin's community (the format
/// `taina export` writes, docs/operations.md) into one new `.tar` file under
/// `backup.dir/exports/`; answers 201 with where and what.
async fn export_now(
    State(auth): State<AuthService>,
    State(chat): State<ChatService>,
    State(media): State<MediaService>,
    State(config): State<Arc<Config>>,
    AuthUser(principal): AuthUser,
) -> Result<(StatusCode, Json<Value>)> {
    principal.require(&[Role::Admin])?;
    let community = auth.community_of(&principal).await?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let exports = config.backup.dir.join("exports");
    std::fs::create_dir_all(&exports).map_err(|source| {
        MonitoringError::from(super::export::ExportError::Io {
            what: "cannot create",
            path: exports.clone(),
            source,
        })
    })?;
    let to = exports.join(format!("{}-{stamp}.tar", community.slug));
    let dir = super::export::archive::scratch_for(&to);
    let exported =
        super::export::export_community(&auth, &chat, &media, community.id.as_str(), &dir).await;
    let packed = exported.and_then(|done| super::export::archive::pack(&dir, &to).map(|()| done));
    let _ = std::fs::remove_dir_all(&dir);
    let done = packed.map_err(MonitoringError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "path": to.display().to_string(),
            "users": done.users,
            "conversations": done.conversations,
            "messages": done.messages,
            "photos": done.photos,
            "albums": done.albums,
            "original_bytes": done.original_bytes,
        })),
    ))
}

fn backup_json(path: &std::path::Path, manifest: &Manifest, new: Option<(usize, u64)>) -> Value {
    let mut value = json!({
        "name": path.file_name().map(|n| n.to_string_lossy().to_string()),
        "path": path.display().to_string(),
        "created_at": manifest.created_at,
        "backend": manifest.backend,
        "files": manifest.files.len(),
        "blobs": manifest.blobs.len(),
        "bytes": manifest.bytes(),
        "seconds": manifest.seconds,
    });
    if let Some((blobs, bytes)) = new {
        value["new_blobs"] = json!(blobs);
        value["new_bytes"] = json!(bytes);
    }
    value
}

/// # `GET /api/monitoring/backups` (admin): the finished backups, newest first.
async fn list_backups(
    State(monitoring): State<MonitoringService>,
    State(config): State<Arc<Config>>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Value>> {
    let backups = monitoring.list_backups(&principal, &config).await?;
    let backups: Vec<Value> = backups
        .iter()
        .map(|b| backup_json(&b.path, &b.manifest, None))
        .collect();
    Ok(Json(
        json!({ "dir": config.backup.dir.display().to_string(), "backups": backups }),
    ))
}

/// # `POST /api/monitoring/backups` (admin): back up now (and verify); 201 when done.
async fn backup_now(
    State(monitoring): State<MonitoringService>,
    State(config): State<Arc<Config>>,
    State(db): State<Db>,
    AuthUser(principal): AuthUser,
) -> Result<(StatusCode, Json<Value>)> {
    let created = monitoring.backup_now(&principal, &db, &config).await?;
    let body = backup_json(
        &created.path,
        &created.manifest,
        Some((created.new_blobs, created.new_bytes)),
    );
    Ok((StatusCode::CREATED, Json(body)))
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
