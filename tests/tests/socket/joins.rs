//! Joins: the topic rules, a second join replacing the first, a removed participant's join closed.

use reqwest::StatusCode;
use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::{self, Payload};
use taina_tests::socket::{pair, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn joins_follow_the_topic_rules() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.max_channels_per_socket = 3)
        .start()
        .await;
    let p = pair(&server).await;
    let mut admin = server.socket(&p.admin).await;

    let reply = admin
        .join(&format!("user:{}", p.admin_id), json!({}))
        .await
        .unwrap();
    assert!(
        reply["epoch"].is_string() && reply["offset"].is_u64(),
        "{reply}"
    );
    match admin
        .join(&format!("user:{}", p.member_id), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    match admin.join("community:someone-elses", json!({})).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    match admin.join("room:lobby", json!({})).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unmatched topic"),
        other => panic!("{other:?}"),
    }
    admin
        .join(&format!("community:{}", p.community_id), json!({}))
        .await
        .unwrap();
    admin.join("system:alerts", json!({})).await.unwrap();
    match admin
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "too many channels joined"),
        other => panic!("{other:?}"),
    }
    admin.leave("system:alerts").await.unwrap();
    admin
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
        .unwrap();

    // A conversation the user is not in looks like one that does not exist.
    let outsider = server
        .invited(&p.admin, "outsider@example.org", "member")
        .await;
    let mut outsider = server.socket(&outsider).await;
    match outsider
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    // Pushing to a topic that is not joined.
    let reply = outsider.push("community:x", "typing", json!({})).await;
    assert!(matches!(reply, Err(ClientError::Refused(r)) if r["reason"] == "unmatched topic"));
}

#[tokio::test]
async fn a_second_join_replaces_the_first() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let id = server.user_id(&token).await;
    let topic = format!("user:{id}");
    let mut client = server.socket(&token).await;
    client.join(&topic, json!({})).await.unwrap();
    let first_ref = client.join_ref(&topic).unwrap().to_string();
    client.join(&topic, json!({})).await.unwrap();
    let closed = client
        .expect_event(&topic, phoenix::event::CLOSE, WAIT)
        .await
        .unwrap();
    assert_eq!(closed.join_ref.as_deref(), Some(first_ref.as_str()));
    // The new join works.
    assert_eq!(
        client
            .push(&topic, "echo", json!({"a": 1}))
            .await
            .unwrap()
            .response,
        Payload::Json(json!({"a": 1}))
    );
}

#[tokio::test]
async fn removing_a_participant_closes_their_join() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut member = server.socket(&p.member).await;
    member.join(&topic, json!({})).await.unwrap();
    let removed = server
        .send(
            server
                .client
                .delete(format!(
                    "{}/api/chat/conversations/{}/participants/{}",
                    server.url, p.conversation, p.member_id
                ))
                .bearer_auth(&p.admin),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    member
        .expect_event(&topic, phoenix::event::CLOSE, WAIT)
        .await
        .unwrap();
    // The socket itself stays up.
    member.heartbeat().await.unwrap();
    assert!(matches!(
        member.join(&topic, json!({})).await,
        Err(ClientError::Refused(_))
    ));
}
