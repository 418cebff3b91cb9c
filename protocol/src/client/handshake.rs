//! Building upgrade requests — Phoenix the way phoenix.js does (params, then
//! `vsn`; the `authToken` subprotocol), GraphQL and mux with their
//! subprotocol — and reading handshake failures.

use base64::Engine as _;
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, handshake::client::Request, http::HeaderValue,
};

use super::{ClientError, GRAPHQL_PROTOCOL, MUX_PROTOCOL};
use crate::phoenix::VSN;

/// The subprotocol offered next to the token, and answered by the server.
pub(crate) const PHOENIX_PROTOCOL: &str = "phoenix";
/// Prefix of the token-carrying subprotocol (phoenix.js 1.8 `authToken`).
const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Appends `params` and then `vsn` to `url`, as phoenix.js `appendParams` does.
pub(crate) fn connect_url(url: &str, params: &[(&str, &str)]) -> String {
    append_params(url, params.iter().copied().chain([("vsn", VSN)]))
}

/// Appends the URL-encoded `params` to `url`'s query, in order.
fn append_params<'a>(url: &str, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from(url);
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (key, value) in params {
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

/// The upgrade request of a GraphQL-only socket: `url` as given, offering
/// only `graphql-transport-ws` (the token travels in `connection_init`).
pub(crate) fn graphql_request(url: &str) -> Result<Request, ClientError> {
    offering(url.to_owned(), GRAPHQL_PROTOCOL)
}

/// The upgrade request of a mux socket: `?token=` when there is a token (no
/// `vsn`), offering only `taina.v1`.
pub(crate) fn mux_request(url: &str, token: Option<&str>) -> Result<Request, ClientError> {
    let url = match token {
        Some(token) => append_params(url, [("token", token)]),
        None => url.to_owned(),
    };
    offering(url, MUX_PROTOCOL)
}

/// A request to `url` offering exactly one subprotocol.
fn offering(url: String, protocol: &'static str) -> Result<Request, ClientError> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    Ok(request)
}

/// Fails the connect unless the server answered `expected`. tungstenite
/// already rejects a missing or unoffered answer; this states the
/// requirement where the client relies on it.
pub(crate) fn require_protocol(answered: Option<&str>, expected: &str) -> Result<(), ClientError> {
    if answered == Some(expected) {
        return Ok(());
    }
    Err(ClientError::Handshake {
        status: None,
        body: match answered {
            Some(other) => format!("server answered subprotocol {other:?}, expected {expected:?}"),
            None => format!("server answered no subprotocol, expected {expected:?}"),
        },
    })
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

    #[test]
    fn graphql_request_offers_only_its_subprotocol() {
        let request = graphql_request("ws://127.0.0.1:1/socket/websocket").unwrap();
        assert_eq!(
            request.headers()["Sec-WebSocket-Protocol"],
            "graphql-transport-ws"
        );
        assert_eq!(request.uri().query(), None);
    }

    #[test]
    fn mux_request_carries_the_token_without_vsn() {
        let request = mux_request("ws://127.0.0.1:1/socket/websocket", Some("a b&c")).unwrap();
        assert_eq!(request.headers()["Sec-WebSocket-Protocol"], "taina.v1");
        assert_eq!(request.uri().query(), Some("token=a%20b%26c"));
        let anonymous = mux_request("ws://127.0.0.1:1/s?x=1", None).unwrap();
        assert_eq!(anonymous.uri().query(), Some("x=1"));
    }

    #[test]
    fn the_answered_subprotocol_must_match() {
        assert!(require_protocol(Some("taina.v1"), "taina.v1").is_ok());
        for answered in [None, Some("phoenix")] {
            assert!(matches!(
                require_protocol(answered, "taina.v1"),
                Err(ClientError::Handshake { status: None, .. })
            ));
        }
    }
}
