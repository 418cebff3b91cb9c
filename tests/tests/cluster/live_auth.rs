//! Live auth across nodes: signing out through node A ends the session's sockets on node B
//! within a second.

use std::time::{Duration, Instant};

use taina_tests::socket::{closed_with, pair};

use super::two_nodes;

#[tokio::test]
async fn signing_out_on_one_node_closes_the_sessions_sockets_on_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let mut on_b = b.socket(&p.member).await;
    on_b.heartbeat().await.unwrap();
    let started = Instant::now();
    let out = a
        .post("/api/auth/signout", serde_json::json!({}), Some(&p.member))
        .await;
    assert!(out.status.is_success(), "{}", out.body);
    let code = closed_with(&mut on_b).await;
    assert_eq!(code, taina_protocol::close::SESSION_ENDED);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "closed after {:?}",
        started.elapsed()
    );
}
