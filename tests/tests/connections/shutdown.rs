//! Shutdown with connections still open.

use std::time::{Duration, Instant};

use taina_tests::connections::{
    connect_from, fate_within, read_response, Fate, FLOOD, HEALTHZ, REQUEST_LINE,
};
use taina_tests::TestServer;
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

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
