//! The upgrade: routing by version, connection limits as HTTP errors, idle sockets closed.

use reqwest::StatusCode;
use serde_json::Value;
use taina_protocol::client::{ClientError, PhoenixClient};
use taina_protocol::close;
use taina_tests::socket::closed_with;
use taina_tests::TestServer;

async fn raw_upgrade(
    server: &TestServer,
    query: &str,
    protocols: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .get(format!("{}/socket/websocket{query}", server.url))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(protocols) = protocols {
        request = request.header("sec-websocket-protocol", protocols);
    }
    let reply = server.send(request).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn the_upgrade_routes_by_version_and_refuses_what_it_does_not_serve() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let t = format!("?token={token}");

    let (status, body) = raw_upgrade(&server, &t, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "unsupported_protocol");
    assert!(body["error"]["message"].as_str().unwrap().contains("vsn"));
    let (status, _) = raw_upgrade(&server, &format!("{t}&vsn=1.0.0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = raw_upgrade(&server, &format!("{t}&vsn=2.0.0"), Some("graphql-ws")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = raw_upgrade(&server, "?vsn=2.0.0", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("missing_token"))
    );
    let plain = server.get("/socket/websocket?vsn=2.0.0", None).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);

    match PhoenixClient::connect(&server.ws_url(), &[("token", "not-a-token")]).await {
        Err(ClientError::Handshake {
            status: Some(403),
            body,
        }) => assert!(body.contains("invalid_token"), "{body}"),
        other => panic!("expected 403, got {other:?}"),
    }

    // Without subprotocols no subprotocol is answered; with the authToken form, `phoenix` is.
    let plain = server.socket(&token).await;
    assert_eq!(plain.negotiated_protocol(), None);
    let mut by_header = PhoenixClient::connect_with_auth_token(&server.ws_url(), &token)
        .await
        .unwrap();
    assert_eq!(by_header.negotiated_protocol(), Some("phoenix"));
    by_header.heartbeat().await.unwrap();
}

#[tokio::test]
async fn connection_limits_are_http_errors() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.max_connections_per_user = 2)
        .start()
        .await;
    let token = server.admin().await;
    let _a = server.socket(&token).await;
    let _b = server.socket(&token).await;
    match PhoenixClient::connect(&server.ws_url(), &[("token", &token)]).await {
        Err(ClientError::Handshake {
            status: Some(429),
            body,
        }) => assert!(body.contains("too_many_connections")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn idle_sockets_are_closed() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.idle_timeout_seconds = 1)
        .start()
        .await;
    let token = server.admin().await;
    let mut socket = server.socket(&token).await;
    assert_eq!(closed_with(&mut socket).await, close::IDLE_TIMEOUT);
}
