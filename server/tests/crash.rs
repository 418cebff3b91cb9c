//! A server killed (SIGKILL) while messages are being stored by group commit, on SQLite:
//! after a restart every message it acknowledged is there, with its offset and body, and
//! every conversation's offsets run from 1 without a gap. Messages sent but not acknowledged
//! may or may not be there; none is there twice.
//!
//! (The same holds on PostgreSQL across several nodes: the chaos test, `chaos.rs`.)

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::serve;
use taina_protocol::client::PhoenixClient;
use taina_protocol::phoenix::Payload;

const PASSWORD: &str = "crash test password";
const CONVERSATIONS: usize = 6;
const SENDERS_PER_CONVERSATION: usize = 4;

async fn post(url: &str, path: &str, body: Value, token: Option<&str>) -> Value {
    support::post(&reqwest::Client::new(), url, path, token, body).await
}

async fn token(url: &str, email: &str) -> String {
    support::token(&reqwest::Client::new(), url, (email, PASSWORD)).await
}

/// Every stored message of a conversation, offset → body.
async fn stored(url: &str, token: &str, conversation: &str) -> BTreeMap<u64, String> {
    let client = reqwest::Client::new();
    let mut messages = BTreeMap::new();
    let mut before: Option<u64> = None;
    loop {
        let mut address = format!("{url}/api/chat/conversations/{conversation}/messages?limit=100");
        if let Some(before) = before {
            address.push_str(&format!("&before={before}"));
        }
        let page: Value = client
            .get(address)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for message in page["messages"].as_array().expect("messages") {
            let offset = message["offset"].as_u64().unwrap();
            let body = message["body"].as_str().unwrap().to_owned();
            assert!(
                messages.insert(offset, body).is_none(),
                "offset {offset} listed twice"
            );
        }
        match page["next_before"].as_u64() {
            Some(next) => before = Some(next),
            None => return messages,
        }
    }
}

/// Sends as fast as replies come until `stop`; what was acknowledged, offset → body.
async fn sender(
    socket_url: String,
    token: String,
    conversation: String,
    name: String,
    stop: Arc<AtomicBool>,
) -> BTreeMap<u64, String> {
    let mut acknowledged = BTreeMap::new();
    let mut client = PhoenixClient::connect(&socket_url, &[("token", token.as_str())])
        .await
        .expect("connect");
    let topic = format!("conversation:{conversation}");
    client.join(&topic, json!({})).await.expect("join");
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = format!("{name}-{n}");
        match client.push(&topic, "new_msg", json!({"body": body})).await {
            Ok(reply) if reply.status == "ok" => {
                let Payload::Json(response) = &reply.response else {
                    panic!("a JSON reply")
                };
                let offset = response["offset"].as_u64().expect("an offset");
                acknowledged.insert(offset, body);
            }
            // The server is gone: what was not answered is not acknowledged.
            _ => break,
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_a_kill_during_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let url = served.url.clone();
    post(
        &url,
        "/api/auth/signup",
        json!({"email": "admin@crash.test", "password": PASSWORD, "community_name": "Crash"}),
        None,
    )
    .await;
    let admin = token(&url, "admin@crash.test").await;
    let invite = post(
        &url,
        "/api/auth/invites",
        json!({"role": "member"}),
        Some(&admin),
    )
    .await;
    let member = post(
        &url,
        "/api/auth/signup",
        json!({"email": "bia@crash.test", "password": PASSWORD, "invite_code": invite["code"]}),
        None,
    )
    .await;
    let member_id = member["user"]["id"].as_str().unwrap().to_owned();
    // Both send, so neither reaches the limit of sockets per person.
    let member = token(&url, "bia@crash.test").await;
    let mut conversations = Vec::new();
    for i in 0..CONVERSATIONS {
        let created = post(
            &url,
            "/api/chat/conversations",
            json!({"kind": "group", "name": format!("Roda {i}"), "participant_ids": [member_id]}),
            Some(&admin),
        )
        .await;
        conversations.push(created["id"].as_str().unwrap().to_owned());
    }

    let socket_url = format!("{}/socket/websocket", url.replace("http://", "ws://"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for (c, conversation) in conversations.iter().enumerate() {
        for s in 0..SENDERS_PER_CONVERSATION {
            senders.push((
                c,
                tokio::spawn(sender(
                    socket_url.clone(),
                    if s % 2 == 0 { &admin } else { &member }.clone(),
                    conversation.clone(),
                    format!("c{c}s{s}"),
                    stop.clone(),
                )),
            ));
        }
    }
    // Long enough for many batches; then the kill lands while some are being written.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut served = served;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    drop(served);
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged: Vec<BTreeMap<u64, String>> = vec![BTreeMap::new(); CONVERSATIONS];
    for (c, task) in senders {
        for (offset, body) in task.await.unwrap() {
            assert!(
                acknowledged[c].insert(offset, body).is_none(),
                "offset {offset} acknowledged twice in conversation {c}"
            );
        }
    }
    let total: usize = acknowledged.iter().map(BTreeMap::len).sum();
    assert!(
        total > 100,
        "only {total} messages acknowledged before the kill"
    );

    let served = serve(dir.path(), &data);
    let admin = token(&served.url, "admin@crash.test").await;
    for (c, conversation) in conversations.iter().enumerate() {
        let messages = stored(&served.url, &admin, conversation).await;
        for (offset, body) in &acknowledged[c] {
            assert_eq!(
                messages.get(offset),
                Some(body),
                "conversation {c}: acknowledged message at offset {offset} lost"
            );
        }
        let offsets: Vec<u64> = messages.keys().copied().collect();
        let expected: Vec<u64> = (1..=offsets.len() as u64).collect();
        assert_eq!(offsets, expected, "conversation {c}: offsets with a gap");
        let mut bodies: Vec<&String> = messages.values().collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), messages.len(), "a message stored twice");
    }
    eprintln!("{total} messages acknowledged before the kill, all of them found after it");
    assert!(served.terminate().success());
}
