//! The per-address connection cap: slow connections over it are refused, upgraded sockets do not
//! count.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::join_all;
use taina_protocol::client::{ConnectOptions, PhoenixClient};
use taina_tests::connections::{
    connect_from, fate_within, healthz_from, Fate, FLOOD, OTHER, REQUEST_LINE,
};
use taina_tests::TestServer;
use tokio::io::AsyncWriteExt;

/// The issue's scenario at a lowered cap: 64 connections from one address, each sending one
/// request line and waiting. The first 32 are held (until the header-read timeout), the rest
/// are answered 429 and closed at once, and `/healthz` from another address answers within
/// 100 ms.
#[tokio::test]
async fn slow_connections_over_the_address_cap_are_closed_and_healthz_still_answers() {
    let server = TestServer::builder()
        .with_config(|c| c.http.max_connections_per_address = 32)
        .start()
        .await;
    let mut streams = Vec::new();
    for _ in 0..64 {
        let mut stream = connect_from(&server, FLOOD).await;
        stream.write_all(REQUEST_LINE).await.expect("write");
        streams.push(stream);
    }
    let fates = join_all(
        streams
            .iter_mut()
            .map(|s| fate_within(s, Duration::from_secs(2))),
    )
    .await;
    let closed: Vec<&String> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Closed(answer) => Some(answer),
            Fate::Open => None,
        })
        .collect();
    assert_eq!(
        closed.len(),
        32,
        "connections over the cap closed: {fates:?}"
    );
    for answer in &closed {
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 429 Too Many Requests"),
            "{answer}"
        );
    }
    assert!(
        closed
            .iter()
            .any(|a| a.contains("\"too_many_connections\"")),
        "refused connections are told why: {closed:?}"
    );

    // The 32 held connections are still open; another address is served at once.
    let (answer, took) = healthz_from(&server, OTHER).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
    assert!(took < Duration::from_millis(100), "/healthz took {took:?}");
    // The flooding address itself is refused while it holds its 32.
    let (answer, _) = healthz_from(&server, FLOOD).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 429"),
        "{answer}"
    );
}

/// Upgraded sockets no longer count as HTTP connections of their address: eight sockets
/// from one address with a per-address cap of four, and that address still gets HTTP answers.
#[tokio::test]
async fn websockets_do_not_count_against_the_address_cap() {
    let server = TestServer::builder()
        .with_config(|c| c.http.max_connections_per_address = 4)
        .start()
        .await;
    let token = server.admin().await;
    let from = ConnectOptions::from_address(IpAddr::V4(FLOOD));
    let mut sockets = Vec::new();
    for i in 0..8 {
        let socket = PhoenixClient::connect_with(&server.ws_url(), &[("token", &token)], &from)
            .await
            .unwrap_or_else(|e| panic!("socket {i}: {e}"));
        sockets.push(socket);
    }
    for socket in &mut sockets {
        socket.heartbeat().await.expect("heartbeat reply");
    }
    let (answer, _) = healthz_from(&server, FLOOD).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
