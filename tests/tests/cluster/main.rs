//! Several nodes over NATS: two Tainá servers sharing one database (PostgreSQL with
//! `TEST_DATABASE_URL`, else one SQLite data directory) and one NATS (`TEST_NATS_URL`, one URL
//! or a cluster's, comma-separated; scripts/test starts a cluster of three with JetStream and
//! also sets `TEST_REQUIRE_NATS` so a missing NATS fails instead of skipping). Each test uses its own subject prefix, so tests running at once do not hear each
//! other.

mod chat;
mod graphql;
mod jobs;
mod live_auth;
mod log;
mod online;
mod presence;
mod relay;
mod rules;
mod three;

use taina_tests::TestServer;

/// Two nodes of one installation on one NATS, or `None` (skipped) without a NATS to use.
async fn two_nodes() -> Option<(TestServer, TestServer)> {
    let mut nodes = nodes(2).await?;
    let b = nodes.pop()?;
    let a = nodes.pop()?;
    Some((a, b))
}

/// `count` nodes of one installation on one NATS, or `None` (skipped) without a NATS to use.
async fn nodes(count: usize) -> Option<Vec<TestServer>> {
    nodes_with(count, |_| {}).await
}

/// As [`nodes`], each node's configuration changed by `configure` too.
async fn nodes_with(
    count: usize,
    configure: impl Fn(&mut taina::Config) + Clone + Send + Sync + 'static,
) -> Option<Vec<TestServer>> {
    let Ok(url) = std::env::var("TEST_NATS_URL") else {
        assert!(
            std::env::var("TEST_REQUIRE_NATS").is_err(),
            "TEST_REQUIRE_NATS is set but TEST_NATS_URL is not"
        );
        eprintln!("skipped: no TEST_NATS_URL (scripts/test starts nats-server)");
        return None;
    };
    let prefix: String = format!("t{}", nanoid::nanoid!(12))
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
        .collect();
    let on_nats = move |url: String, prefix: String| {
        let configure = configure.clone();
        move |config: &mut taina::Config| {
            configure(config);
            // On a cluster (scripts/test starts three NATS servers) the log is replicated.
            config.bus.log_replicas = url.split(',').count().min(3);
            config.bus.nats_url = Some(url);
            config.bus.subject_prefix = prefix;
            config.realtime.offline_debounce_seconds = 1;
        }
    };
    let first = TestServer::builder()
        .with_config(on_nats(url.clone(), prefix.clone()))
        .start()
        .await;
    let mut nodes = Vec::with_capacity(count);
    for _ in 1..count {
        let node = TestServer::builder()
            .sharing(&first)
            .with_config(on_nats(url.clone(), prefix.clone()))
            .start()
            .await;
        nodes.push(node);
    }
    nodes.insert(0, first);
    Some(nodes)
}
