//! Rules run on one node: every node knows the rule, but only the coordinating node fires it,
//! so an event seen by both nodes starts one run.

use std::time::Duration;

use serde_json::json;
use taina_tests::socket::pair;

use super::two_nodes;

#[tokio::test]
async fn a_rule_fires_once_with_two_nodes() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let created = a
        .graphql(
            Some(&p.admin),
            "mutation($definition: JSON!) { createRule(name: \"Echo\", definition: $definition) { id } }",
            json!({ "definition": {
                "triggers": [{ "type": "event", "event_type": "message.sent",
                               "data": { "conversation_id": p.conversation } }],
                "actions": [{ "type": "alert", "message": "a message in the Roda" }]
            } }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let rule = created["data"]["createRule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The nodes hear each other's heartbeats (every 5 s) before agreeing who coordinates.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let sent = b
        .post(
            &format!("/api/chat/conversations/{}/messages", p.conversation),
            json!({ "body": "olá" }),
            Some(&p.member),
        )
        .await;
    assert!(sent.status.is_success(), "{}", sent.body);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for node in [&a, &b] {
        let runs = node
            .graphql(
                Some(&p.admin),
                "query($id: ID!) { ruleRuns(id: $id) { outcome trigger } }",
                json!({ "id": rule }),
            )
            .await;
        let runs = runs["data"]["ruleRuns"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["outcome"], "done");
        assert_eq!(runs[0]["trigger"]["data"]["body"], "olá");
    }
}
