//! The first thing every request meets, WebSocket upgrades included: resolves the client
//! address (the peer's, or behind a trusted proxy the one it forwards) into a
//! [`ClientAddress`] extension, and refuses a banned address with 403 `banned` before any
//! other work (no body read, no token checked, no query run: one in-memory lookup).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::ClientAddress;
use crate::cidr::Cidr;
use crate::contexts::monitoring::MonitoringService;
use crate::error::AppError;

/// What the gate needs: the ban book and the proxies whose forwarding is believed.
#[derive(Clone)]
pub struct Gate {
    pub monitoring: MonitoringService,
    pub trusted_proxies: Arc<Vec<Cidr>>,
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = client_address(peer, request.headers(), &gate.trusted_proxies);
        if let Err(e) = gate.monitoring.check_address(client) {
            return AppError::from(e).into_response();
        }
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
/// `X-Forwarded-For` chain is read from its end, skipping trusted proxies, and the first
/// address that is not one is the client (what a proxy appended can be believed; what the
/// client sent in front of it cannot).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !Cidr::any_contains(trusted, peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !Cidr::any_contains(trusted, **ip))
        .copied()
        // Every hop a trusted proxy (or no header): the nearest one is the client.
        .or_else(|| forwarded.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_forward() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers(&["1.1.1.1"]);
        // Not from a proxy: the header is ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), &spoofed, &trusted),
            ip("203.0.113.9")
        );
        // From the proxy: the hop it appended.
        assert_eq!(
            client_address(ip("10.0.0.2"), &spoofed, &trusted),
            ip("1.1.1.1")
        );
        // A client prepending a fake hop is still judged by what the proxy appended.
        let chained = headers(&["6.6.6.6, 203.0.113.9", "10.0.0.3"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &chained, &trusted),
            ip("203.0.113.9")
        );
        // No header from the proxy: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted: always the peer.
        assert_eq!(
            client_address(ip("10.0.0.2"), &spoofed, &[]),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), &HeaderMap::new(), &[]),
            ip("10.0.0.2")
        );
    }
}
