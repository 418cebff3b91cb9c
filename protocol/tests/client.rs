//! Drives `PhoenixClient` against a tiny in-test Phoenix V2 server built on
//! tokio-tungstenite: joins, pushes, binary frames, pings, closes and the
//! handshake paths (params, authToken subprotocol, HTTP refusal).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use taina_protocol::client::{ClientError, ConnectOptions, Incoming, PhoenixClient, Reply};
use taina_protocol::close;
use taina_protocol::phoenix::{
    decode_client_binary, decode_text, encode_server_broadcast, encode_server_push,
    encode_server_reply, encode_text, event, reply_payload, DecodeError, Message, Payload,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const WAIT: Duration = Duration::from_secs(5);

/// What the test server observed, for assertions.
#[derive(Default)]
struct Seen {
    queries: Vec<String>,
    offered_protocols: Vec<String>,
    tokens: Vec<String>,
    client_closes: Vec<u16>,
    peers: Vec<std::net::SocketAddr>,
}

type Shared = Arc<Mutex<Seen>>;

/// Starts the server on an ephemeral loopback port; returns its socket URL.
async fn start_server() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/socket/websocket", listener.local_addr().unwrap());
    let seen = Shared::default();
    let accept_seen = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            accept_seen.lock().unwrap().peers.push(peer);
            tokio::spawn(serve(tcp, accept_seen.clone()));
        }
    });
    (url, seen)
}

/// The upgrade check: vsn must be the last query parameter, `deny=1` gets a
/// 403, and an offered `phoenix` subprotocol is answered with `phoenix`.
#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes this error type"
)]
fn check_upgrade(
    seen: &Shared,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    seen.lock().unwrap().queries.push(query.clone());
    if query.split('&').any(|pair| pair == "deny=1") {
        return Err(refusal(StatusCode::FORBIDDEN, "forbidden"));
    }
    if !query.ends_with("vsn=2.0.0") {
        return Err(refusal(StatusCode::BAD_REQUEST, "vsn"));
    }
    if let Some(offer) = request.headers().get("Sec-WebSocket-Protocol") {
        let offer = offer.to_str().unwrap().to_owned();
        let protocols: Vec<&str> = offer.split(',').map(str::trim).collect();
        let mut seen = seen.lock().unwrap();
        for protocol in &protocols {
            if let Some(encoded) = protocol.strip_prefix("base64url.bearer.phx.") {
                let token = base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(encoded)
                    .unwrap();
                seen.tokens.push(String::from_utf8(token).unwrap());
            }
        }
        seen.offered_protocols.push(offer.clone());
        if protocols.contains(&"phoenix") {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("phoenix"),
            );
        }
    }
    Ok(response)
}

fn refusal(status: StatusCode, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() = status;
    response
}

#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes this error type"
)]
async fn serve(tcp: TcpStream, seen: Shared) {
    let callback_seen = seen.clone();
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, move |req: &Request, resp| {
        check_upgrade(&callback_seen, req, resp)
    })
    .await
    else {
        return;
    };
    // The push waiting for a pong before it is answered, if any.
    let mut awaiting_pong: Option<Message> = None;
    while let Some(Ok(frame)) = ws.next().await {
        let message = match frame {
            WsMessage::Text(text) => decode_text(&text),
            WsMessage::Binary(data) => decode_client_binary(&data),
            WsMessage::Pong(data) => {
                if let Some(push) = awaiting_pong.take() {
                    let pong = String::from_utf8(data.to_vec()).unwrap();
                    reply(&mut ws, &push, "ok", json!({ "pong": pong })).await;
                }
                continue;
            }
            WsMessage::Close(frame) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                seen.lock().unwrap().client_closes.push(code);
                continue;
            }
            _ => continue,
        };
        let Ok(message) = message else {
            close_with(&mut ws, close::INVALID_FRAME, "invalid frame").await;
            continue;
        };
        if matches!(message.payload, Payload::Binary(_)) {
            serve_binary(&mut ws, &message).await;
            continue;
        }
        match message.event.as_str() {
            event::JOIN if message.topic == "room:forbidden" => {
                reply(
                    &mut ws,
                    &message,
                    "error",
                    json!({"reason": "unauthorized"}),
                )
                .await;
            }
            event::JOIN => serve_join(&mut ws, &message).await,
            event::HEARTBEAT => reply(&mut ws, &message, "ok", json!({})).await,
            event::LEAVE => {
                reply(&mut ws, &message, "ok", json!({})).await;
                let join_ref = message.join_ref.as_deref();
                let closed =
                    encode_text(join_ref, join_ref, &message.topic, event::CLOSE, &json!({}));
                ws.send(WsMessage::text(closed)).await.unwrap();
            }
            "echo" => {
                let Payload::Json(payload) = message.payload.clone() else {
                    unreachable!("binary handled above")
                };
                reply(&mut ws, &message, "ok", payload).await;
            }
            "fail" => reply(&mut ws, &message, "error", json!({"reason": "nope"})).await,
            "ping_me" => {
                ws.send(WsMessage::Ping(Bytes::from_static(b"hi")))
                    .await
                    .unwrap();
                awaiting_pong = Some(message);
            }
            "close_me" => close_with(&mut ws, close::SESSION_ENDED, "session ended").await,
            "garbage" => ws.send(WsMessage::text("{}")).await.unwrap(),
            // "silent" and anything else: no reply, for timeout tests
            _ => {}
        }
    }
}

/// Answers a join, then sends presence state, a text broadcast and a binary
/// broadcast, in that order.
async fn serve_join(ws: &mut WebSocketStream<TcpStream>, join: &Message) {
    let Payload::Json(payload) = &join.payload else {
        unreachable!("joins are text")
    };
    reply(
        ws,
        join,
        "ok",
        json!({"joined": join.topic, "payload": payload}),
    )
    .await;
    let join_ref = join.join_ref.as_deref();
    let state = encode_text(
        join_ref,
        None,
        &join.topic,
        event::PRESENCE_STATE,
        &json!({}),
    );
    let welcome = encode_text(None, None, &join.topic, "welcome", &json!({"n": 1}));
    let frame = encode_server_broadcast(&join.topic, "frame", &[1, 2, 3]).unwrap();
    ws.send(WsMessage::text(state)).await.unwrap();
    ws.send(WsMessage::text(welcome)).await.unwrap();
    ws.send(WsMessage::binary(frame)).await.unwrap();
}

/// Binary pushes: a binary push event `echoed` with the data, then a binary
/// reply carrying the data reversed (status `error` for event `bin_fail`).
async fn serve_binary(ws: &mut WebSocketStream<TcpStream>, push: &Message) {
    let Payload::Binary(data) = &push.payload else {
        unreachable!("checked by the caller")
    };
    let join_ref = push.join_ref.as_deref();
    let echoed = encode_server_push(join_ref, &push.topic, "echoed", data).unwrap();
    ws.send(WsMessage::binary(echoed)).await.unwrap();
    let status = if push.event == "bin_fail" {
        "error"
    } else {
        "ok"
    };
    let reversed: Vec<u8> = data.iter().rev().copied().collect();
    let reply = encode_server_reply(
        join_ref,
        push.msg_ref.as_deref(),
        &push.topic,
        status,
        &reversed,
    )
    .unwrap();
    ws.send(WsMessage::binary(reply)).await.unwrap();
}

async fn reply(ws: &mut WebSocketStream<TcpStream>, to: &Message, status: &str, response: Value) {
    let text = encode_text(
        to.join_ref.as_deref(),
        to.msg_ref.as_deref(),
        &to.topic,
        event::REPLY,
        &reply_payload(status, response),
    );
    ws.send(WsMessage::text(text)).await.unwrap();
}

async fn close_with(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    // The client may already be gone in some tests; that is not a failure here.
    let _ = ws.close(Some(frame)).await;
}

async fn next(client: &mut PhoenixClient) -> Message {
    match client.next_message(WAIT).await.unwrap() {
        Incoming::Message(message) => message,
        Incoming::Closed { code, reason } => panic!("closed {code}: {reason}"),
    }
}

#[tokio::test]
async fn connect_sends_params_first_and_vsn_last() {
    let (url, seen) = start_server().await;
    let client = PhoenixClient::connect(&url, &[("token", "a b&c"), ("user_id", "1")])
        .await
        .unwrap();
    assert_eq!(client.negotiated_protocol(), None);
    assert_eq!(
        seen.lock().unwrap().queries,
        ["token=a%20b%26c&user_id=1&vsn=2.0.0"]
    );
    assert!(seen.lock().unwrap().offered_protocols.is_empty());
    client.close().await.unwrap();
}

#[tokio::test]
async fn connections_can_come_from_a_chosen_loopback_address() {
    let (url, seen) = start_server().await;
    let from = std::net::IpAddr::from([127, 0, 0, 7]);
    let mut client = PhoenixClient::connect_with(&url, &[], &ConnectOptions::from_address(from))
        .await
        .unwrap();
    client.heartbeat().await.unwrap();
    assert_eq!(seen.lock().unwrap().peers[0].ip(), from);
    client.close().await.unwrap();
    // Without options the kernel picks 127.0.0.1.
    let client = PhoenixClient::connect(&url, &[]).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().peers[1].ip(),
        std::net::IpAddr::from([127, 0, 0, 1])
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn auth_token_is_offered_as_a_subprotocol() {
    let (url, seen) = start_server().await;
    let client = PhoenixClient::connect_with_auth_token(&url, "my-secret/token?")
        .await
        .unwrap();
    assert_eq!(client.negotiated_protocol(), Some("phoenix"));
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.offered_protocols,
        ["phoenix, base64url.bearer.phx.bXktc2VjcmV0L3Rva2VuPw"]
    );
    assert_eq!(seen.tokens, ["my-secret/token?"]);
    assert_eq!(seen.queries, ["vsn=2.0.0"]);
}

#[tokio::test]
async fn http_refusal_is_a_handshake_error() {
    let (url, _) = start_server().await;
    match PhoenixClient::connect(&url, &[("deny", "1")]).await {
        Err(ClientError::Handshake { status, body }) => {
            assert_eq!(status, Some(403));
            assert_eq!(body, "forbidden");
        }
        Err(other) => panic!("expected a handshake error, got {other:?}"),
        Ok(_) => panic!("expected a handshake error, got a connection"),
    }
}

#[tokio::test]
async fn join_returns_the_response_and_keeps_later_messages_in_order() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    let response = client.join("room:lobby", json!({"a": 1})).await.unwrap();
    assert_eq!(
        response,
        json!({"joined": "room:lobby", "payload": {"a": 1}})
    );
    assert_eq!(client.join_ref("room:lobby"), Some("1"));

    // The binary broadcast is the last of three; the two before it stay buffered.
    let frame = client
        .expect_event("room:lobby", "frame", WAIT)
        .await
        .unwrap();
    assert_eq!(frame.join_ref, None);
    assert_eq!(
        frame.payload,
        Payload::Binary(Bytes::from_static(&[1, 2, 3]))
    );

    let state = next(&mut client).await;
    assert_eq!(state.event, event::PRESENCE_STATE);
    assert_eq!(state.join_ref.as_deref(), Some("1"));
    assert_eq!(state.msg_ref, None);
    let welcome = next(&mut client).await;
    assert_eq!(welcome.event, "welcome");
    assert_eq!(welcome.payload, Payload::Json(json!({"n": 1})));
    assert!(matches!(
        client.next_message(Duration::from_millis(50)).await,
        Err(ClientError::Timeout("message"))
    ));
    client.close().await.unwrap();
}

#[tokio::test]
async fn push_waits_for_its_own_reply() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.join("room:lobby", json!({})).await.unwrap();
    let reply = client
        .push("room:lobby", "echo", json!({"body": "hi"}))
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply {
            status: "ok".into(),
            response: Payload::Json(json!({"body": "hi"})),
        }
    );
    // Join side effects arrived before the reply and were kept.
    assert_eq!(next(&mut client).await.event, event::PRESENCE_STATE);
    assert!(client.heartbeat().await.unwrap() < WAIT);
}

#[tokio::test]
async fn refused_join_and_push_are_errors() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    match client.join("room:forbidden", json!({})).await {
        Err(ClientError::Refused(response)) => {
            assert_eq!(response, json!({"reason": "unauthorized"}))
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(client.join_ref("room:forbidden"), None);
    match client.push("room:lobby", "fail", json!({})).await {
        Err(ClientError::Refused(response)) => assert_eq!(response, json!({"reason": "nope"})),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn binary_push_gets_a_binary_reply() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.join("upload:42", json!({})).await.unwrap();
    let reply = client
        .push_binary("upload:42", "chunk", &[1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply {
            status: "ok".into(),
            response: Payload::Binary(Bytes::from_static(&[3, 2, 1])),
        }
    );
    let echoed = client
        .expect_event("upload:42", "echoed", WAIT)
        .await
        .unwrap();
    assert_eq!(echoed.join_ref.as_deref(), Some("1"));
    assert_eq!(
        echoed.payload,
        Payload::Binary(Bytes::from_static(&[1, 2, 3]))
    );
    match client
        .push_binary("upload:42", "bin_fail", &[0xFB, 0xFF])
        .await
    {
        // binary error data is carried as standard base64
        Err(ClientError::Refused(response)) => assert_eq!(response, json!("//s=")),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn leave_forgets_the_join_ref_and_buffers_phx_close() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.join("room:lobby", json!({})).await.unwrap();
    client.leave("room:lobby").await.unwrap();
    assert_eq!(client.join_ref("room:lobby"), None);
    let closed = client
        .expect_event("room:lobby", event::CLOSE, WAIT)
        .await
        .unwrap();
    assert_eq!(closed.join_ref.as_deref(), Some("1"));
    assert_eq!(closed.msg_ref.as_deref(), Some("1"));
}

#[tokio::test]
async fn pings_are_answered_while_waiting() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    // The server only replies once it has received the pong for its ping.
    let reply = client
        .push("room:lobby", "ping_me", json!({}))
        .await
        .unwrap();
    assert_eq!(reply.response, Payload::Json(json!({"pong": "hi"})));
}

#[tokio::test]
async fn push_no_reply_returns_the_ref_to_match_later() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    let first = client
        .push_no_reply("room:lobby", "echo", json!({"k": 1}))
        .await
        .unwrap();
    let second = client
        .push_no_reply("room:lobby", "echo", json!({"k": 2}))
        .await
        .unwrap();
    assert_ne!(first, second);
    let reply = next(&mut client).await;
    assert_eq!(reply.event, event::REPLY);
    assert_eq!(reply.msg_ref, Some(first));
    assert_eq!(next(&mut client).await.msg_ref, Some(second));
}

#[tokio::test]
async fn server_close_is_reported_and_remembered() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client
        .push_no_reply("room:lobby", "close_me", json!({}))
        .await
        .unwrap();
    let closed = Incoming::Closed {
        code: close::SESSION_ENDED,
        reason: "session ended".into(),
    };
    assert_eq!(client.next_message(WAIT).await.unwrap(), closed);
    assert_eq!(client.next_message(WAIT).await.unwrap(), closed);
    match client.push("room:lobby", "echo", json!({})).await {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, close::SESSION_ENDED),
        other => panic!("expected Closed, got {other:?}"),
    }
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_close_while_awaiting_a_reply_is_an_error() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    match client.push("room:lobby", "close_me", json!({})).await {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!(
                (code, reason.as_str()),
                (close::SESSION_ENDED, "session ended")
            )
        }
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn raw_frames_reach_the_server_unchanged() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.send_text("[1,2]".into()).await.unwrap();
    assert_eq!(
        client.next_message(WAIT).await.unwrap(),
        Incoming::Closed {
            code: close::INVALID_FRAME,
            reason: "invalid frame".into(),
        }
    );

    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.send_binary(vec![0x82, 0xA1]).await.unwrap();
    assert!(matches!(
        client.next_message(WAIT).await.unwrap(),
        Incoming::Closed {
            code: close::INVALID_FRAME,
            ..
        }
    ));
}

#[tokio::test]
async fn undecodable_server_frames_are_decode_errors() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client
        .push_no_reply("room:lobby", "garbage", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        client.next_message(WAIT).await,
        Err(ClientError::Decode(DecodeError::NotArray))
    ));
}

#[tokio::test]
async fn missing_replies_time_out() {
    let (url, _) = start_server().await;
    let mut client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.set_reply_timeout(Duration::from_millis(100));
    assert!(matches!(
        client.push("room:lobby", "silent", json!({})).await,
        Err(ClientError::Timeout("push reply"))
    ));
}

#[tokio::test]
async fn close_sends_a_normal_close_frame() {
    let (url, seen) = start_server().await;
    let client = PhoenixClient::connect(&url, &[]).await.unwrap();
    client.close().await.unwrap();
    // The close completes its handshake, so the server has seen the frame.
    assert_eq!(seen.lock().unwrap().client_closes, [close::NORMAL]);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("ws://{addr}/socket/websocket");
    assert!(matches!(
        PhoenixClient::connect(&url, &[]).await,
        Err(ClientError::Ws(_))
    ));
}
