//! `GET /metrics`: the Prometheus text format. Reachable with `Authorization: Bearer
//! <metrics.token>` when a token is configured, and otherwise from loopback only (a scraper on
//! the same box); anyone else gets 403 `forbidden`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Metrics;
use crate::config::Config;
use crate::error::AppError;
use crate::http::secrets_match;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Metrics>: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(
    State(metrics): State<Arc<Metrics>>,
    State(config): State<Arc<Config>>,
    request: Request,
) -> Result<Response, AppError> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    let headers: &HeaderMap = request.headers();
    let allowed = match &config.metrics.token {
        Some(token) if !token.is_empty() => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            presented.is_some_and(|p| secrets_match(token.as_bytes(), p.as_bytes()))
        }
        _ => peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback()),
    };
    if !allowed {
        return Err(AppError::Forbidden(
            "metrics are served to the metrics token's bearer, or to loopback when none is set"
                .into(),
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response())
}
