//! The WebSocket opening handshake (RFC 6455 §4.2): the request is checked here, answered
//! `101 Switching Protocols`, and the socket's task completes the upgrade itself once hyper
//! hands the connection over.
//!
//! axum's extractor does the same but spawns a task of its own that awaits the upgrade and
//! then runs the session, boxed, inside it: the wrapper's state beside a separate box on
//! every idle socket (about 1 KB more each, DHAT). Here the socket's task is its session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// An upgraded socket.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// A valid upgrade request, not answered yet.
pub struct Handshake {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket upgrade (answered 400 `not_a_websocket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAWebSocket(pub &'static str);

impl IntoResponse for NotAWebSocket {
    fn into_response(self) -> Response {
        super::refuse(StatusCode::BAD_REQUEST, "not_a_websocket", self.0)
    }
}

/// The socket to be, once the 101 answer is on the wire.
pub struct Pending(OnUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = NotAWebSocket;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(NotAWebSocket("a WebSocket upgrade must be a GET request"));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(NotAWebSocket("the Connection header does not name upgrade"));
        }
        if !is(&parts.headers, header::UPGRADE, "websocket") {
            return Err(NotAWebSocket("the Upgrade header is not websocket"));
        }
        if !is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(NotAWebSocket("Sec-WebSocket-Version must be 13"));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(NotAWebSocket("Sec-WebSocket-Key is missing"))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotAWebSocket("this connection cannot be upgraded"))?;
        Ok(Handshake { key, on_upgrade })
    }
}

impl Handshake {
    /// The `101` answer choosing `protocol` (if any), and the socket it opens.
    pub fn accept(self, protocol: Option<&'static str>) -> (Response, Pending) {
        let accept = HeaderValue::from_str(&derive_accept_key(self.key.as_bytes()))
            .expect("base64 is a valid header value");
        let mut response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
            .header(header::UPGRADE, HeaderValue::from_static("websocket"))
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(axum::body::Body::empty())
            .expect("a valid response");
        if let Some(protocol) = protocol {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        (response, Pending(self.on_upgrade))
    }
}

impl Pending {
    /// The socket, once hyper has sent the answer and let go of the connection; `None` when
    /// the client went away first.
    pub async fn open(self, config: WebSocketConfig) -> Option<WebSocket> {
        match self.0.await {
            Ok(upgraded) => Some(
                WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await,
            ),
            Err(error) => {
                tracing::debug!(%error, "WebSocket upgrade failed");
                None
            }
        }
    }
}

fn is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether a comma-separated header (`Connection: keep-alive, Upgrade`) names `token`.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::get("/socket/websocket");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        // A stand-in: hyper puts the real one on requests it can upgrade.
        let no_upgrade = hyper::upgrade::on(axum::http::Request::new(()));
        parts.extensions.insert(no_upgrade);
        parts
    }

    const VALID: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[tokio::test]
    async fn a_valid_request_is_answered_with_the_rfc_accept_key() {
        let handshake = Handshake::from_request_parts(&mut parts(&VALID), &())
            .await
            .unwrap();
        let (response, _) = handshake.accept(Some("phoenix"));
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // The example of RFC 6455 §1.3.
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "phoenix"
        );
    }

    #[tokio::test]
    async fn each_missing_piece_is_named() {
        for (skipped, reason) in [
            ("connection", "the Connection header does not name upgrade"),
            ("upgrade", "the Upgrade header is not websocket"),
            ("sec-websocket-version", "Sec-WebSocket-Version must be 13"),
            ("sec-websocket-key", "Sec-WebSocket-Key is missing"),
        ] {
            let headers: Vec<_> = VALID.into_iter().filter(|(n, _)| *n != skipped).collect();
            let refused = Handshake::from_request_parts(&mut parts(&headers), &())
                .await
                .err();
            assert_eq!(refused, Some(NotAWebSocket(reason)), "without {skipped}");
        }
        let mut not_upgradable = parts(&VALID);
        not_upgradable.extensions.clear();
        assert_eq!(
            Handshake::from_request_parts(&mut not_upgradable, &())
                .await
                .err(),
            Some(NotAWebSocket("this connection cannot be upgraded"))
        );
    }
}
