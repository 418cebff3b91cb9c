//! Drives `MuxClient` against a tiny in-test `taina.v1` server built on
//! tokio-tungstenite that routes frames by shape like the real one: Phoenix
//! text and binary, graphql-transport-ws and MessagePack envelopes on one
//! socket, including a `gql` close envelope that ends only GraphQL.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use support::{GraphqlSide, Out};
use taina_protocol::client::{ClientError, GraphqlEvent, Incoming, MuxClient, Reply, MUX_PROTOCOL};
use taina_protocol::close;
use taina_protocol::envelope::{self, Envelope};
use taina_protocol::phoenix::{
    decode_client_binary, decode_text, encode_server_broadcast, encode_server_reply, encode_text,
    event, reply_payload, Message, Payload,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const WAIT: Duration = Duration::from_secs(5);
const LOBBY: &str = "room:lobby";

/// What the test server observed, for assertions.
#[derive(Default)]
struct Seen {
    queries: Vec<String>,
    offered_protocols: Vec<String>,
    envelope_pongs: Vec<u64>,
}

type Shared = Arc<Mutex<Seen>>;

type Ws = WebSocketStream<TcpStream>;

/// Starts the server on an ephemeral loopback port; returns its socket URL.
async fn start_server() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/socket/websocket", listener.local_addr().unwrap());
    let seen = Shared::default();
    let accept_seen = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, accept_seen.clone()));
        }
    });
    (url, seen)
}

/// The upgrade check: no `vsn` on a mux socket, `token=good` authenticates,
/// another token is a 403, and an offered `taina.v1` is answered unless the
/// query has `plain=1`.
#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes this error type"
)]
fn check_upgrade(
    seen: &Shared,
    authenticated: &Arc<Mutex<bool>>,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let mut seen = seen.lock().unwrap();
    seen.queries.push(query.clone());
    let pairs: Vec<&str> = query.split('&').collect();
    if pairs.iter().any(|pair| pair.starts_with("vsn=")) {
        return Err(refusal(StatusCode::BAD_REQUEST, "vsn on a mux socket"));
    }
    match pairs.iter().find_map(|pair| pair.strip_prefix("token=")) {
        Some("good") => *authenticated.lock().unwrap() = true,
        Some(_) => return Err(refusal(StatusCode::FORBIDDEN, "invalid token")),
        None => {}
    }
    if let Some(offer) = request.headers().get("Sec-WebSocket-Protocol") {
        let offer = offer.to_str().unwrap().to_owned();
        let offers_mux = offer.split(',').any(|p| p.trim() == MUX_PROTOCOL);
        seen.offered_protocols.push(offer);
        if offers_mux && !pairs.contains(&"plain=1") {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(MUX_PROTOCOL),
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

/// One mux connection's state.
struct Conn {
    ws: Ws,
    seen: Shared,
    /// By the upgrade token or by a `connection_init` with one.
    authenticated: bool,
    graphql: GraphqlSide,
}

#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes this error type"
)]
async fn serve(tcp: TcpStream, seen: Shared) {
    let callback_seen = seen.clone();
    let authenticated = Arc::new(Mutex::new(false));
    let callback_authenticated = authenticated.clone();
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, move |req: &Request, resp| {
        check_upgrade(&callback_seen, &callback_authenticated, req, resp)
    })
    .await
    else {
        return;
    };
    let authenticated = *authenticated.lock().unwrap();
    let mut conn = Conn {
        ws,
        seen,
        authenticated,
        graphql: GraphqlSide::new(authenticated),
    };
    while let Some(Ok(frame)) = conn.ws.next().await {
        match frame {
            WsMessage::Text(text) if text.trim_start().starts_with('{') => {
                conn.serve_graphql(&text).await
            }
            WsMessage::Text(text) => match decode_text(&text) {
                Ok(message) => conn.serve_phoenix(message).await,
                Err(_) => conn.close_with(close::INVALID_FRAME, "invalid frame").await,
            },
            WsMessage::Binary(data)
                if data
                    .first()
                    .is_some_and(|&b| envelope::is_envelope_start(b)) =>
            {
                match Envelope::decode(&data) {
                    Ok(envelope) => conn.serve_envelope(envelope).await,
                    Err(_) => {
                        conn.close_with(close::INVALID_FRAME, "invalid envelope")
                            .await
                    }
                }
            }
            WsMessage::Binary(data) => match decode_client_binary(&data) {
                Ok(push) => conn.serve_binary(push).await,
                Err(_) => conn.close_with(close::INVALID_FRAME, "invalid frame").await,
            },
            _ => {}
        }
    }
}

impl Conn {
    async fn serve_graphql(&mut self, text: &str) {
        for out in self.graphql.on_text(text) {
            match out {
                Out::Send(message) => {
                    if message["type"] == "connection_ack" {
                        self.authenticated = true;
                    }
                    self.send_text(message.to_string()).await;
                }
                // Once authenticated only the GraphQL sub-session ends.
                Out::Fatal(code, reason) if self.authenticated => {
                    self.end_graphql(code, &reason).await
                }
                Out::Fatal(code, reason) => self.close_with(code, &reason).await,
            }
        }
    }

    async fn end_graphql(&mut self, code: u16, reason: &str) {
        self.graphql = GraphqlSide::new(true);
        let notice = Envelope::Close {
            sub: envelope::GRAPHQL_SUB.into(),
            code,
            reason: reason.into(),
        };
        self.send_binary(notice.encode()).await;
    }

    async fn serve_phoenix(&mut self, message: Message) {
        match message.event.as_str() {
            event::JOIN if !self.authenticated => {
                self.reply(&message, "error", json!({ "reason": "unauthorized" }))
                    .await
            }
            event::JOIN => {
                let joined = json!({ "joined": message.topic });
                self.reply(&message, "ok", joined).await
            }
            event::HEARTBEAT => self.reply(&message, "ok", json!({})).await,
            "echo" => {
                let Payload::Json(payload) = message.payload.clone() else {
                    unreachable!("text frames carry JSON")
                };
                self.reply(&message, "ok", payload).await
            }
            // All three families arrive before the reply.
            "mixed" => {
                let tick =
                    json!({ "id": "ticks", "type": "next", "payload": { "data": { "ticks": 3 } } });
                self.send_text(tick.to_string()).await;
                self.send_binary(Envelope::Ping { id: 5 }.encode()).await;
                let frame = encode_server_broadcast(&message.topic, "frame", &[1, 2, 3]).unwrap();
                self.send_binary(frame).await;
                self.reply(&message, "ok", json!({})).await
            }
            // The GraphQL sub-session ends just before the Phoenix reply.
            "end_gql" => {
                self.end_graphql(close::graphql::FORBIDDEN, "Forbidden: session revoked")
                    .await;
                self.reply(&message, "ok", json!({ "still": "here" })).await
            }
            "close_me" => self.close_with(close::SESSION_ENDED, "session ended").await,
            "bad_envelope" => {
                self.send_binary(vec![0x81, 0xa1, b't', 0xa3, b'b', b'a', b'd'])
                    .await
            }
            _ => {}
        }
    }

    /// A binary push is answered with its data reversed.
    async fn serve_binary(&mut self, push: Message) {
        let Payload::Binary(data) = &push.payload else {
            unreachable!("binary frames carry binary payloads")
        };
        let reversed: Vec<u8> = data.iter().rev().copied().collect();
        let reply = encode_server_reply(
            push.join_ref.as_deref(),
            push.msg_ref.as_deref(),
            &push.topic,
            "ok",
            &reversed,
        )
        .unwrap();
        self.send_binary(reply).await;
    }

    /// A ping envelope gets a Phoenix broadcast, a pong for another id, then
    /// its own pong; pongs from the client are recorded.
    async fn serve_envelope(&mut self, received: Envelope) {
        match received {
            Envelope::Ping { id } => {
                let pinged = encode_text(None, None, LOBBY, "pinged", &json!({ "id": id }));
                self.send_text(pinged).await;
                self.send_binary(Envelope::Pong { id: id + 100 }.encode())
                    .await;
                self.send_binary(Envelope::Pong { id }.encode()).await;
            }
            Envelope::Pong { id } => self.seen.lock().unwrap().envelope_pongs.push(id),
            Envelope::Close { .. } => {}
        }
    }

    async fn reply(&mut self, to: &Message, status: &str, response: Value) {
        let text = encode_text(
            to.join_ref.as_deref(),
            to.msg_ref.as_deref(),
            &to.topic,
            event::REPLY,
            &reply_payload(status, response),
        );
        self.send_text(text).await;
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws.send(WsMessage::binary(data)).await.unwrap();
    }

    async fn close_with(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        // The client may already be gone in some tests; that is not a failure here.
        let _ = self.ws.close(Some(frame)).await;
    }
}

fn next(id: &str, data: Value) -> GraphqlEvent {
    GraphqlEvent::Next {
        id: id.into(),
        payload: json!({ "data": data }),
    }
}

async fn next_message(client: &mut MuxClient) -> Message {
    match client.next_message(WAIT).await.unwrap() {
        Incoming::Message(message) => message,
        Incoming::Closed { code, reason } => panic!("closed {code}: {reason}"),
    }
}

#[tokio::test]
async fn connect_offers_taina_v1_with_the_token_in_the_query() {
    let (url, seen) = start_server().await;
    let client = MuxClient::connect(&url, "good").await.unwrap();
    assert_eq!(client.negotiated_protocol(), Some("taina.v1"));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.queries, ["token=good"]);
        assert_eq!(seen.offered_protocols, ["taina.v1"]);
    }
    client.close().await.unwrap();

    match MuxClient::connect(&format!("{url}?plain=1"), "good").await {
        Err(ClientError::Handshake { status, .. }) => assert_eq!(status, None),
        other => panic!("expected a handshake error, got {other:?}"),
    }
    match MuxClient::connect(&url, "bad").await {
        Err(ClientError::Handshake { status, body }) => {
            assert_eq!((status, body.as_str()), (Some(403), "invalid token"))
        }
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_are_demultiplexed_by_shape() {
    let (url, seen) = start_server().await;
    let mut client = MuxClient::connect(&url, "good").await.unwrap();
    assert_eq!(
        client.join(LOBBY, json!({})).await.unwrap(),
        json!({ "joined": LOBBY })
    );
    // The upgrade carried the token, so init needs none.
    client.graphql_init(None).await.unwrap();
    client
        .subscribe("ticks", "subscription { ticks }", Value::Null)
        .await
        .unwrap();

    // GraphQL events, an envelope ping and a binary broadcast arrive while the
    // push waits for its reply.
    let reply = client.push(LOBBY, "mixed", json!({})).await.unwrap();
    assert_eq!(reply.response, Payload::Json(json!({})));
    for ticks in 1..=3 {
        assert_eq!(
            client.next_event(WAIT).await.unwrap(),
            next("ticks", json!({ "ticks": ticks }))
        );
    }
    let frame = next_message(&mut client).await;
    assert_eq!(frame.event, "frame");
    assert_eq!(
        frame.payload,
        Payload::Binary(Bytes::from_static(&[1, 2, 3]))
    );
    // The envelope ping was answered on the way (the heartbeat comes after it).
    client.heartbeat().await.unwrap();
    assert_eq!(seen.lock().unwrap().envelope_pongs, [5]);

    // A Phoenix reply that arrives while `execute` waits stays buffered.
    let msg_ref = client
        .push_no_reply(LOBBY, "echo", json!({ "k": 1 }))
        .await
        .unwrap();
    assert_eq!(
        client.execute("{ hello }", Value::Null).await.unwrap(),
        json!({ "data": { "hello": "world" } })
    );
    let echoed = next_message(&mut client).await;
    assert_eq!(
        (echoed.event.as_str(), echoed.msg_ref),
        (event::REPLY, Some(msg_ref))
    );

    // GraphQL pings are answered on a mux socket too.
    assert_eq!(
        client.execute("{ ping }", Value::Null).await.unwrap(),
        json!({ "data": { "pong": { "n": 1 } } })
    );
    // Phoenix binary pushes get binary replies.
    assert_eq!(
        client
            .push_binary(LOBBY, "chunk", &[1, 2, 3])
            .await
            .unwrap(),
        Reply {
            status: "ok".into(),
            response: Payload::Binary(Bytes::from_static(&[3, 2, 1])),
        }
    );
    assert!(matches!(
        client.next_message(Duration::from_millis(50)).await,
        Err(ClientError::Timeout("message"))
    ));
    assert!(matches!(
        client.next_event(Duration::from_millis(50)).await,
        Err(ClientError::Timeout("graphql event"))
    ));
    client.close().await.unwrap();
}

#[tokio::test]
async fn envelope_ping_waits_for_its_own_pong() {
    let (url, _) = start_server().await;
    let mut client = MuxClient::connect(&url, "good").await.unwrap();
    // The server sends a broadcast and the pong for id 107 before id 7's.
    client.envelope_ping(7).await.unwrap();
    let pinged = next_message(&mut client).await;
    assert_eq!(
        (pinged.event.as_str(), pinged.payload),
        ("pinged", Payload::Json(json!({ "id": 7 })))
    );
    client.set_reply_timeout(Duration::from_millis(100));
    // Garbage closes the socket with 4400; a ping waiting meanwhile reports
    // the close.
    client.send_binary(vec![0x07, 0x01]).await.unwrap();
    match client.envelope_ping(8).await {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, close::INVALID_FRAME),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gql_close_envelope_ends_only_graphql() {
    let (url, _) = start_server().await;
    let mut client = MuxClient::connect(&url, "good").await.unwrap();
    client.join(LOBBY, json!({})).await.unwrap();
    client.graphql_init(None).await.unwrap();
    client
        .subscribe("ticks", "subscription { ticks }", Value::Null)
        .await
        .unwrap();

    // The close envelope arrives first; the Phoenix reply still does.
    let reply = client.push(LOBBY, "end_gql", json!({})).await.unwrap();
    assert_eq!(reply.response, Payload::Json(json!({ "still": "here" })));
    let ended = GraphqlEvent::Closed {
        code: close::graphql::FORBIDDEN,
        reason: "Forbidden: session revoked".into(),
    };
    for expected in [
        next("ticks", json!({ "ticks": 1 })),
        next("ticks", json!({ "ticks": 2 })),
        ended.clone(),
        ended.clone(),
    ] {
        assert_eq!(client.next_event(WAIT).await.unwrap(), expected);
    }
    assert!(matches!(
        client.execute("{ hello }", Value::Null).await,
        Err(ClientError::Closed {
            code: close::graphql::FORBIDDEN,
            ..
        })
    ));

    // Phoenix carries on.
    client.heartbeat().await.unwrap();
    let echoed = client.push(LOBBY, "echo", json!({ "a": 1 })).await.unwrap();
    assert_eq!(echoed.response, Payload::Json(json!({ "a": 1 })));

    // A new sub-session starts over; a fatal error while `execute` waits ends
    // it again, as an error.
    client.graphql_init(None).await.unwrap();
    assert_eq!(
        client.execute("{ hello }", Value::Null).await.unwrap(),
        json!({ "data": { "hello": "world" } })
    );
    match client.execute("{ fatal }", Value::Null).await {
        Err(ClientError::Closed { code, reason }) => assert_eq!(
            (code, reason.as_str()),
            (close::graphql::INTERNAL, "Internal server error")
        ),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        client.next_event(WAIT).await.unwrap(),
        GraphqlEvent::Closed {
            code: close::graphql::INTERNAL,
            ..
        }
    ));
    client.push(LOBBY, "echo", json!({})).await.unwrap();

    // The socket's own close reaches both sides.
    client
        .push_no_reply(LOBBY, "close_me", json!({}))
        .await
        .unwrap();
    let closed = Incoming::Closed {
        code: close::SESSION_ENDED,
        reason: "session ended".into(),
    };
    assert_eq!(client.next_message(WAIT).await.unwrap(), closed);
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        GraphqlEvent::Closed {
            code: close::SESSION_ENDED,
            reason: "session ended".into(),
        }
    );
}

#[tokio::test]
async fn without_a_token_graphql_init_authenticates() {
    let (url, seen) = start_server().await;
    let mut client = MuxClient::connect_without_token(&url).await.unwrap();
    assert_eq!(seen.lock().unwrap().queries, [""]);
    match client.join(LOBBY, json!({})).await {
        Err(ClientError::Refused(response)) => {
            assert_eq!(response, json!({ "reason": "unauthorized" }))
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    client.graphql_init(Some("good")).await.unwrap();
    client.join(LOBBY, json!({})).await.unwrap();
    assert_eq!(
        client.execute("{ seen }", Value::Null).await.unwrap()["data"]["inits"],
        json!([{ "token": "good" }])
    );

    // Unauthenticated, a rejected init closes the whole socket.
    let mut client = MuxClient::connect_without_token(&url).await.unwrap();
    match client.graphql_init(None).await {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!(
                (code, reason.as_str()),
                (close::graphql::FORBIDDEN, "Forbidden")
            )
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        client.next_message(WAIT).await.unwrap(),
        Incoming::Closed {
            code: close::graphql::FORBIDDEN,
            ..
        }
    ));
}

#[tokio::test]
async fn undecodable_envelopes_are_errors() {
    let (url, _) = start_server().await;
    let mut client = MuxClient::connect(&url, "good").await.unwrap();
    client
        .push_no_reply(LOBBY, "bad_envelope", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        client.next_message(WAIT).await,
        Err(ClientError::Envelope(_))
    ));
}
