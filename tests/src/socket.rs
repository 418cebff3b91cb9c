//! Helpers shared by the socket suite's modules (tests/tests/socket): two users in one
//! conversation, close codes, draining frames, a frame's JSON.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::phoenix::{Message, Payload};

use crate::TestServer;

pub const WAIT: Duration = Duration::from_secs(5);

/// Reads until the server closes the socket; returns the close code.
pub async fn closed_with(client: &mut PhoenixClient) -> u16 {
    loop {
        match client.next_message(WAIT).await {
            Ok(Incoming::Closed { code, .. }) => return code,
            Ok(Incoming::Message(_)) => continue,
            Err(ClientError::Closed { code, .. }) => return code,
            Err(e) => panic!("expected a close, got {e:?}"),
        }
    }
}

/// The payload of the next `event` push (other messages are skipped); panics on a close or
/// after [`WAIT`].
pub async fn next_event(client: &mut PhoenixClient, event: &str) -> Value {
    loop {
        match client.next_message(WAIT).await {
            Ok(Incoming::Message(m)) if m.event == event => match m.payload {
                Payload::Json(payload) => return payload,
                other => panic!("a JSON {event}, got {other:?}"),
            },
            Ok(Incoming::Message(_)) => continue,
            Ok(Incoming::Closed { code, .. }) => panic!("closed with {code} waiting for {event}"),
            Err(e) => panic!("waiting for {event}: {e:?}"),
        }
    }
}

/// Every message that arrives within `window`.
pub async fn drain(client: &mut PhoenixClient, window: Duration) -> Vec<Message> {
    let mut messages = Vec::new();
    while let Ok(Incoming::Message(m)) = client.next_message(window).await {
        messages.push(m);
    }
    messages
}

pub fn json_of(message: &Message) -> &Value {
    match &message.payload {
        Payload::Json(v) => v,
        other => panic!("expected JSON, got {other:?}"),
    }
}

/// An admin and a member of the same community, with a group conversation between them.
pub struct Pair {
    pub admin: String,
    pub member: String,
    pub admin_id: String,
    pub member_id: String,
    pub community_id: String,
    pub conversation: String,
}

pub async fn pair(server: &TestServer) -> Pair {
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let me = server.get("/api/auth/me", Some(&admin)).await.body;
    let member_id = server.user_id(&member).await;
    let created = server
        .post(
            "/api/chat/conversations",
            json!({ "kind": "group", "name": "Roda", "participant_ids": [member_id] }),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Pair {
        admin,
        member,
        admin_id: me["id"].as_str().unwrap().into(),
        member_id,
        community_id: me["community_id"].as_str().unwrap().into(),
        conversation: created.body["id"].as_str().unwrap().into(),
    }
}
