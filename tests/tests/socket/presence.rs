//! Presence state and diffs, typing, debounced online/offline events.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::{self};
use taina_tests::socket::{drain, json_of, pair, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn presence_state_then_diffs_and_typing() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("community:{}", p.community_id);
    let mut admin = server.socket(&p.admin).await;
    admin
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    let state = admin
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    assert_eq!(state.join_ref.as_deref(), admin.join_ref(&topic));
    assert_eq!(json_of(&state), &json!({}));
    let own = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&own)["joins"][&p.admin_id]["metas"][0]["device"],
        "laptop"
    );

    let mut member = server.socket(&p.member).await;
    member
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    let state = member
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    let meta = &json_of(&state)[&p.admin_id]["metas"][0];
    assert!(meta["phx_ref"].is_string() && meta["online_at"].is_string());
    let joined = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&joined)["joins"][&p.member_id]["metas"][0]["device"],
        "phone"
    );

    member.push(&topic, "typing", json!({})).await.unwrap();
    let typing = admin.expect_event(&topic, "typing", WAIT).await.unwrap();
    assert_eq!(
        json_of(&typing),
        &json!({ "user_id": p.member_id, "typing": true })
    );
    // Typing is throttled per connection.
    assert!(matches!(
        member.push(&topic, "typing", json!({})).await,
        Err(ClientError::Refused(_))
    ));

    member.close().await.unwrap();
    let left = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert!(json_of(&left)["leaves"][&p.member_id]["metas"][0]["phx_ref"].is_string());
}

#[tokio::test]
async fn online_and_offline_events_are_debounced() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.offline_debounce_seconds = 1)
        .start()
        .await;
    let token = server.admin().await;
    let mut events = server.state.bus.subscribe();
    let socket = server.socket(&token).await;
    socket.close().await.unwrap();
    // A quick reconnect: still online, no offline event.
    let socket = server.socket(&token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    socket.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind.starts_with("user.o") {
            kinds.push(event.kind.clone());
        }
    }
    assert_eq!(kinds, ["user.online", "user.offline"]);
}

/// Devices joining one topic together: their joins leave in a few coalesced diffs, not one
/// diff per join to everyone already there (N² frames), and every device still ends up
/// seeing all the others (`presence_state`, then the diffs it had not seen).
#[tokio::test]
async fn joins_in_one_window_are_coalesced_and_everyone_sees_everyone() {
    const DEVICES: usize = 12;
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("community:{}", p.community_id);
    let mut connected = Vec::new();
    for _ in 0..DEVICES {
        connected.push(server.socket(&p.admin).await);
    }
    let mut tasks = Vec::new();
    for (i, mut socket) in connected.into_iter().enumerate() {
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            socket
                .join(&topic, json!({ "device": format!("d{i}") }))
                .await
                .unwrap();
            // Until nothing has come for a while: the last window has been sent.
            let messages = drain(&mut socket, Duration::from_millis(400)).await;
            (socket, messages)
        }));
    }
    let mut diffs = 0;
    let mut sockets = Vec::new();
    for task in tasks {
        let (socket, messages) = task.await.unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for message in messages.iter().filter(|m| m.topic == topic) {
            let payload = json_of(message);
            let refs = |side: &serde_json::Value| -> Vec<String> {
                side.as_object()
                    .into_iter()
                    .flat_map(|users| users.values())
                    .flat_map(|user| user["metas"].as_array().cloned().unwrap_or_default())
                    .map(|meta| meta["phx_ref"].as_str().unwrap().to_owned())
                    .collect()
            };
            match message.event.as_str() {
                phoenix::event::PRESENCE_STATE => seen.extend(refs(payload)),
                phoenix::event::PRESENCE_DIFF => {
                    diffs += 1;
                    seen.extend(refs(&payload["joins"]));
                    for gone in refs(&payload["leaves"]) {
                        seen.remove(&gone);
                    }
                }
                _ => {}
            }
        }
        assert_eq!(seen.len(), DEVICES, "a device sees every device");
        sockets.push(socket);
    }
    // One diff per join to everyone already there would be DEVICES·(DEVICES+1)/2 = 78.
    assert!(
        diffs <= 3 * DEVICES,
        "{diffs} presence_diff frames for {DEVICES} joins"
    );
}

/// Presence events the socket has been sent on `topic`, until nothing has come for a while.
async fn presence_events(
    socket: &mut taina_protocol::client::PhoenixClient,
    topic: &str,
) -> Vec<(String, serde_json::Value)> {
    drain(socket, Duration::from_millis(400))
        .await
        .into_iter()
        .filter(|m| m.topic == topic && m.event.starts_with("presence_"))
        .map(|m| (m.event.clone(), json_of(&m).clone()))
        .collect()
}

fn devices_listed(state: &serde_json::Value) -> usize {
    state
        .as_object()
        .map(|users| {
            users
                .values()
                .map(|user| user["metas"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

/// Past `realtime.presence_list_limit` devices a topic stops listing them: every device's
/// list is emptied (`presence_state` `{}`) and it gets `presence_summary` counts instead of
/// diffs, until the topic is back to three quarters of the limit, when every device gets the
/// whole list again and diffs resume.
#[tokio::test]
async fn a_topic_past_the_list_limit_is_summarized_then_listed_again() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.presence_list_limit = 4;
            c.realtime.presence_summary_interval_ms = 100;
        })
        .start()
        .await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut sockets = Vec::new();
    for i in 0..4 {
        let mut socket = server.socket(&p.admin).await;
        socket
            .join(&topic, json!({ "device": format!("d{i}") }))
            .await
            .unwrap();
        presence_events(&mut socket, &topic).await;
        sockets.push(socket);
    }
    // Four devices: listed as ever (what each was told of the others' joins is read here).
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        assert!(
            seen.iter()
                .all(|(event, _)| event != phoenix::event::PRESENCE_SUMMARY),
            "{seen:?}"
        );
    }
    let mut fifth = server.socket(&p.admin).await;
    fifth.join(&topic, json!({ "device": "d4" })).await.unwrap();
    let seen = presence_events(&mut fifth, &topic).await;
    let summary = (
        phoenix::event::PRESENCE_SUMMARY.to_owned(),
        json!({ "devices": 5, "users": 1 }),
    );
    let emptied = (phoenix::event::PRESENCE_STATE.to_owned(), json!({}));
    // Its own state lists the four; its join made five, so its list is emptied and it
    // learns the counts.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, phoenix::event::PRESENCE_STATE);
    assert_eq!(devices_listed(&seen[0].1), 4, "{seen:?}");
    assert_eq!(seen[1..], [emptied.clone(), summary.clone()]);
    // The four already there: the same, and no diff of the fifth's join.
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        assert_eq!(seen, [emptied.clone(), summary.clone()]);
    }
    sockets.push(fifth);

    // A sixth device joins a summarized topic: nobody listed, then the counts before it.
    let mut sixth = server.socket(&p.member).await;
    sixth.join(&topic, json!({ "device": "m" })).await.unwrap();
    let seen = presence_events(&mut sixth, &topic).await;
    assert_eq!(seen[0], (phoenix::event::PRESENCE_STATE.into(), json!({})));
    assert_eq!(
        seen[1],
        (
            phoenix::event::PRESENCE_SUMMARY.into(),
            json!({ "devices": 5, "users": 1 })
        )
    );
    // Everyone is told the new counts within the interval, and no diff.
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        assert_eq!(
            seen,
            [(
                phoenix::event::PRESENCE_SUMMARY.into(),
                json!({ "devices": 6, "users": 2 })
            )]
        );
    }
    sockets.push(sixth);

    // Down to four: still summarized (above three quarters of the limit).
    for socket in sockets.drain(..2) {
        socket.close().await.unwrap();
    }
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        assert_eq!(
            seen.last().unwrap().1,
            json!({ "devices": 4, "users": 2 }),
            "{seen:?}"
        );
    }
    // Down to three: every device gets the whole list again, then diffs.
    sockets.remove(0).close().await.unwrap();
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        let (event, state) = seen.last().unwrap();
        assert_eq!(event, phoenix::event::PRESENCE_STATE, "{seen:?}");
        assert_eq!(devices_listed(state), 3, "{seen:?}");
        assert_eq!(state[&p.member_id]["metas"][0]["device"], "m");
    }
    sockets.remove(0).close().await.unwrap();
    for socket in &mut sockets {
        let seen = presence_events(socket, &topic).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].0, phoenix::event::PRESENCE_DIFF);
        assert_eq!(devices_listed(&seen[0].1["leaves"]), 1);
    }
}
