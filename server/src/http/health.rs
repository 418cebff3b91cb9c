//! `GET /healthz` (the process runs) and `GET /readyz` (the database answers).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::Db;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
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
/// 200 while the database answers a query within 2 s, 503 otherwise.
async fn readyz(State(db): State<Db>) -> (StatusCode, Json<serde_json::Value>) {
    let backend = db.backend();
    if db.ping().await {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": backend })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": backend })),
        )
    }
}
