//! The HTTP edge: the router, extractors and health endpoints. Handlers here are thin; rules
//! live in the contexts' services and SQL in their stores.

mod access_log;
mod download;
mod extract;
mod gate;
mod health;
mod home;
mod secret;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

pub use access_log::AccessUser;
pub use download::{attachment, respond as download, Download};
pub use extract::{ApiJson, AuthUser, Client, ClientAddress, MaybeAuthUser};
pub use gate::client_address;
pub use secret::secrets_match;

/// The whole application's routes over `state`.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.http.json_body_limit_bytes;
    let admin = if state.config.admin.enabled {
        crate::admin::routes()
    } else {
        Router::new()
    };
    let gate = gate::Gate {
        monitoring: state.monitoring.clone(),
        trusted_proxies: Arc::new(
            crate::cidr::Cidr::parse_all(&state.config.http.trusted_proxies).unwrap_or_default(),
        ),
    };
    Router::new()
        .merge(health::routes())
        .merge(home::routes())
        .nest("/api/auth", crate::contexts::auth::http::routes())
        .nest("/api/chat", crate::contexts::chat::http::routes())
        .nest(
            "/api/monitoring",
            crate::contexts::monitoring::http::routes(),
        )
        .merge(crate::contexts::media::http::routes())
        .merge(crate::contexts::files::http::routes())
        .merge(crate::contexts::files::dav::routes())
        .merge(crate::contexts::streaming::http::routes())
        .merge(crate::socket::routes())
        .merge(crate::graphql::routes())
        .merge(crate::metrics::routes())
        .merge(admin)
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::http::track,
        ))
        .route_layer(axum::middleware::from_fn(access_log::log))
        // Outermost: banned addresses are refused before anything else runs.
        .layer(axum::middleware::from_fn_with_state(gate, gate::gate))
        .with_state(state)
}
