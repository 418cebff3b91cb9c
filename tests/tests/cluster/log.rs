//! The shared topic log: `system:alerts`, `community:` and `user:` publications get one offset
//! on every node (the JetStream sequence), a client recovers with `since` on either node, and a
//! node restarted from scratch still recovers what it never saw (read back from the log).

use serde_json::{json, Value};
use taina_tests::socket::{drain, next_event, pair};

use super::two_nodes;

/// The JSON response of a push's reply.
fn response(reply: &taina_protocol::client::Reply) -> &Value {
    match &reply.response {
        taina_protocol::phoenix::Payload::Json(value) => value,
        other => panic!("a JSON reply: {other:?}"),
    }
}

fn position(payload: &Value) -> (String, u64) {
    (
        payload["epoch"].as_str().expect("an epoch").to_owned(),
        payload["offset"].as_u64().expect("an offset"),
    )
}

#[tokio::test]
async fn alerts_have_one_offset_everywhere_and_recover_on_any_node_after_a_restart() {
    let Some((a, mut b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let mut admin_on_a = a.socket(&p.admin).await;
    let joined_a = admin_on_a.join("system:alerts", json!({})).await.unwrap();
    let mut member_on_b = b.socket(&p.member).await;
    let joined_b = member_on_b.join("system:alerts", json!({})).await.unwrap();
    assert_eq!(joined_a["epoch"], joined_b["epoch"], "one log, one epoch");

    let alert = |text: &str| json!({ "level": "info", "message": text });
    let first = admin_on_a
        .push("system:alerts", "alert", alert("one"))
        .await
        .unwrap();
    assert_eq!(first.status, "ok", "{:?}", first.response);
    let (epoch, one) = position(response(&first));
    let seen = next_event(&mut member_on_b, "alert").await;
    assert_eq!(position(&seen), (epoch.clone(), one), "{seen}");
    drop(member_on_b);

    let mut sent = Vec::new();
    for text in ["two", "three"] {
        let reply = admin_on_a
            .push("system:alerts", "alert", alert(text))
            .await
            .unwrap();
        let (at_epoch, offset) = position(response(&reply));
        assert_eq!(at_epoch, epoch);
        sent.push(offset);
    }
    assert!(one < sent[0] && sent[0] < sent[1], "{one} {sent:?}");

    // The member comes back on node A: its memory holds the gap.
    let since = json!({ "since": { "epoch": epoch, "offset": one } });
    let mut member_on_a = a.socket(&p.member).await;
    let rejoined = member_on_a
        .join("system:alerts", since.clone())
        .await
        .unwrap();
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    let recovered = recovered_alerts(&mut member_on_a).await;
    assert_eq!(
        recovered,
        [("two".into(), sent[0]), ("three".into(), sent[1])]
    );

    // Node B starts again with nothing in memory: the log serves the gap.
    b.restart().await;
    let mut member_on_b = b.socket(&p.member).await;
    let rejoined = member_on_b
        .join("system:alerts", since.clone())
        .await
        .unwrap();
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    assert_eq!(rejoined["epoch"], epoch.as_str(), "{rejoined}");
    assert_eq!(
        recovered_alerts(&mut member_on_b).await,
        [("two".into(), sent[0]), ("three".into(), sent[1])]
    );
}

/// `(message, offset)` of the alerts that arrive within a short while.
async fn recovered_alerts(
    client: &mut taina_protocol::client::PhoenixClient,
) -> Vec<(String, u64)> {
    drain(client, std::time::Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|m| m.event == "alert")
        .map(|m| match m.payload {
            taina_protocol::phoenix::Payload::Json(payload) => (
                payload["message"].as_str().unwrap_or_default().to_owned(),
                payload["offset"].as_u64().unwrap_or_default(),
            ),
            other => panic!("a JSON alert: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn user_and_community_publications_recover_from_the_log_on_the_other_node() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let community = format!("community:{}", p.community_id);
    // The admin watches the community on node A; the member's arrivals and departures are
    // published there with log offsets.
    let mut admin_on_a = a.socket(&p.admin).await;
    let joined = admin_on_a.join(&community, json!({})).await.unwrap();
    let (epoch, start) = position(&joined);

    let member_on_b = b.socket(&p.member).await;
    let online = loop {
        let online = next_event(&mut admin_on_a, "user_online").await;
        if online["user_id"] == p.member_id.as_str() {
            break online;
        }
    };
    let (online_epoch, online_at) = position(&online);
    assert_eq!(online_epoch, epoch);
    assert!(online_at > start);
    drop(member_on_b);
    drop(admin_on_a);

    // Recovered on node B, which only ever delivered it live to nobody.
    let mut admin_on_b = b.socket(&p.admin).await;
    let rejoined = admin_on_b
        .join(
            &community,
            json!({ "since": { "epoch": epoch, "offset": start } }),
        )
        .await
        .unwrap();
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    let missed: Vec<Value> = drain(&mut admin_on_b, std::time::Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|m| m.event == "user_online")
        .map(|m| match m.payload {
            taina_protocol::phoenix::Payload::Json(payload) => payload,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        missed
            .iter()
            .any(|m| m["user_id"] == p.member_id.as_str() && m["offset"] == online_at),
        "{missed:?}"
    );
    // A position the log no longer vouches for (another epoch) is not recovered.
    let mut again = b.socket(&p.admin).await;
    let stale = again
        .join(
            &community,
            json!({ "since": { "epoch": "gone", "offset": 1 } }),
        )
        .await
        .unwrap();
    assert_eq!(stale["recovered"], false, "{stale}");
}
