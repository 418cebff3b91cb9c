//! Socket abuse: oversize binary pushes and WebSocket protocol violations.

use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::Payload;
use taina_tests::hardening::WAIT;
use taina_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn an_oversize_binary_push_is_refused_and_nobody_is_disconnected() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let conversation = server.group_conversation(&admin, &[&member_id]).await;
    let topic = format!("conversation:{conversation}");
    let mut sender = server.socket(&member).await;
    let mut other = server.socket(&admin).await;
    sender.join(&topic, json!({})).await.unwrap();
    other.join(&topic, json!({})).await.unwrap();

    // 1.1 MiB: over a quarter of the 1 MiB outbox (and once enough to close every subscriber).
    let big = vec![0xAB; 1100 * 1024];
    match sender.push_binary(&topic, "binary", &big).await {
        Err(ClientError::Refused(reason)) => {
            assert_eq!(reason["reason"], "payload_too_large", "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Both stay connected, and a small push still goes through.
    sender.heartbeat().await.unwrap();
    other.heartbeat().await.unwrap();
    sender
        .push_binary(&topic, "binary", b"\x01\x02\x03")
        .await
        .unwrap();
    let got = other.expect_event(&topic, "binary", WAIT).await.unwrap();
    assert!(matches!(got.payload, Payload::Binary(ref b) if b.as_ref() == b"\x01\x02\x03"));
}

/// A Phoenix socket opened by hand over TCP, so frames no client library would send can be.
async fn raw_socket(server: &TestServer, token: &str) -> tokio::net::TcpStream {
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /socket/websocket?vsn=2.0.0&token={token} HTTP/1.1\r\nhost: {address}\r\n\
         upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Reads server frames until a close frame; its code.
async fn close_code(stream: &mut tokio::net::TcpStream) -> u16 {
    let read = async {
        loop {
            let first = stream.read_u8().await?;
            let mut len = u64::from(stream.read_u8().await? & 0x7F);
            if len == 126 {
                len = u64::from(stream.read_u16().await?);
            } else if len == 127 {
                len = stream.read_u64().await?;
            }
            let mut payload = vec![0; len as usize];
            stream.read_exact(&mut payload).await?;
            if first & 0x0F == 0x8 {
                return Ok::<u16, std::io::Error>(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("a close frame in time")
        .expect("a close frame before the connection ended")
}

#[tokio::test]
async fn websocket_violations_close_with_1002_and_bad_utf8_with_1007() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    // A masked text frame (zero mask) whose payload is not UTF-8.
    let mut socket = raw_socket(&server, &token).await;
    socket
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE])
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, 1007);

    // An unmasked frame from the client breaks RFC 6455 §5.1.
    let mut socket = raw_socket(&server, &token).await;
    socket.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(close_code(&mut socket).await, 1002);

    // Reserved bits set without an extension that defines them.
    let mut socket = raw_socket(&server, &token).await;
    socket
        .write_all(&[0xF1, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, 1002);

    // The server is fine: a normal client still works.
    server.socket(&token).await.heartbeat().await.unwrap();
}
