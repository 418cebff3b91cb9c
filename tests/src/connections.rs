//! Helpers shared by the connections suite's modules (tests/tests/connections): raw TCP clients
//! that pick their source address, and what became of their connections.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::TestServer;

pub const FLOOD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

pub const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// One request line and no end of headers: the slow client of the issue.
pub const REQUEST_LINE: &[u8] = b"GET /healthz HTTP/1.1\r\n";

pub const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: taina\r\n\r\n";

pub const HEALTHZ_CLOSE: &[u8] =
    b"GET /healthz HTTP/1.1\r\nHost: taina\r\nConnection: close\r\n\r\n";

pub fn server_address(server: &TestServer) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// A TCP connection to the server from `source` (port chosen by the kernel).
pub async fn connect_from(server: &TestServer, source: Ipv4Addr) -> TcpStream {
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
pub enum Fate {
    /// The server closed it (end of stream or reset); what it wrote first.
    Closed(String),
    Open,
}

pub async fn fate_within(stream: &mut TcpStream, wait: Duration) -> Fate {
    let mut received = Vec::new();
    match timeout(wait, stream.read_to_end(&mut received)).await {
        // A reset after the answer still leaves the answer in `received`.
        Ok(_) => Fate::Closed(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => Fate::Open,
    }
}

/// `GET /healthz` from `source` on a fresh connection; the whole answer and how long it took
/// from connecting to the server closing the connection.
pub async fn healthz_from(server: &TestServer, source: Ipv4Addr) -> (String, Duration) {
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
pub async fn read_response(stream: &mut TcpStream) -> String {
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
