//! Monitoring (Karai) end to end: the security log, bans enforced on HTTP and socket
//! upgrades, trusted-proxy addresses, and the admin API (REST and GraphQL); `/readyz` and
//! the server's own alerts; backups (`backup.rs`); export and import (`export.rs`).

mod backup;
mod export;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina::contexts::monitoring::MonitoringService;
use taina_protocol::client::{ClientError, PhoenixClient};
use taina_tests::{Reply, TestServer};

/// An address from the documentation range, forwarded by the (trusted) loopback proxy.
const ATTACKER: &str = "203.0.113.7";

/// A server behind a "reverse proxy" on loopback: `X-Forwarded-For` names the client, and
/// loopback itself stays on the never-ban list.
async fn behind_proxy() -> TestServer {
    TestServer::builder()
        .with_config(|c| c.http.trusted_proxies = vec!["127.0.0.1/32".into()])
        .start()
        .await
}

async fn wrong_sign_in(server: &TestServer, forwarded_for: Option<&str>) -> Reply {
    let mut request = server
        .client
        .post(format!("{}/api/auth/signin", server.url))
        .json(&json!({ "email": "admin@example.org", "password": "wrong password" }));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    server.send(request).await
}

async fn get_from(server: &TestServer, path: &str, forwarded_for: &str) -> Reply {
    let request = server
        .client
        .get(format!("{}{path}", server.url))
        .header("x-forwarded-for", forwarded_for);
    server.send(request).await
}

fn assert_banned(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.code(), "banned", "{}", reply.body);
    let until = reply.body["error"]["banned_until"]
        .as_str()
        .expect("banned_until");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("RFC 3339");
    let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(9) && left <= chrono::Duration::minutes(10),
        "{left}"
    );
    let retry: i64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((540..=600).contains(&retry), "{retry}");
}

/// Polls the admin's security log until `n` events of `kind` are there.
async fn events(server: &TestServer, admin: &str, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let reply = server
            .get(
                &format!("/api/monitoring/security-events?{query}"),
                Some(admin),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let events = reply.body["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} events for {query}");
}

#[tokio::test]
async fn five_failed_sign_ins_ban_the_forwarded_address_until_an_admin_lifts_it() {
    let server = behind_proxy().await;
    let admin = server.admin().await;
    for _ in 0..5 {
        let reply = wrong_sign_in(&server, Some(ATTACKER)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    // Banned everywhere: sign-in, any route, the health probe, a socket upgrade.
    assert_banned(&wrong_sign_in(&server, Some(ATTACKER)).await);
    assert_banned(&get_from(&server, "/healthz", ATTACKER).await);
    assert_banned(&get_from(&server, "/api/auth/me", ATTACKER).await);
    let upgrade = server
        .client
        .get(format!("{}/socket/websocket?vsn=2.0.0", server.url))
        .header("x-forwarded-for", ATTACKER)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    assert_banned(&server.send(upgrade).await);

    // The proxy itself (loopback, never banned) and other clients behind it are not.
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(
        get_from(&server, "/healthz", "198.51.100.1").await.status,
        StatusCode::OK
    );
    // A client not behind the proxy cannot pick its address: the header is ignored.
    let me = server.get("/api/auth/me", Some(&admin)).await;
    assert_eq!(me.status, StatusCode::OK);

    // The log, as the admin sees it.
    let failed = events(
        &server,
        &admin,
        &format!("kind=signin_failed&address={ATTACKER}"),
        5,
    )
    .await;
    assert_eq!(failed.len(), 5);
    assert!(failed[0]["reason"]
        .as_str()
        .unwrap()
        .contains("admin@example.org"));
    let issued = events(&server, &admin, "kind=ban_issued", 1).await;
    assert_eq!(issued[0]["address"], ATTACKER);
    let bans = server.get("/api/monitoring/bans", Some(&admin)).await;
    assert_eq!(bans.body["bans"][0]["address"], ATTACKER, "{}", bans.body);
    assert_eq!(bans.body["bans"][0]["offences"], 1);
    assert_eq!(bans.body["bans"][0]["issued_by"], "server");

    // Bad input and other roles.
    let bad = server
        .get("/api/monitoring/security-events?kind=sneezed", Some(&admin))
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
    );
    let member = server.invited(&admin, "member@example.org", "member").await;
    let refused = server.get("/api/monitoring/bans", Some(&member)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let anonymous = server.get("/api/monitoring/bans", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Lifted: the address is served again.
    let lift = server
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/monitoring/bans/{ATTACKER}"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(lift.status, StatusCode::NO_CONTENT, "{}", lift.body);
    assert_eq!(
        get_from(&server, "/healthz", ATTACKER).await.status,
        StatusCode::OK
    );
    let again = server
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/monitoring/bans/{ATTACKER}"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    events(&server, &admin, "kind=ban_lifted", 1).await;
}

#[tokio::test]
async fn a_direct_client_is_banned_from_sockets_too_and_the_ban_survives_a_restart() {
    // Nothing ignored: the test client on loopback is the attacker.
    let server = TestServer::builder()
        .with_config(|c| c.monitoring.ban_ignore = Vec::new())
        .start()
        .await;
    let admin = server.admin().await;
    for _ in 0..5 {
        assert_eq!(
            wrong_sign_in(&server, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let me = server.get("/api/auth/me", Some(&admin)).await;
    assert_banned(&me);
    match PhoenixClient::connect(&server.ws_url(), &[("token", admin.as_str())]).await {
        Err(ClientError::Handshake {
            status: Some(403),
            body,
        }) => assert!(body.contains("banned_until"), "{body}"),
        other => panic!("expected 403, got {other:?}"),
    }

    // A new service on the same database (what a restart builds) enforces it at once.
    let mut stored = None;
    for _ in 0..200 {
        let restarted = MonitoringService::configured(
            server.state.db.clone(),
            server.state.bus.clone(),
            server.state.config.monitoring.clone(),
        );
        restarted.load_bans().await.unwrap();
        stored = restarted.banned_until("127.0.0.1".parse().unwrap());
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored.is_some(), "the ban was not stored");
}

#[tokio::test]
async fn admins_read_the_log_and_ban_through_graphql() {
    let server = behind_proxy().await;
    let admin = server.admin().await;
    wrong_sign_in(&server, Some("198.51.100.20")).await;
    // A refused token and a refused socket upgrade are logged too.
    let forged = server.get("/api/auth/me", Some("not.a.token")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let plain = server.get("/socket/websocket", None).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    events(&server, &admin, "kind=token_refused", 1).await;
    events(&server, &admin, "kind=upgrade_refused", 1).await;
    events(&server, &admin, "kind=signin_failed", 1).await;

    let page = server
        .graphql(
            Some(&admin),
            "query($first: Int) { securityEvents(first: $first) { \
               edges { cursor node { kind at address userId reason } } \
               pageInfo { hasNextPage } } }",
            json!({ "first": 2 }),
        )
        .await;
    let edges = page["data"]["securityEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(edges.len(), 2);
    assert_eq!(
        page["data"]["securityEvents"]["pageInfo"]["hasNextPage"],
        true
    );
    let cursor = edges[1]["cursor"].as_str().unwrap();
    let next = server
        .graphql(
            Some(&admin),
            "query($after: String) { securityEvents(first: 200, after: $after, \
               filter: { kind: \"signin_failed\" }) { edges { node { kind address } } } }",
            json!({ "after": cursor }),
        )
        .await;
    let failed = &next["data"]["securityEvents"]["edges"];
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["kind"] == "signin_failed"),
        "{next}"
    );

    let banned = server
        .graphql(
            Some(&admin),
            "mutation { ban(address: \"192.0.2.44\", minutes: 5, reason: \"scanner\") \
               { address bannedUntil offences reason } }",
            json!({}),
        )
        .await;
    assert_eq!(banned["data"]["ban"]["address"], "192.0.2.44", "{banned}");
    assert_eq!(
        get_from(&server, "/healthz", "192.0.2.44").await.status,
        StatusCode::FORBIDDEN
    );
    let bans = server
        .graphql(Some(&admin), "{ bans { address reason } }", json!({}))
        .await;
    assert_eq!(bans["data"]["bans"][0]["reason"], "scanner");
    let invalid = server
        .graphql(
            Some(&admin),
            "mutation { ban(address: \"localhost\") { address } }",
            json!({}),
        )
        .await;
    assert_eq!(invalid["errors"][0]["extensions"]["code"], "invalid_input");
    let ignored = server
        .graphql(
            Some(&admin),
            "mutation { ban(address: \"127.0.0.1\") { address } }",
            json!({}),
        )
        .await;
    assert_eq!(ignored["errors"][0]["extensions"]["code"], "invalid_input");
    let unbanned = server
        .graphql(
            Some(&admin),
            "mutation { unban(address: \"192.0.2.44\") }",
            json!({}),
        )
        .await;
    assert_eq!(unbanned["data"]["unban"], true, "{unbanned}");
    assert_eq!(
        get_from(&server, "/healthz", "192.0.2.44").await.status,
        StatusCode::OK
    );

    let member = server.invited(&admin, "member@example.org", "member").await;
    let refused = server
        .graphql(Some(&member), "{ bans { address } }", json!({}))
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "forbidden");
}

#[tokio::test]
async fn bans_from_the_command_line_reach_the_running_server() {
    let server = behind_proxy().await;
    let config = server.data_dir.path().join("cli.toml");
    let mut toml = format!(
        "data_dir = {:?}\n",
        server.data_dir.path().display().to_string()
    );
    if let Some(url) = server.state.config.postgres_url() {
        toml.push_str(&format!("database_url = {url:?}\n"));
    }
    std::fs::write(&config, toml).unwrap();
    let taina = |args: &[&str]| {
        let mut argv = vec!["taina", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        taina::cli::run(<taina::cli::Cli as clap::Parser>::parse_from(argv))
    };
    taina(&["ban", "add", "--address", "192.0.2.80", "--minutes", "15"])
        .await
        .unwrap();
    let refused = taina(&["ban", "add", "--address", "not-an-ip"]).await;
    assert!(refused.is_err());
    // Picked up by the server's reload (every 2 s).
    let mut status = StatusCode::OK;
    for _ in 0..100 {
        status = get_from(&server, "/healthz", "192.0.2.80").await.status;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::FORBIDDEN);
    taina(&["ban", "list"]).await.unwrap();
    taina(&["ban", "remove", "--address", "192.0.2.80"])
        .await
        .unwrap();
    assert!(taina(&["ban", "remove", "--address", "192.0.2.80"])
        .await
        .is_err());
    for _ in 0..100 {
        status = get_from(&server, "/healthz", "192.0.2.80").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn readyz_reports_each_dependency_with_its_latency() {
    let server = TestServer::start().await;
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    for check in ["database", "disk", "jobs", "object_store", "bus"] {
        let answer = &ready.body["checks"][check];
        assert_eq!(answer["status"], "up", "{check}: {}", ready.body);
        let latency = answer["latency_ms"].as_f64().expect("latency_ms");
        assert!((0.0..2000.0).contains(&latency), "{check}: {latency}");
    }
    assert_eq!(
        ready.body["checks"]["database"]["backend"],
        server.backend()
    );
    assert!(ready.body["checks"]["disk"]["free_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ready.body["checks"]["jobs"]["queued"], 0);

    // A database that stops answering is a 503 naming it; the rest stays up.
    server.state.db.close().await;
    let down = server.get("/readyz", None).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["checks"]["database"]["status"], "down");
    assert!(down.body["checks"]["database"]["error"].is_string());
    assert_eq!(down.body["checks"]["bus"]["status"], "up");
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_low_disk_alerts_every_community_once() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.monitoring.check_interval_seconds = 1;
            // Every disk is under this.
            c.monitoring.disk_free_min_percent = 100.0;
        })
        .start()
        .await;
    // What the relay publishes is what `system:alerts` delivers to every community.
    let mut events = server.state.bus.subscribe();
    let mut disk_alerts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if event.kind == taina::contexts::monitoring::ALERT_RAISED
            && event.data["message"]
                .as_str()
                .is_some_and(|m| m.contains("disk under the data directory"))
        {
            assert_eq!(event.data["from"], "server", "{:?}", event.data);
            assert_eq!(event.data["level"], "warning");
            disk_alerts.push(event.data.clone());
        }
    }
    // Several watchdog rounds, one alert: the condition has not cleared.
    assert_eq!(disk_alerts.len(), 1, "{disk_alerts:?}");
}

#[tokio::test]
async fn the_security_event_subscription_tails_the_log_for_admins_only() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as Ws;

    let server = behind_proxy().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let connect = || async {
        let mut request = server.ws_url().into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade")
            .0
    };
    let next_json = |frame: Option<Result<Ws, _>>| -> Option<Value> {
        match frame {
            Some(Ok(Ws::Text(text))) => serde_json::from_str(&text).ok(),
            _ => None,
        }
    };
    let subscription = json!({ "id": "s", "type": "subscribe", "payload": {
        "query": "subscription { securityEvent { kind address reason } }" } });

    // A member is refused.
    let mut socket = connect().await;
    let init = json!({ "type": "connection_init", "payload": { "token": member } });
    socket.send(Ws::text(init.to_string())).await.unwrap();
    socket.next().await;
    socket
        .send(Ws::text(subscription.to_string()))
        .await
        .unwrap();
    let refused = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an answer");
        if let Some(value) = next_json(frame) {
            if value["type"] != "ping" {
                break value;
            }
        }
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "forbidden");

    // The admin sees a failed sign-in arrive.
    let mut socket = connect().await;
    let init = json!({ "type": "connection_init", "payload": { "token": admin } });
    socket.send(Ws::text(init.to_string())).await.unwrap();
    socket.next().await;
    socket
        .send(Ws::text(subscription.to_string()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    wrong_sign_in(&server, Some("198.51.100.77")).await;
    let event = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the event in time");
        let Some(value) = next_json(frame) else {
            continue;
        };
        if value["type"] == "next"
            && value["payload"]["data"]["securityEvent"]["address"] == "198.51.100.77"
        {
            break value["payload"]["data"]["securityEvent"].clone();
        }
    };
    assert_eq!(event["kind"], "signin_failed");
}
