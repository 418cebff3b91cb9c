//! Bad frames and slow consumers: documented errors, and nobody else notices.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::{ClientError, Incoming};
use taina_protocol::close;
use taina_protocol::phoenix::{self};
use taina_tests::socket::{closed_with, drain, json_of, pair, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn bad_frames_get_their_documented_errors_and_nobody_else_notices() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.max_text_frame_bytes = 4096;
            c.realtime.messages_per_second = 5;
            c.realtime.message_burst = 5;
            c.realtime.abuse_close_after = 20;
        })
        .start()
        .await;
    let token = server.admin().await;
    let id = server.user_id(&token).await;
    let mut bystander = server.socket(&token).await;
    bystander
        .join(&format!("user:{id}"), json!({}))
        .await
        .unwrap();

    enum Raw {
        Text(&'static str),
        Binary(&'static [u8]),
    }
    let cases = [
        ("invalid JSON", Raw::Text("[\"1\", \"1\", \"phoenix\"")),
        (
            "wrong arity",
            Raw::Text("[null, \"1\", \"phoenix\", \"heartbeat\"]"),
        ),
        (
            "an object frame",
            Raw::Text("{\"type\": \"connection_init\"}"),
        ),
        (
            "unknown binary kind",
            Raw::Binary(&[0x82, 0xa1, 0x61, 0x01]),
        ),
        ("a truncated binary header", Raw::Binary(&[0x00, 0x05])),
    ];
    for (what, frame) in cases {
        let mut client = server.socket(&token).await;
        match frame {
            Raw::Text(text) => client.send_text(text.to_string()).await.unwrap(),
            Raw::Binary(bytes) => client.send_binary(bytes.to_vec()).await.unwrap(),
        }
        assert_eq!(
            closed_with(&mut client).await,
            close::INVALID_FRAME,
            "{what}"
        );
    }

    let mut client = server.socket(&token).await;
    client
        .send_text(format!("[null, \"9\", \"user:{id}\", \"echo\", [1, 2]]"))
        .await
        .unwrap();
    let reply = client
        .expect_event(&format!("user:{id}"), phoenix::event::REPLY, WAIT)
        .await
        .unwrap();
    assert_eq!(json_of(&reply)["status"], "error");
    client.heartbeat().await.unwrap();

    let mut client = server.socket(&token).await;
    client
        .send_text(format!(
            "[null, \"1\", \"phoenix\", \"heartbeat\", {{\"pad\": \"{}\"}}]",
            "x".repeat(5000)
        ))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut client).await, close::MESSAGE_TOO_BIG);

    // A flood: refused with rate_limited, then closed for persistent abuse.
    let mut flooder = server.socket(&token).await;
    flooder
        .join(&format!("user:{id}"), json!({}))
        .await
        .unwrap();
    let mut limited = 0;
    for _ in 0..40 {
        match flooder.push(&format!("user:{id}"), "echo", json!({})).await {
            Err(ClientError::Refused(r)) if r["reason"] == "rate_limited" => limited += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(limited > 0);
    assert_eq!(closed_with(&mut flooder).await, close::RATE_LIMITED);

    // The bystander never noticed.
    bystander.heartbeat().await.unwrap();
    assert_eq!(
        bystander
            .push(&format!("user:{id}"), "echo", json!({}))
            .await
            .unwrap()
            .status,
        "ok"
    );
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_the_others_keep_receiving() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.outbox_bytes = 64 * 1024;
            c.realtime.messages_per_second = 100_000;
            c.realtime.message_burst = 100_000;
        })
        .start()
        .await;
    let p = pair(&server).await;
    let mut publisher = server.socket(&p.admin).await;
    publisher.join("system:alerts", json!({})).await.unwrap();
    let mut slow = server.socket(&p.member).await;
    slow.join("system:alerts", json!({})).await.unwrap();
    let mut fast = server.socket(&p.member).await;
    fast.join("system:alerts", json!({})).await.unwrap();

    // The slow client never reads while ~16 MB flow; the fast one keeps up.
    let filler = "x".repeat(8 * 1024);
    let total = 2000;
    let mut delivered = 0;
    for n in 0..total {
        publisher
            .push_no_reply(
                "system:alerts",
                "alert",
                json!({ "n": n, "filler": filler }),
            )
            .await
            .unwrap();
        // The publisher is subscribed too and must keep reading its own copies.
        while let Ok(Incoming::Message(m)) = fast.next_message(Duration::ZERO).await {
            if m.event == "alert" {
                delivered += 1;
            }
        }
        while let Ok(Incoming::Message(_)) = publisher.next_message(Duration::ZERO).await {}
    }
    let rest = drain(&mut fast, Duration::from_millis(500)).await;
    delivered += rest.iter().filter(|m| m.event == "alert").count();
    assert_eq!(delivered, total, "the fast subscriber got everything");
    assert_eq!(closed_with(&mut slow).await, close::SLOW_CONSUMER);
    // The hub no longer holds the slow connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.state.hub.connection_count(), 2);
}
