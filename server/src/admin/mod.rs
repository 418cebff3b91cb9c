//! Nhaman, the admin panel at `/admin`: server-rendered pages (views in the `taina-admin-ui`
//! crate), htmx 4 for forms, and one live socket per open page that pushes what changed.
//!
//! - `pages.rs`: the pages, sign-in and sign-out; `actions.rs`: the forms an admin posts;
//!   `live.rs`: `/admin/live`; `reset.rs` and `confirm.rs`: the public pages a password reset
//!   link and an email confirmation link open; `models.rs`: view models from the services; `session.rs`: the
//!   cookie and CSRF tokens; `headers.rs`: CSP and friends; `error.rs`: [`AdminError`].
//!
//! It is a transport over the contexts, like GraphQL: it owns no tables, and every rule (who
//! may change a role, revoke, invite) is the services'. Only admins get in.

mod actions;
mod confirm;
mod error;
mod headers;
mod live;
mod models;
mod pages;
mod reset;
mod session;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use taina_admin_ui::assets;

use crate::state::AppState;

pub use error::AdminError;

/// Every `/admin` route, with the security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(pages::overview))
        .route(
            "/admin/signin",
            get(pages::sign_in_form).post(pages::sign_in),
        )
        .route("/admin/signout", post(pages::sign_out))
        .route("/admin/live", get(live::live))
        .route("/admin/assets/{name}", get(asset))
        .route("/admin/csp-report", post(csp_report))
        .route("/admin/users/{id}/role", post(actions::change_role))
        .route("/admin/users/{id}/revoke", post(actions::revoke_sessions))
        .route("/admin/users/{id}/disable", post(actions::disable))
        .route("/admin/users/{id}/enable", post(actions::enable))
        .route("/admin/users/{id}/reset-link", post(actions::reset_link))
        .route("/admin/users/{id}/remove", post(actions::remove_member))
        .route(
            "/admin/users/{id}/confirm-link",
            post(actions::confirm_link),
        )
        .route("/admin/community", post(actions::update_community))
        .route(
            "/admin/users/{id}/app-passwords/{password}/revoke",
            post(actions::revoke_app_password),
        )
        .route("/admin/reset/{token}", get(reset::form).post(reset::submit))
        .route(
            "/admin/confirm/{token}",
            get(confirm::form).post(confirm::submit),
        )
        .route("/admin/invites", post(actions::create_invite))
        .route("/admin/invites/{id}/revoke", post(actions::revoke_invite))
        // A page that also takes a form: both methods on the one static route (a static
        // route shadows `/admin/{page}`).
        .route(
            "/admin/alerts",
            get(pages::alerts).post(actions::send_alert),
        )
        .route(
            "/admin/maintenance",
            get(pages::maintenance).post(actions::maintenance),
        )
        .route("/admin/backups", post(actions::backup_now))
        .route("/admin/bans", post(actions::ban))
        .route("/admin/bans/{address}/lift", post(actions::lift_ban))
        .route("/admin/{page}", get(pages::page))
        .layer(axum::middleware::from_fn(headers::secure))
}

/// A browser's Content-Security-Policy violation report (`report-uri`): counted and logged
/// (the first 1 KiB), answered 204. Anyone may post one; it only moves a counter.
async fn csp_report(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<crate::metrics::Metrics>>,
    body: axum::body::Bytes,
) -> StatusCode {
    metrics.csp_violations.inc();
    let shown = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
    tracing::warn!(report = %shown, "Content-Security-Policy violation in the admin panel");
    StatusCode::NO_CONTENT
}

/// An embedded asset; its name carries its version, so it may be cached for a year.
async fn asset(Path(name): Path<String>) -> Response {
    match assets::find(&name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
