//! Drives `GraphqlClient` against a tiny in-test graphql-transport-ws server
//! built on tokio-tungstenite: the handshake and `connection_init`, server
//! pings, subscriptions, `execute` with other operations' events around it,
//! `error` answers, timeouts and the close codes of the protocol.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use support::{GraphqlSide, Out};
use taina_protocol::client::{ClientError, GraphqlClient, GraphqlEvent, GRAPHQL_PROTOCOL};
use taina_protocol::close;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const WAIT: Duration = Duration::from_secs(5);

/// What the test server observed, for assertions.
#[derive(Default)]
struct Seen {
    queries: Vec<String>,
    offered_protocols: Vec<String>,
    client_closes: Vec<u16>,
}

type Shared = Arc<Mutex<Seen>>;

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

/// The upgrade check: an offered `graphql-transport-ws` is answered, unless
/// the query has `plain=1`.
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
    let mut seen = seen.lock().unwrap();
    seen.queries.push(query.clone());
    if let Some(offer) = request.headers().get("Sec-WebSocket-Protocol") {
        let offer = offer.to_str().unwrap().to_owned();
        let offers_graphql = offer.split(',').any(|p| p.trim() == GRAPHQL_PROTOCOL);
        seen.offered_protocols.push(offer);
        if offers_graphql && !query.split('&').any(|pair| pair == "plain=1") {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(GRAPHQL_PROTOCOL),
            );
        }
    }
    Ok(response)
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
    let mut graphql = GraphqlSide::new(false);
    while let Some(Ok(frame)) = ws.next().await {
        match frame {
            WsMessage::Text(text) => {
                for out in graphql.on_text(&text) {
                    match out {
                        Out::Send(message) => {
                            ws.send(WsMessage::text(message.to_string())).await.unwrap();
                        }
                        Out::Fatal(code, reason) => close_with(&mut ws, code, &reason).await,
                    }
                }
            }
            WsMessage::Binary(_) => {
                close_with(&mut ws, close::graphql::INVALID_MESSAGE, "binary frame").await;
            }
            WsMessage::Close(frame) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                seen.lock().unwrap().client_closes.push(code);
            }
            _ => {}
        }
    }
}

async fn close_with(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    // The client may already be gone in some tests; that is not a failure here.
    let _ = ws.close(Some(frame)).await;
}

fn next(id: &str, data: Value) -> GraphqlEvent {
    GraphqlEvent::Next {
        id: id.into(),
        payload: json!({ "data": data }),
    }
}

async fn seen_by_graphql(client: &mut GraphqlClient) -> Value {
    client.execute("{ seen }", Value::Null).await.unwrap()["data"].clone()
}

#[tokio::test]
async fn connect_offers_the_subprotocol_and_sends_the_token_in_init() {
    let (url, seen) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    assert_eq!(client.negotiated_protocol(), Some("graphql-transport-ws"));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.offered_protocols, ["graphql-transport-ws"]);
        // No Phoenix `vsn`, no token in the URL.
        assert_eq!(seen.queries, [""]);
    }
    assert_eq!(
        seen_by_graphql(&mut client).await["inits"],
        json!([{ "token": "good" }])
    );
    client.close().await.unwrap();
    assert_eq!(seen.lock().unwrap().client_closes, [close::NORMAL]);
}

#[tokio::test]
async fn an_unanswered_subprotocol_is_a_handshake_error() {
    let (url, _) = start_server().await;
    match GraphqlClient::connect(&format!("{url}?plain=1"), "good").await {
        Err(ClientError::Handshake { status, .. }) => assert_eq!(status, None),
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rejected_init_is_a_close() {
    let (url, _) = start_server().await;
    match GraphqlClient::connect(&url, "bad").await {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!(
                (code, reason.as_str()),
                (close::graphql::FORBIDDEN, "Forbidden")
            )
        }
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_ack_times_out() {
    let (url, _) = start_server().await;
    let started = tokio::time::Instant::now();
    match GraphqlClient::connect_with_timeout(&url, "slow", Duration::from_millis(100)).await {
        Err(ClientError::Timeout(what)) => assert_eq!(what, "connection_ack"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < WAIT);
}

#[tokio::test]
async fn server_pings_are_answered_and_not_surfaced() {
    let (url, _) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    // The server sends a pong (ignored) and a ping, and only answers the
    // operation once it has the client's pong, which echoes the payload.
    client
        .subscribe("p", "{ ping }", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("p", json!({ "pong": { "n": 1 } }))
    );
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        GraphqlEvent::Complete { id: "p".into() }
    );
    assert!(matches!(
        client.next_event(Duration::from_millis(50)).await,
        Err(ClientError::Timeout("graphql event"))
    ));
}

#[tokio::test]
async fn subscriptions_stream_until_completed() {
    let (url, _) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    client
        .subscribe("ticks", "subscription { ticks }", json!({}))
        .await
        .unwrap();
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("ticks", json!({ "ticks": 1 }))
    );
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("ticks", json!({ "ticks": 2 }))
    );
    client.complete("ticks").await.unwrap();
    assert_eq!(
        seen_by_graphql(&mut client).await["completed"],
        json!(["ticks"])
    );
    // The id is free again once completed.
    client
        .subscribe("ticks", "subscription { ticks }", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("ticks", json!({ "ticks": 1 }))
    );
}

#[tokio::test]
async fn execute_returns_its_result_and_buffers_other_events() {
    let (url, _) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    client
        .subscribe("ticks", "subscription { ticks }", Value::Null)
        .await
        .unwrap();
    // Both ticks and the `other` operation's events arrive while `execute` waits.
    let result = client.execute("{ interleave }", Value::Null).await.unwrap();
    assert_eq!(result, json!({ "data": { "interleaved": true } }));
    for expected in [
        next("ticks", json!({ "ticks": 1 })),
        next("ticks", json!({ "ticks": 2 })),
        next("other", json!({ "other": 1 })),
        GraphqlEvent::Complete { id: "other".into() },
    ] {
        assert_eq!(client.next_event(WAIT).await.unwrap(), expected);
    }
    // Generated ids are fresh per call; variables are passed through.
    let echoed = client.execute("{ echo }", json!({ "x": 1 })).await.unwrap();
    assert_eq!(
        echoed["data"],
        json!({ "id": "execute-2", "variables": { "x": 1 } })
    );
}

#[tokio::test]
async fn graphql_errors_are_errors_and_the_socket_stays_usable() {
    let (url, _) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    match client.execute("{ broken }", Value::Null).await {
        Err(ClientError::Graphql(errors)) => assert_eq!(
            errors,
            json!([{ "message": "Cannot query field \"broken\" on type \"Query\"." }])
        ),
        other => panic!("expected Graphql, got {other:?}"),
    }
    assert!(matches!(
        client.execute("{ empty }", Value::Null).await,
        Err(ClientError::GraphqlFrame(_))
    ));
    assert_eq!(
        client.execute("{ hello }", Value::Null).await.unwrap(),
        json!({ "data": { "hello": "world" } })
    );
    // The `error` ended the operation on the subscribe side too.
    client
        .subscribe("s", "{ broken }", Value::Null)
        .await
        .unwrap();
    assert!(matches!(
        client.next_event(WAIT).await.unwrap(),
        GraphqlEvent::Error { id, .. } if id == "s"
    ));
}

#[tokio::test]
async fn an_execute_that_times_out_is_completed() {
    let (url, _) = start_server().await;
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    client.set_reply_timeout(Duration::from_millis(100));
    assert!(matches!(
        client.execute("{ silent }", Value::Null).await,
        Err(ClientError::Timeout("graphql result"))
    ));
    client.set_reply_timeout(WAIT);
    assert_eq!(
        seen_by_graphql(&mut client).await["completed"],
        json!(["execute-1"])
    );
}

#[tokio::test]
async fn close_codes_are_surfaced_and_remembered() {
    let (url, _) = start_server().await;

    // A duplicate subscription id: 4409, after the events already sent.
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    let ticks = "subscription { ticks }";
    client.subscribe("t", ticks, Value::Null).await.unwrap();
    client.subscribe("t", ticks, Value::Null).await.unwrap();
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("t", json!({ "ticks": 1 }))
    );
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        next("t", json!({ "ticks": 2 }))
    );
    let closed = GraphqlEvent::Closed {
        code: close::graphql::SUBSCRIBER_EXISTS,
        reason: "Subscriber for t already exists".into(),
    };
    assert_eq!(client.next_event(WAIT).await.unwrap(), closed);
    assert_eq!(client.next_event(WAIT).await.unwrap(), closed);
    assert!(matches!(
        client.subscribe("u", ticks, Value::Null).await,
        Err(ClientError::Closed {
            code: close::graphql::SUBSCRIBER_EXISTS,
            ..
        })
    ));
    client.close().await.unwrap();

    // A close while `execute` waits is an error.
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    match client.execute("{ fatal }", Value::Null).await {
        Err(ClientError::Closed { code, reason }) => assert_eq!(
            (code, reason.as_str()),
            (close::graphql::INTERNAL, "Internal server error")
        ),
        other => panic!("expected Closed, got {other:?}"),
    }

    // A malformed message from the client: 4400.
    let mut client = GraphqlClient::connect(&url, "good").await.unwrap();
    client.send_raw("{not json".into()).await.unwrap();
    assert_eq!(
        client.next_event(WAIT).await.unwrap(),
        GraphqlEvent::Closed {
            code: close::graphql::INVALID_MESSAGE,
            reason: "Invalid message received".into(),
        }
    );
    assert!(matches!(
        client.execute("{ hello }", Value::Null).await,
        Err(ClientError::Closed {
            code: close::graphql::INVALID_MESSAGE,
            ..
        })
    ));
}
