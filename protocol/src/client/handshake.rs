//! Building the upgrade request the way phoenix.js does (params, then `vsn`;
//! the `authToken` subprotocol), and reading handshake failures.

use base64::Engine as _;
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, handshake::client::Request, http::HeaderValue,
};

use super::ClientError;
use crate::phoenix::VSN;

/// The subprotocol offered next to the token, and answered by the server.
pub(crate) const PHOENIX_PROTOCOL: &str = "phoenix";
/// Prefix of the token-carrying subprotocol (phoenix.js 1.8 `authToken`).
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Appends `params` and then `vsn` to `url`, as phoenix.js `appendParams` does.
pub(crate) fn connect_url(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::from(url);
    let mut separator = if url.contains('?') { '&' } else { '?' };
    let pairs = params.iter().copied().chain([("vsn", VSN)]);
    for (key, value) in pairs {
        out.push(separator);
        encode_uri_component(key, &mut out);
        out.push('=');
        encode_uri_component(value, &mut out);
        separator = '&';
    }
    out
}

/// The subprotocol that carries `token`: phoenix.js uses `btoa`, i.e. the
/// standard alphabet, with the `=` padding stripped.
pub(crate) fn auth_token_protocol(token: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(token);
    format!("{AUTH_TOKEN_PREFIX}{encoded}")
}

/// The upgrade request; `token`, when given, is offered as a subprotocol
/// together with `phoenix`.
pub(crate) fn request(
    url: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Result<Request, ClientError> {
    let mut request = connect_url(url, params).into_client_request()?;
    if let Some(token) = token {
        let offer = format!("{PHOENIX_PROTOCOL}, {}", auth_token_protocol(token));
        let value =
            HeaderValue::try_from(offer).map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", value);
    }
    Ok(request)
}

/// Classifies a failed connect: refusals and invalid upgrades are handshake
/// errors, anything else (e.g. connection refused) stays a transport error.
pub(crate) fn classify(error: tungstenite::Error) -> ClientError {
    match error {
        tungstenite::Error::Http(response) => ClientError::Handshake {
            status: Some(response.status().as_u16()),
            body: response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default(),
        },
        tungstenite::Error::Protocol(problem) => ClientError::Handshake {
            status: None,
            body: problem.to_string(),
        },
        other => ClientError::Ws(other),
    }
}

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is
/// percent-encoded as UTF-8.
fn encode_uri_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_come_first_and_vsn_last() {
        assert_eq!(
            connect_url(
                "ws://h/socket/websocket",
                &[("token", "abc"), ("user_id", "1")]
            ),
            "ws://h/socket/websocket?token=abc&user_id=1&vsn=2.0.0"
        );
        assert_eq!(
            connect_url("ws://h/socket/websocket", &[]),
            "ws://h/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            connect_url("ws://h/s?mode=plain", &[("a", "b")]),
            "ws://h/s?mode=plain&a=b&vsn=2.0.0"
        );
    }

    #[test]
    fn params_are_uri_component_encoded() {
        assert_eq!(
            connect_url("ws://h/s", &[("a b", "x&y=z/ç"), ("k", "-_.!~*'()")]),
            "ws://h/s?a%20b=x%26y%3Dz%2F%C3%A7&k=-_.!~*'()&vsn=2.0.0"
        );
    }

    #[test]
    fn auth_token_matches_phoenix_js() {
        // the offer verified against phoenix.js 1.8.16 in protocol-facts §1.2
        assert_eq!(
            auth_token_protocol("my-secret/token?"),
            "base64url.bearer.phx.bXktc2VjcmV0L3Rva2VuPw"
        );
        // standard alphabet, as btoa: "???" → "Pz8/"
        assert_eq!(auth_token_protocol("???"), "base64url.bearer.phx.Pz8/");
    }

    #[test]
    fn token_request_offers_both_subprotocols() {
        let request = request("ws://127.0.0.1:1/socket/websocket", &[], Some("t")).unwrap();
        assert_eq!(
            request.headers()["Sec-WebSocket-Protocol"],
            "phoenix, base64url.bearer.phx.dA"
        );
        assert_eq!(request.uri().query(), Some("vsn=2.0.0"));
        let plain = super::request("ws://127.0.0.1:1/s", &[("a", "1")], None).unwrap();
        assert!(plain.headers().get("Sec-WebSocket-Protocol").is_none());
    }
}
