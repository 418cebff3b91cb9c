//! The connection layer end to end over raw TCP: the per-address cap, the global cap, the
//! header-read and keep-alive idle timeouts, WebSocket upgrades under both caps, and shutdown
//! with such connections open. Clients pick their source address (127.0.0.x) so that one
//! address can be flooded while another is checked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use taina_protocol::client::{ConnectOptions, PhoenixClient};
use taina_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

const FLOOD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const THIRD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// One request line and no end of headers: the slow client of the issue.
const REQUEST_LINE: &[u8] = b"GET /healthz HTTP/1.1\r\n";
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: taina\r\n\r\n";
const HEALTHZ_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: taina\r\nConnection: close\r\n\r\n";

fn server_address(server: &TestServer) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// A TCP connection to the server from `source` (port chosen by the kernel).
async fn connect_from(server: &TestServer, source: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind source address");
    socket
        .connect(server_address(server))
        .await
        .expect("connect")
}

/// What became of a connection within a wait.
#[derive(Debug)]
enum Fate {
    /// The server closed it (end of stream or reset); what it wrote first.
    Closed(String),
    Open,
}

async fn fate_within(stream: &mut TcpStream, wait: Duration) -> Fate {
    let mut received = Vec::new();
    match timeout(wait, stream.read_to_end(&mut received)).await {
        // A reset after the answer still leaves the answer in `received`.
        Ok(_) => Fate::Closed(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => Fate::Open,
    }
}

/// `GET /healthz` from `source` on a fresh connection; the whole answer and how long it took
/// from connecting to the server closing the connection.
async fn healthz_from(server: &TestServer, source: Ipv4Addr) -> (String, Duration) {
    let start = Instant::now();
    let mut stream = connect_from(server, source).await;
    stream.write_all(HEALTHZ_CLOSE).await.expect("write");
    let mut received = Vec::new();
    let _ = timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    (
        String::from_utf8_lossy(&received).into_owned(),
        start.elapsed(),
    )
}

/// Reads one response (head and `content-length` body) off a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        let n = timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("response in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).expect("ASCII head");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    format!("{head}{}", String::from_utf8_lossy(&body))
}

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

/// Silent, half-sent and trickling headers are all cut at the header-read timeout, counted
/// from the connection opening; a complete request is unaffected.
#[tokio::test]
async fn incomplete_headers_are_cut_at_the_header_read_timeout() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.http.header_read_timeout_seconds = 1;
            c.http.keep_alive_idle_seconds = 1;
        })
        .start()
        .await;
    let start = Instant::now();
    let mut silent = connect_from(&server, FLOOD).await;
    let mut partial = connect_from(&server, FLOOD).await;
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: taina\r\n")
        .await
        .unwrap();
    let trickling = connect_from(&server, FLOOD).await;
    let (mut trickle_read, mut trickle_write) = trickling.into_split();
    let trickler = tokio::spawn(async move {
        trickle_write.write_all(REQUEST_LINE).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            trickle_write.write_all(b"X").await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });

    let wait = Duration::from_secs(3);
    let (silent_fate, partial_fate, trickle_fate) = tokio::join!(
        async {
            let fate = fate_within(&mut silent, wait).await;
            (fate, start.elapsed())
        },
        async {
            let fate = fate_within(&mut partial, wait).await;
            (fate, start.elapsed())
        },
        async {
            let mut received = Vec::new();
            let fate = timeout(wait, trickle_read.read_to_end(&mut received)).await;
            (fate.is_ok(), start.elapsed())
        },
    );
    trickler.abort();
    for (name, closed, at) in [
        (
            "silent",
            matches!(silent_fate.0, Fate::Closed(_)),
            silent_fate.1,
        ),
        (
            "partial",
            matches!(partial_fate.0, Fate::Closed(_)),
            partial_fate.1,
        ),
        ("trickling", trickle_fate.0, trickle_fate.1),
    ] {
        assert!(closed, "{name} connection still open after {at:?}");
        assert!(
            at >= Duration::from_millis(900),
            "{name} closed early: {at:?}"
        );
    }
    let (answer, _) = healthz_from(&server, FLOOD).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A keep-alive connection is reused while requests keep coming and closed once it has been
/// idle for `keep_alive_idle_seconds`, well before the header-read timeout would close it.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.http.header_read_timeout_seconds = 10;
            c.http.keep_alive_idle_seconds = 1;
        })
        .start()
        .await;
    let mut stream = connect_from(&server, FLOOD).await;
    for _ in 0..3 {
        stream.write_all(HEALTHZ).await.unwrap();
        let answer = read_response(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let idle_from = Instant::now() - Duration::from_millis(400);
    match fate_within(&mut stream, Duration::from_secs(3)).await {
        Fate::Closed(rest) => assert!(rest.is_empty(), "{rest}"),
        Fate::Open => panic!("an idle keep-alive connection is still open"),
    }
    let idle = idle_from.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&idle),
        "closed after {idle:?} idle"
    );
}

/// What the keep-alive idle limit relies on: hyper's header-read timer (1 s here) restarts
/// after each response, so it closes an idle keep-alive connection even when the idle limit
/// is longer (only reachable by building `Settings` directly: the configuration refuses it).
#[tokio::test]
async fn the_header_read_timer_restarts_after_each_response() {
    let server = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let settings = taina::connections::Settings {
        header_read_timeout: Duration::from_secs(1),
        keep_alive_idle: Duration::from_secs(30),
        max_connections_per_address: 16,
        max_connections: 16,
    };
    let router = taina::http::router(server.state.clone());
    tokio::spawn(taina::connections::serve(
        listener,
        router,
        settings,
        std::future::pending(),
    ));
    let mut stream = TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // 1.4 s after connecting: only a timer restarted by the response can close it now.
    let idle_from = Instant::now();
    assert!(matches!(
        fate_within(&mut stream, Duration::from_secs(3)).await,
        Fate::Closed(_)
    ));
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");
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

/// Shutdown with connections open: an idle keep-alive connection is closed at once, a slow
/// one is dropped when the grace period (2 s in tests) ends, and the server stops.
#[tokio::test]
async fn shutdown_closes_idle_connections_and_ends_within_the_grace_period() {
    let server = TestServer::builder()
        .with_config(|c| c.http.header_read_timeout_seconds = 30)
        .start()
        .await;
    let mut idle = connect_from(&server, FLOOD).await;
    idle.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    let mut slow = connect_from(&server, FLOOD).await;
    slow.write_all(REQUEST_LINE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    let stop = tokio::spawn(server.stop());
    assert!(matches!(
        fate_within(&mut idle, Duration::from_secs(1)).await,
        Fate::Closed(_)
    ));
    timeout(Duration::from_secs(5), stop)
        .await
        .expect("stops within the grace period")
        .expect("server task");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}
