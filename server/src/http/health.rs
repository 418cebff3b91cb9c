//! `GET /healthz` (the process runs) and `GET /readyz` (every dependency answers).

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::contexts::media::MediaService;
use crate::contexts::monitoring::health::{readiness, Dependencies};
use crate::db::Db;
use crate::events::EventBus;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    Arc<dyn EventBus>: FromRef<S>,
    MediaService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// # `GET /healthz`
/// 200 while the process can answer at all; nothing is checked.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// # `GET /readyz`
/// 200 while every dependency (database, disk, media job queue, blob store, bus) answers, each within
/// 2 s; 503 when one does not. Each check's status and latency are in `checks`.
async fn readyz(
    State(db): State<Db>,
    State(bus): State<Arc<dyn EventBus>>,
    State(media): State<MediaService>,
    State(config): State<Arc<Config>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let report = readiness(Dependencies {
        db: &db,
        bus: bus.as_ref(),
        media: &media,
        data_dir: &config.data_dir,
        config: &config.monitoring,
    })
    .await;
    let (status, word) = if report.ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        Json(json!({ "status": word, "database": db.backend(), "checks": report.checks })),
    )
}
