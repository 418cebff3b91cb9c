//! `GET /socket/websocket`: the one socket, routed at the upgrade.
//!
//! - offers `taina.v1` → mux: Phoenix V2, graphql-transport-ws and MessagePack envelopes on
//!   one socket (answers `taina.v1`);
//! - offers `graphql-transport-ws` → GraphQL only (answers `graphql-transport-ws`);
//! - query `vsn=2.x` → Phoenix Channels V2 (answers `phoenix` only when it was offered);
//! - anything else (no `vsn`, `vsn=1.x`, the legacy `graphql-ws`) → HTTP 400 with a JSON reason.
//!
//! Phoenix takes the token from `params.token` or the Phoenix ≥ 1.8
//! `base64url.bearer.phx.<token>` subprotocol (missing or invalid → HTTP 403, as Phoenix
//! answers); GraphQL from `connection_init` (`{token}`, invalid → close 4403); mux from either.
//! Limits on connections per user and per address are HTTP 429 before the upgrade.

mod bridge;
mod connection;
mod gaps;
mod graphql_ws;
mod join;
mod joins;
mod link;
mod operation;
mod phoenix;
mod stream;
mod topic;
mod upgrade;

/// The event `system:alerts` carries alerts as (the admin panel publishes it too).
pub use topic::system::ALERT as ALERT_EVENT;

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use crate::contexts::auth::{ClientInfo, Principal};
use crate::contexts::monitoring::{NewSecurityEvent, SecurityEventKind};
use crate::http::Client;
use crate::state::AppState;
use connection::{Attached, Mode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use upgrade::{Handshake, NotAWebSocket};

pub use bridge::spawn_bridge;
pub use gaps::{spawn_gap_repair, Storage};
pub use link::{Refreshed, SocketLink};
pub use operation::{Handover, Rendered, Sent, Served, SocketOperation};

/// The subprotocol of GraphQL-only sockets.
pub const GRAPHQL_PROTOCOL: &str = "graphql-transport-ws";
/// The subprotocol of mux sockets (Phoenix V2 + graphql-transport-ws + MessagePack envelopes).
pub const MUX_PROTOCOL: &str = "taina.v1";
/// Per-socket read buffer. 512 bytes rather than 1 KiB saves that much on every idle socket
/// (the 8 KiB budget) for ~20% less upload throughput over loopback (135–143 instead of
/// 165–178 MiB/s), still above what a gigabit link carries.
const READ_BUFFER_BYTES: usize = 512;
/// Bytes tungstenite gathers before writing to the TCP socket (the writer flushes each batch).
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// The subprotocol prefix phoenix.js ≥ 1.8 uses to carry the token.
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

pub fn routes() -> Router<AppState> {
    Router::new().route("/socket/websocket", get(upgrade))
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(Refusal(format!("{code}: {message}")));
    response
}

/// Why an upgrade was refused, for the security log.
#[derive(Clone)]
struct Refusal(String);

/// # `GET /socket/websocket`
/// Refusals go to the security log as `upgrade_refused`.
/// Who a socket's token belongs to: a device agent's (`tdv_…`, docs/automation.md §6), or a
/// user's session.
pub(crate) async fn authenticate(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
) -> Result<Principal, crate::error::AppError> {
    if token.starts_with(crate::contexts::automation::agents::DEVICE_TOKEN_PREFIX) {
        return Ok(state.automation.authenticate_device(token).await?);
    }
    Ok(state.auth.authenticate_from(token, client).await?)
}

async fn upgrade(
    State(state): State<AppState>,
    Client(client): Client,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<Handshake, NotAWebSocket>,
) -> Response {
    let monitoring = state.monitoring.clone();
    let response = answer(state, client.clone(), params, headers, upgrade).await;
    if let Some(Refusal(reason)) = response.extensions().get::<Refusal>() {
        monitoring.record(NewSecurityEvent {
            kind: SecurityEventKind::UpgradeRefused,
            at: chrono::Utc::now(),
            community_id: None,
            user_id: None,
            address: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            reason: reason.chars().take(500).collect(),
        });
    }
    response
}

async fn answer(
    state: AppState,
    client: ClientInfo,
    params: HashMap<String, String>,
    headers: HeaderMap,
    upgrade: Result<Handshake, NotAWebSocket>,
) -> Response {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let offers = |name: &str| offered.iter().any(|p| p == name);
    let mode = if offers(MUX_PROTOCOL) {
        Mode::Mux
    } else if offers(GRAPHQL_PROTOCOL) {
        Mode::Graphql
    } else if offers("graphql-ws") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            "the legacy graphql-ws (subscriptions-transport-ws) protocol is not supported; use graphql-transport-ws",
        );
    } else {
        match params.get("vsn") {
            Some(vsn) if vsn.starts_with("2.") => Mode::Phoenix,
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
                    "missing vsn: Phoenix clients must send vsn=2.0.0 (V1 is not supported); \
                     GraphQL clients must offer graphql-transport-ws",
                )
            }
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.into_response(),
    };
    let address = client
        .ip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    // GraphQL-only sockets authenticate with connection_init; Phoenix needs the token now;
    // mux takes either.
    let token = match mode {
        Mode::Graphql => None,
        Mode::Phoenix | Mode::Mux => params.get("token").cloned().or_else(|| {
            offered
                .iter()
                .find_map(|p| p.strip_prefix(AUTH_TOKEN_PREFIX))
                .and_then(decode_auth_token)
        }),
    };
    let attached = match token {
        Some(token) => {
            let principal = match authenticate(&state, &token, &client).await {
                Ok(principal) => principal,
                Err(e) => {
                    // The same code and public message as any other answer (an internal cause
                    // is logged, not sent).
                    return refuse(
                        StatusCode::FORBIDDEN,
                        e.code().as_str(),
                        &e.public_message(),
                    );
                }
            };
            let registered = if principal.role == crate::contexts::auth::Role::Device {
                state.hub.register_device(
                    &principal.user_id,
                    &principal.community_id,
                    &principal.session_id,
                    address,
                )
            } else {
                state.hub.register(
                    &principal.user_id,
                    &principal.community_id,
                    &principal.session_id,
                    address,
                )
            };
            match registered {
                Ok((registration, commands)) => Some(Attached {
                    registration,
                    commands,
                    principal,
                    token,
                }),
                Err(refusal) => {
                    return refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too_many_connections",
                        &refusal.to_string(),
                    )
                }
            }
        }
        None if mode == Mode::Phoenix => {
            return refuse(
                StatusCode::FORBIDDEN,
                "missing_token",
                "send the token as params.token or authToken",
            )
        }
        None => None,
    };
    let limits = &state.config.realtime;
    let max_message = limits
        .max_text_frame_bytes
        .max(limits.max_binary_frame_bytes);
    let protocol = match mode {
        Mode::Phoenix => "phoenix",
        Mode::Graphql => GRAPHQL_PROTOCOL,
        Mode::Mux => MUX_PROTOCOL,
    };
    // tungstenite's default buffers (128 KiB each) would cost ~256 KiB per idle socket; frames
    // are batched by the writer anyway, and larger reads simply take more than one call.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    // A subprotocol is named only when the client offered it (phoenix.js without a token
    // offers none, and a browser fails a socket answered with one it did not offer).
    let (response, socket) = upgrade.accept(offers(protocol).then_some(protocol));
    let start = Box::new(connection::Start {
        state,
        config,
        mode,
        attached,
        client,
        address,
    });
    tokio::spawn(connection::run(socket, start));
    response
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
