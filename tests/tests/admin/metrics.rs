//! `GET /metrics`: Prometheus text a parser reads, counters that move with traffic, and who
//! may scrape.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;
use taina_tests::TestServer;

async fn scrape(ts: &TestServer, token: Option<&str>) -> (StatusCode, String) {
    let mut request = ts.client.get(format!("{}/metrics", ts.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text")
}

/// The sum of a metric's samples whose labels include `labels`.
fn total(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let (status, before) = scrape(&ts, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "loopback may scrape without a token"
    );
    let before = parse(&before);
    let signins = |s: &Scrape| {
        total(
            s,
            "taina_http_requests_total",
            &[("route", "/api/auth/signin"), ("status", "200")],
        )
    };
    assert_eq!(signins(&before), 1.0);

    ts.token("admin@example.org", "admin password").await;
    let mut socket = ts.socket(&admin).await;
    socket
        .join(
            &format!("user:{}", ts.user_id(&admin).await),
            serde_json::json!({}),
        )
        .await
        .unwrap();
    // The sampler reads the hub and the process once a second.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (_, after) = scrape(&ts, None).await;
    let after = parse(&after);
    assert_eq!(signins(&after), 2.0);
    assert_eq!(
        total(&after, "taina_sockets_open", &[("mode", "phoenix")]),
        1.0
    );
    assert!(total(&after, "taina_socket_frames_total", &[("direction", "in")]) >= 1.0);
    assert!(total(&after, "taina_socket_frames_total", &[("direction", "out")]) >= 1.0);
    assert!(total(&after, "taina_users_online", &[]) >= 1.0);
    assert!(total(&after, "taina_process_resident_memory_bytes", &[]) > 1e6);
    assert!(
        total(&after, "taina_hub_publications_total", &[]) >= 1.0,
        "presence published"
    );
    assert!(
        total(
            &after,
            "taina_http_request_duration_seconds_count",
            &[("route", "/api/auth/signin")]
        ) >= 2.0
    );
    let statements = |s: &Scrape| total(s, "taina_db_query_duration_seconds_count", &[]);
    assert!(
        statements(&after) > statements(&before),
        "sign-ins query the database"
    );
}

#[tokio::test]
async fn a_metrics_token_is_required_when_one_is_set() {
    let ts = TestServer::builder()
        .with_config(|c| c.metrics.token = Some("scrape-secret".into()))
        .start()
        .await;
    let (status, body) = scrape(&ts, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = scrape(&ts, Some("wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = scrape(&ts, Some("scrape-secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("# TYPE taina_uptime_seconds gauge"), "{body}");
}
