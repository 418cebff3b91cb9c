//! The header-read timeout and the keep-alive idle timeout.

use std::time::{Duration, Instant};

use taina_tests::connections::{
    connect_from, fate_within, healthz_from, read_response, Fate, FLOOD, HEALTHZ, REQUEST_LINE,
};
use taina_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

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
        None,
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
