//! `tls.redirect_listen`: a plain-HTTP listener (usually port 80) that answers every request
//! with `308 Permanent Redirect` to the same host, path and query on HTTPS, so a browser
//! given `http://` lands on the server. It serves nothing else.

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

/// Serves redirects on `listener` until `shutdown` resolves; `https_port` is where TLS
/// listens (left out of the address when it is 443).
pub async fn serve(
    listener: TcpListener,
    https_port: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move {
        redirect(&headers, &uri, https_port)
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_without_port);
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed").into_response();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, format!("https://{host}{port}{path}"))],
    )
        .into_response()
}

/// The host of a `Host` header without its port; `None` when it is not a plain host name
/// or address (nothing a client sends may steer the redirect elsewhere than a host).
fn host_without_port(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.split(':').next()?
    };
    let plain = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    (!host.is_empty() && plain).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, uri: &str, port: u16) -> (StatusCode, Option<String>) {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        let response = redirect(&headers, &uri.parse().unwrap(), port);
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location)
    }

    #[test]
    fn browsers_are_sent_to_the_same_place_on_https() {
        assert_eq!(
            location("aldeia.example:80", "/admin?x=1", 443),
            (
                StatusCode::PERMANENT_REDIRECT,
                Some("https://aldeia.example/admin?x=1".into())
            )
        );
        assert_eq!(
            location("[::1]:8080", "/", 8443).1.as_deref(),
            Some("https://[::1]:8443/")
        );
        assert_eq!(
            location("evil.example/x", "/", 443).0,
            StatusCode::BAD_REQUEST
        );
    }
}
