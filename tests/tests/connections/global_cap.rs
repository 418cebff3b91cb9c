//! The global connection cap: every address refused until places free up, upgraded sockets keep
//! their place.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::json;
use taina_protocol::client::PhoenixClient;
use taina_tests::connections::{
    connect_from, fate_within, healthz_from, Fate, OTHER, REQUEST_LINE,
};
use taina_tests::TestServer;
use tokio::io::AsyncWriteExt;

const THIRD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// Tries `GET /healthz` from `source` until it answers 200 or `wait` passes.
async fn healthz_recovers(server: &TestServer, source: Ipv4Addr, wait: Duration) -> String {
    let start = Instant::now();
    loop {
        let (answer, _) = healthz_from(server, source).await;
        if answer.starts_with("HTTP/1.1 200") || start.elapsed() > wait {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// At the global cap every address is refused with 503 at once; once the slow connections
/// holding the places are cut by the header-read timeout, `/healthz` answers again.
#[tokio::test]
async fn the_global_cap_refuses_every_address_until_places_free_up() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.http.max_connections = 8;
            c.http.header_read_timeout_seconds = 1;
            c.http.keep_alive_idle_seconds = 1;
        })
        .start()
        .await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = connect_from(&server, THIRD).await;
        stream.write_all(REQUEST_LINE).await.unwrap();
        slow.push(stream);
    }
    let (answer, took) = healthz_from(&server, OTHER).await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{answer}"
    );
    assert!(answer.contains("\"server_busy\""), "{answer}");
    assert!(took < Duration::from_millis(500), "refused after {took:?}");

    let answer = healthz_recovers(&server, OTHER, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for mut stream in slow {
        assert!(matches!(
            fate_within(&mut stream, Duration::from_secs(1)).await,
            Fate::Closed(_)
        ));
    }
}

/// Upgraded sockets keep their place under the global cap (each holds a descriptor): with
/// four places and four sockets, a new connection is refused until a socket closes.
#[tokio::test]
async fn websockets_count_against_the_global_cap() {
    let server = TestServer::builder()
        .with_config(|c| c.http.max_connections = 4)
        .start()
        .await;
    // A client that keeps no idle connection, so only the sockets hold places below.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let credentials = json!({ "email": "admin@example.org", "password": "admin password" });
    let signup = client
        .post(format!("{}/api/auth/signup", server.url))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let signin: serde_json::Value = client
        .post(format!("{}/api/auth/signin", server.url))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signin["token"].as_str().expect("token").to_string();

    let mut sockets = Vec::new();
    for i in 0..4 {
        // The sign-in's connection may take a moment to be released after it closed.
        let start = Instant::now();
        let socket = loop {
            match PhoenixClient::connect(&server.ws_url(), &[("token", &token)]).await {
                Ok(socket) => break socket,
                Err(e) if start.elapsed() > Duration::from_secs(2) => panic!("socket {i}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        sockets.push(socket);
    }
    let (answer, _) = healthz_from(&server, OTHER).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    sockets.pop().unwrap().close().await.expect("close");
    let answer = healthz_recovers(&server, OTHER, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for socket in &mut sockets {
        socket
            .heartbeat()
            .await
            .expect("the other sockets are untouched");
    }
}
