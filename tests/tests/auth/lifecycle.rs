//! The server's own health: readiness when the database stops answering, a graceful stop.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

#[tokio::test]
async fn readyz_reports_a_database_that_stopped_answering() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/readyz", None).await.status, StatusCode::OK);
    server.state.db.close().await;
    let reply = server.get("/readyz", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["status"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
    // Requests that need the database fail with a generic 500, never SQL or a trace.
    let reply = server
        .post(
            "/api/auth/signin",
            json!({ "email": "a@example.org", "password": "whatever!" }),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        json!({ "error": { "code": "internal", "message": "an internal error occurred" } })
    );
}

#[tokio::test]
async fn graceful_stop_finishes() {
    let server = TestServer::start().await;
    server.admin().await;
    server.stop().await;
}
