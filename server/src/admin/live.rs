//! `GET /admin/live?page=…`: the socket a panel page opens (htmx 4's `hx-ws`). The server
//! pushes; the browser only listens. About once a second the page's regions are rendered
//! again and those whose HTML changed are sent as one frame of out-of-band swaps: however much
//! happens in between, a panel gets at most one frame a second. The first frame holds every
//! region (a fresh snapshot after a reconnect).
//!
//! The upgrade is refused (403) unless `Origin` is the configured public URL (or, without one,
//! this request's `Host`), the browser does not call it cross-site, and the cookie holds an
//! admin's live session. Each tick re-checks the session: signing out, a revocation or losing
//! the admin role closes the socket with 4403 (`session ended`, which `hx-ws` does not reconnect after)
//! within a second. Server shutdown closes it with
//! 1012, which `hx-ws` reconnects after.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use taina_admin_ui::model::Page;
use taina_admin_ui::{pages, Region, Rendering};

use super::models;
use super::session::{self, AdminSession};
use crate::config::Config;
use crate::state::AppState;

/// How often a panel's regions are refreshed (the overview: at each sample instead).
const TICK: Duration = Duration::from_secs(1);
/// How long one push may take before the panel is dropped as unreachable.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    #[serde(default)]
    page: String,
}

pub async fn live(
    State(state): State<AppState>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state.config, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "the admin socket accepts connections from the panel's own origin only",
        )
            .into_response();
    }
    let Ok(session) = session::current(&state.auth, &headers).await else {
        return (StatusCode::FORBIDDEN, "sign in to the admin panel first").into_response();
    };
    let Some(page) = Page::from_slug(&query.page) else {
        return (StatusCode::BAD_REQUEST, "unknown page").into_response();
    };
    upgrade.on_upgrade(move |socket| run(state, socket, session, page))
}

/// `Origin` must equal `admin.public_url`'s origin or, without one, `http(s)://<Host>`; a
/// browser's `Sec-Fetch-Site: cross-site` is refused whatever the origin says.
fn origin_allowed(config: &Config, headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return false;
    };
    match config.admin.public_url.as_deref().filter(|u| !u.is_empty()) {
        Some(public) => origin_of(public).eq_ignore_ascii_case(origin),
        None => text(header::HOST.as_str()).is_some_and(|host| {
            [format!("http://{host}"), format!("https://{host}")]
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        }),
    }
}

/// Where people open the panel: `admin.public_url`'s origin, or `http://<Host>` of this
/// request (for links the panel shows, such as password reset links).
pub fn panel_origin(config: &Config, headers: &HeaderMap) -> String {
    match config.admin.public_url.as_deref().filter(|u| !u.is_empty()) {
        Some(public) => origin_of(public).to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// `https://host:port/some/path` → `https://host:port`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

async fn regions(
    state: &AppState,
    session: &AdminSession,
    page: Page,
) -> Result<Vec<Region>, super::error::AdminError> {
    let admin = &session.principal;
    let push = Rendering::Push;
    Ok(match page {
        Page::Overview => pages::overview::regions(&models::overview(state), push),
        Page::People => pages::people::regions(
            &models::people(state, admin, "").await?,
            &session.csrf,
            push,
        ),
        Page::Activity => pages::activity::regions(&models::activity(state, admin).await?, push),
        Page::Alerts => pages::alerts::regions(&models::alerts(state, admin), push),
        Page::Maintenance => pages::maintenance::regions(
            &models::maintenance(state, admin).await?,
            &session.csrf,
            push,
        ),
    })
}

async fn run(state: AppState, mut socket: WebSocket, session: AdminSession, page: Page) {
    let mut closing = state.hub.closing();
    if *closing.borrow_and_update() {
        return;
    }
    let connected = super::models::when(chrono::Utc::now());
    let status = pages::live_status(&connected).into_string();
    if socket.send(Message::Text(status.into())).await.is_err() {
        return;
    }
    let mut sent: HashMap<String, String> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The overview shows samples: it refreshes when one is taken rather than on its own clock,
    // so a change reaches the page within one sampling period.
    let mut samples = state.metrics.samples.watch();
    let follows_samples = page == Page::Overview;
    let mut first = true;
    loop {
        tokio::select! {
            _ = ticker.tick(), if first || !follows_samples => first = false,
            changed = samples.changed(), if follows_samples && !first => {
                if changed.is_err() {
                    return;
                }
            }
            _ = closing.changed() => {
                close(&mut socket, taina_protocol::close::SERVICE_RESTART, "server restarting").await;
                return;
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // The panel sends nothing the server acts on.
                Some(Ok(_)) => continue,
            },
        }
        if !session::still_valid(&state.auth, &session).await {
            close(
                &mut socket,
                taina_protocol::close::SESSION_ENDED,
                "session ended",
            )
            .await;
            return;
        }
        let regions = match regions(&state, &session, page).await {
            Ok(regions) => regions,
            Err(error) => {
                tracing::warn!(error = %error.public_message(), "admin panel: cannot refresh");
                continue;
            }
        };
        let changed: Vec<Region> = regions
            .into_iter()
            .filter(|r| sent.get(&r.id) != Some(&r.html))
            .collect();
        if changed.is_empty() {
            continue;
        }
        let frame = pages::frame(&changed);
        for region in changed {
            sent.insert(region.id, region.html);
        }
        match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(frame.into()))).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_the_panels_own_origin_may_open_the_socket() {
        let mut config = Config::default();
        let same = headers(&[("host", "box:4000"), ("origin", "http://box:4000")]);
        assert!(origin_allowed(&config, &same));
        let other = headers(&[("host", "box:4000"), ("origin", "http://evil.example")]);
        assert!(!origin_allowed(&config, &other));
        assert!(!origin_allowed(&config, &headers(&[("host", "box:4000")])));
        let cross = headers(&[
            ("host", "box:4000"),
            ("origin", "http://box:4000"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!origin_allowed(&config, &cross));
        config.admin.public_url = Some("https://home.example.org/admin".into());
        let public = headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "https://home.example.org"),
        ]);
        assert!(origin_allowed(&config, &public));
        assert!(!origin_allowed(&config, &same));
    }
}
