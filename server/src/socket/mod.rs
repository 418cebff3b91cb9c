//! `GET /socket/websocket`: the one socket, routed at the upgrade.
//!
//! - query `vsn=2.x` → Phoenix Channels V2 (answering `phoenix` only when it was offered);
//! - anything else (no `vsn`, `vsn=1.x`, the legacy `graphql-ws`) → HTTP 400 with a JSON reason.
//!
//! The token comes from `params.token` or the Phoenix ≥ 1.8 `base64url.bearer.phx.<token>`
//! subprotocol; a missing or invalid one is HTTP 403, as Phoenix answers. Limits on connections
//! per user and per address are HTTP 429 before the upgrade.

mod bridge;
mod channels;
mod session;

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use crate::http::Client;
use crate::state::AppState;

pub use bridge::spawn_bridge;

/// The subprotocol prefix phoenix.js ≥ 1.8 uses to carry the token.
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

pub fn routes() -> Router<AppState> {
    Router::new().route("/socket/websocket", get(upgrade))
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// # `GET /socket/websocket`
async fn upgrade(
    State(state): State<AppState>,
    Client(client): Client,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if offered
        .iter()
        .any(|p| p == "graphql-transport-ws" || p == "taina.v1")
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            "graphql-transport-ws and the taina.v1 mux are not served yet; connect with Phoenix V2 (vsn=2.0.0)",
        );
    }
    if offered.iter().any(|p| p == "graphql-ws") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            "the legacy graphql-ws (subscriptions-transport-ws) protocol is not supported",
        );
    }
    match params.get("vsn") {
        Some(vsn) if vsn.starts_with("2.") => {}
        Some(vsn) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_protocol",
                &format!("Phoenix serializer version {vsn} is not supported; use vsn=2.0.0"),
            )
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_protocol",
                "missing vsn: Phoenix clients must send vsn=2.0.0 (V1 is not supported)",
            )
        }
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "not_a_websocket",
                &rejection.body_text(),
            );
        }
    };
    let token = params.get("token").cloned().or_else(|| {
        offered
            .iter()
            .find_map(|p| p.strip_prefix(AUTH_TOKEN_PREFIX))
            .and_then(decode_auth_token)
    });
    let Some(token) = token else {
        return refuse(
            StatusCode::FORBIDDEN,
            "missing_token",
            "send the token as params.token or authToken",
        );
    };
    let principal = match state.auth.authenticate(&token).await {
        Ok(principal) => principal,
        Err(e) => {
            let (_, code) = crate::error::auth_status_and_code(&e);
            return refuse(StatusCode::FORBIDDEN, code, &e.to_string());
        }
    };
    let address = client
        .ip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let (registration, commands) = match state.hub.register(
        &principal.user_id,
        &principal.community_id,
        &principal.session_id,
        address,
    ) {
        Ok(registered) => registered,
        Err(refusal) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections",
                &refusal.to_string(),
            )
        }
    };
    let limits = &state.config.realtime;
    let max_message = limits
        .max_text_frame_bytes
        .max(limits.max_binary_frame_bytes);
    upgrade
        .protocols(["phoenix"])
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| {
            session::run(state, socket, registration, commands, principal, token)
        })
}

/// The token inside `base64url.bearer.phx.<b64>`: phoenix.js encodes with the standard
/// alphabet despite the name, so both alphabets are accepted, padded or not.
fn decode_auth_token(encoded: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = encoded.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_tokens_decode_from_both_alphabets() {
        assert_eq!(
            decode_auth_token("bXktc2VjcmV0L3Rva2VuPw").as_deref(),
            Some("my-secret/token?")
        );
        // `???` is `Pz8/` in the standard alphabet and `Pz8_` in the URL-safe one.
        assert_eq!(decode_auth_token("Pz8_").as_deref(), Some("???"));
        assert_eq!(decode_auth_token("Pz8/").as_deref(), Some("???"));
        assert!(decode_auth_token("!!!").is_none());
    }
}
