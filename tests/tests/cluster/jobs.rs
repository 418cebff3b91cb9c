//! The media queue shared by two nodes: each job is processed by exactly one of them.

use std::time::Duration;

use taina_tests::TestServer;

use super::two_nodes;

async fn attempts(node: &TestServer) -> Vec<(String, i32)> {
    taina::db::query_as("SELECT status, attempts FROM media.jobs ORDER BY id")
        .fetch_all(&node.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_media_job_is_processed_by_one_node() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let admin = a.admin().await;
    let count: usize = 6;
    for n in 0..count {
        let photo = taina_tests::media::jpeg(16 + n as u32, 16, n as u8);
        let uploaded = taina_tests::media::upload(&a, &admin, &format!("p{n}.jpg"), photo).await;
        assert!(uploaded.status.is_success(), "{}", uploaded.body);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = attempts(&b).await;
        if jobs.len() == count && jobs.iter().all(|(status, _)| status == "done") {
            assert!(
                jobs.iter().all(|(_, attempts)| *attempts == 1),
                "a job was claimed twice: {jobs:?}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
