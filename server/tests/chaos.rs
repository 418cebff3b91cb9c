//! Several nodes as real processes, failing for real: `taina serve` nodes on one PostgreSQL
//! (`TEST_DATABASE_URL`, an admin URL: each test makes its own database) and NATS servers from
//! `TEST_NATS_SERVER` (the binary scripts/test installs), started, killed with SIGKILL or
//! stopped with SIGTERM, and started again by the tests.
//!
//! - A node killed with SIGKILL: its devices leave `presence_state` on the other node within
//!   the heartbeat expiry, and the user goes offline once.
//! - The chaos run: three Tainá nodes, a three-server NATS cluster (JetStream, the topic log
//!   with three replicas, `sync_interval: always`), 50 clients over the nodes sending sequenced
//!   messages into 10 conversations and reconnecting (to the next node) on failure, while every
//!   2–5 s one Tainá node or one NATS server is killed or stopped and started again. At the
//!   end every acknowledged message has reached every participant exactly once (no gap, no
//!   duplicate once `since` is applied) and every node's memory is back within 20 % of where
//!   it stood before the chaos. `TEST_CHAOS_SECONDS` sets the length (30 by default; the long
//!   run in docs/performance.md used 300).
//!
//! Without `TEST_NATS_SERVER` and `TEST_DATABASE_URL` the tests are skipped (they fail instead
//! when `TEST_REQUIRE_CHAOS` is set, as scripts/test sets it in their step).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;

const BIN: &str = env!("CARGO_BIN_EXE_taina");
const PASSWORD: &str = "chaos password";

/// What the tests need from outside, or `None` to skip. scripts/test runs them in their own
/// step with PostgreSQL and `TEST_REQUIRE_CHAOS`, which turns a skip into a failure.
fn environment() -> Option<(PathBuf, String)> {
    let nats = std::env::var("TEST_NATS_SERVER")
        .ok()
        .filter(|v| !v.is_empty());
    let database = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match (nats, database) {
        (Some(nats), Some(database)) => Some((PathBuf::from(nats), database)),
        _ => {
            assert!(
                std::env::var("TEST_REQUIRE_CHAOS").is_err(),
                "TEST_REQUIRE_CHAOS is set but TEST_NATS_SERVER or TEST_DATABASE_URL is not"
            );
            eprintln!("skipped: needs TEST_NATS_SERVER and TEST_DATABASE_URL (scripts/test)");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}

/// Resident memory of a process, in KiB.
fn rss_kib(child: &Child) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// NATS servers in a cluster (or one alone), each with JetStream.
struct NatsCluster {
    binary: PathBuf,
    dir: PathBuf,
    client_ports: Vec<u16>,
    cluster_ports: Vec<u16>,
    servers: Vec<Option<Child>>,
}

impl NatsCluster {
    async fn start(binary: &Path, dir: &Path, size: usize) -> Self {
        let mut cluster = Self {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            client_ports: (0..size).map(|_| free_port()).collect(),
            cluster_ports: (0..size).map(|_| free_port()).collect(),
            servers: (0..size).map(|_| None).collect(),
        };
        for i in 0..size {
            cluster.start_server(i);
        }
        for port in cluster.client_ports.clone() {
            wait_for_port(port).await;
        }
        cluster
    }

    fn start_server(&mut self, i: usize) {
        let routes: Vec<String> = self
            .cluster_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect();
        let cluster = if self.client_ports.len() > 1 {
            format!(
                "cluster {{ name: chaos, listen: 127.0.0.1:{}, routes: [{}] }}",
                self.cluster_ports[i],
                routes.join(", ")
            )
        } else {
            String::new()
        };
        let config = format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{}\n{cluster}\n\
             jetstream {{ store_dir: \"{}\", sync_interval: always }}\n",
            self.client_ports[i],
            self.dir.join(format!("n{i}")).display()
        );
        let path = self.dir.join(format!("n{i}.conf"));
        std::fs::write(&path, config).expect("nats config");
        let log = std::fs::File::create(self.dir.join(format!("n{i}.log"))).expect("nats log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.servers[i] = Some(child);
    }

    fn urls(&self) -> String {
        self.client_ports
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn stop(&mut self, i: usize, how: &str) {
        if let Some(mut child) = self.servers[i].take() {
            signal(&child, how);
            let _ = child.wait();
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for mut child in self.servers.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `taina serve` processes of one installation.
struct Nodes {
    data_dir: PathBuf,
    database_url: String,
    nats_urls: String,
    replicas: usize,
    ports: Vec<u16>,
    processes: Vec<Option<Child>>,
}

impl Nodes {
    async fn start(data_dir: &Path, database_url: &str, nats: &NatsCluster, count: usize) -> Self {
        let mut nodes = Self {
            data_dir: data_dir.to_owned(),
            database_url: database_url.to_owned(),
            nats_urls: nats.urls(),
            replicas: nats.client_ports.len().min(3),
            ports: (0..count).map(|_| free_port()).collect(),
            processes: (0..count).map(|_| None).collect(),
        };
        // The first node migrates the database and makes the server secret alone.
        nodes.start_node(0).await;
        for i in 1..count {
            nodes.start_node(i).await;
        }
        nodes
    }

    /// Starts node `i` and waits until it answers. A node that gives up at start because
    /// JetStream has no leader yet (NATS servers down in this very test) is started again,
    /// as `Restart=on-failure` does under systemd, until the deadline.
    async fn start_node(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.try_start_node(i).await {
            assert!(Instant::now() < deadline, "node {i} never started");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// `false` when the node exited at start for want of JetStream.
    async fn try_start_node(&mut self, i: usize) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join(format!("node{i}.log")))
            .expect("node log");
        let child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TAINA_DATA_DIR", &self.data_dir)
            .env("TAINA_LISTEN", format!("127.0.0.1:{}", self.ports[i]))
            .env("TAINA_DATABASE_URL", &self.database_url)
            .env("TAINA_BUS__NATS_URL", &self.nats_urls)
            .env("TAINA_BUS__LOG_REPLICAS", self.replicas.to_string())
            .env("TAINA_SHUTDOWN_GRACE_SECONDS", "1")
            .env("TAINA_AUTH__SIGNIN_PER_MINUTE", "100000")
            .env("TAINA_AUTH__SIGNUP_PER_MINUTE", "100000")
            .env("TAINA_REALTIME__OFFLINE_DEBOUNCE_SECONDS", "1")
            .env("TAINA_REALTIME__RECOVERY_MAX_MESSAGES", "100000")
            .env("TAINA_LOG", "warn")
            .current_dir(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start taina");
        self.processes[i] = Some(child);
        let url = format!("{}/healthz", self.url(i));
        // A node waits up to 120 s for JetStream to elect a leader after NATS faults.
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            if let Ok(response) = reqwest::get(&url).await {
                if response.status().is_success() {
                    return true;
                }
            }
            if let Some(Some(child)) = self.processes.get_mut(i) {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.data_dir.join(format!("node{i}.log")))
                        .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    if tail
                        .first()
                        .is_some_and(|last| last.contains("JetStream is not available"))
                    {
                        self.processes[i] = None;
                        return false;
                    }
                    panic!(
                        "node {i} exited at start with {status}:\n{}",
                        tail.join("\n")
                    );
                }
            }
            assert!(Instant::now() < deadline, "node {i} did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn socket_url(&self, i: usize) -> String {
        format!("ws://127.0.0.1:{}/socket/websocket", self.ports[i])
    }

    fn stop(&mut self, i: usize, how: &str) {
        if let Some(mut child) = self.processes[i].take() {
            signal(&child, how);
            let _ = child.wait();
        }
    }

    fn rss_kib(&self) -> Vec<u64> {
        self.processes
            .iter()
            .map(|p| p.as_ref().map_or(0, rss_kib))
            .collect()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for mut child in self.processes.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn fresh_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "taina_chaos_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the database");
    let (base, _) = admin_url.rsplit_once('/').expect("a database path");
    format!("{base}/{name}")
}

/// Calls the HTTP API of one node.
struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Value {
        let mut request = self.client.post(format!("{}{path}", self.url)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    async fn token(&self, email: &str) -> String {
        let signed_in = self
            .post(
                "/api/auth/signin",
                json!({ "email": email, "password": PASSWORD }),
                None,
            )
            .await;
        signed_in["token"].as_str().expect("a token").to_owned()
    }

    /// The admin's token, and `count` members as (token, user id).
    async fn community(&self, count: usize) -> (String, Vec<(String, String)>) {
        self.post(
            "/api/auth/signup",
            json!({ "email": "admin@chaos.test", "password": PASSWORD }),
            None,
        )
        .await;
        let admin = self.token("admin@chaos.test").await;
        let mut members = Vec::new();
        for i in 0..count {
            let invite = self
                .post(
                    "/api/auth/invites",
                    json!({ "role": "member" }),
                    Some(&admin),
                )
                .await;
            let email = format!("m{i}@chaos.test");
            let signed_up = self
                .post(
                    "/api/auth/signup",
                    json!({ "email": email, "password": PASSWORD, "invite_code": invite["code"] }),
                    None,
                )
                .await;
            let id = signed_up["user"]["id"]
                .as_str()
                .expect("a user id")
                .to_owned();
            members.push((self.token(&email).await, id));
        }
        (admin, members)
    }

    async fn conversation(&self, admin: &str, participants: &[String]) -> String {
        let created = self
            .post(
                "/api/chat/conversations",
                json!({ "kind": "group", "name": "Roda", "participant_ids": participants }),
                Some(admin),
            )
            .await;
        created["id"].as_str().expect("an id").to_owned()
    }
}

fn json_payload(payload: &Payload) -> Option<&Value> {
    match payload {
        Payload::Json(value) => Some(value),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_devices_leave_presence_on_the_others() {
    let Some((nats_binary, admin_url)) = environment() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let nats = NatsCluster::start(&nats_binary, work.path(), 1).await;
    let database = fresh_database(&admin_url).await;
    let mut nodes = Nodes::start(work.path(), &database, &nats, 2).await;
    let api = Api {
        client: reqwest::Client::new(),
        url: nodes.url(0),
    };
    let (admin, members) = api.community(1).await;
    let me = api
        .client
        .get(format!("{}/api/auth/me", nodes.url(0)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let topic = format!("community:{}", me["community_id"].as_str().unwrap());
    let (member, member_id) = &members[0];

    let mut watcher = PhoenixClient::connect(&nodes.socket_url(0), &[("token", admin.as_str())])
        .await
        .unwrap();
    watcher.join(&topic, json!({})).await.unwrap();
    let mut doomed = PhoenixClient::connect(&nodes.socket_url(1), &[("token", member.as_str())])
        .await
        .unwrap();
    doomed
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    let mut joined = false;
    while !joined {
        let message = watcher.next_message(Duration::from_secs(5)).await.unwrap();
        if let Incoming::Message(m) = message {
            joined = m.event == "presence_diff"
                && json_payload(&m.payload).is_some_and(|d| d["joins"].get(member_id).is_some());
        }
    }

    let killed = Instant::now();
    nodes.stop(1, "KILL");
    let (mut left, mut offline) = (None, 0);
    while killed.elapsed() < Duration::from_secs(30) && (left.is_none() || offline == 0) {
        match watcher.next_message(Duration::from_secs(1)).await {
            Ok(Incoming::Message(m)) => {
                let Some(payload) = json_payload(&m.payload) else {
                    continue;
                };
                if m.event == "presence_diff" && payload["leaves"].get(member_id).is_some() {
                    left.get_or_insert(killed.elapsed());
                }
                if m.event == "user_offline" && payload["user_id"] == member_id.as_str() {
                    offline += 1;
                }
            }
            Ok(_) | Err(ClientError::Timeout(_)) => {}
            Err(error) => panic!("the watcher's socket failed: {error}"),
        }
    }
    let left = left.expect("the dead node's device left presence");
    eprintln!("device of the killed node left presence after {left:?}");
    // Three missed heartbeats (15 s), noticed within a second.
    assert!(left < Duration::from_secs(18), "{left:?}");
    // Only once, however long we listen.
    for message in drain(&mut watcher, Duration::from_secs(2)).await {
        if message.event == "user_offline" {
            offline += 1;
        }
    }
    assert_eq!(offline, 1);
    let state = watcher.join(&topic, json!({})).await;
    drop(state);
}

async fn drain(
    client: &mut PhoenixClient,
    window: Duration,
) -> Vec<taina_protocol::phoenix::Message> {
    let mut messages = Vec::new();
    while let Ok(Incoming::Message(m)) = client.next_message(window).await {
        messages.push(m);
    }
    messages
}

/// What one chaos client saw and did.
#[derive(Default)]
struct Tally {
    conversation: usize,
    /// Where the conversation stood at the first join: what came before is not this client's.
    joined_at: u64,
    /// Offsets received in order, with the body.
    received: BTreeMap<u64, String>,
    duplicates: u64,
    gaps: u64,
    unrecovered_joins: u64,
    reconnects: u64,
    /// Acknowledged sends: offset → body.
    acknowledged: BTreeMap<u64, String>,
    unacknowledged: u64,
}

struct ChaosClient {
    index: usize,
    token: String,
    topic: String,
    urls: Vec<String>,
    epoch: Option<String>,
    last: u64,
    tally: Tally,
}

impl ChaosClient {
    fn receive(&mut self, payload: &Value) {
        let (Some(offset), Some(body)) = (payload["offset"].as_u64(), payload["body"].as_str())
        else {
            return;
        };
        if offset <= self.last {
            self.tally.duplicates += 1;
            return;
        }
        if offset > self.last + 1 {
            self.tally.gaps += 1;
        }
        self.last = offset;
        self.tally.received.insert(offset, body.to_owned());
    }

    /// Connects to some node and (re)joins with `since`; `None` when no node answers now.
    async fn connect(&mut self, attempt: usize) -> Option<PhoenixClient> {
        let url = &self.urls[(self.index + attempt) % self.urls.len()];
        let mut client = PhoenixClient::connect(url, &[("token", self.token.as_str())])
            .await
            .ok()?;
        let payload = match &self.epoch {
            Some(epoch) => json!({ "since": { "epoch": epoch, "offset": self.last } }),
            None => json!({}),
        };
        let joined = client.join(&self.topic, payload).await.ok()?;
        if self.epoch.is_some() && joined["recovered"] != true {
            self.tally.unrecovered_joins += 1;
        }
        if self.epoch.is_none() {
            self.epoch = joined["epoch"].as_str().map(str::to_owned);
            self.last = joined["offset"].as_u64().unwrap_or(0);
            self.tally.joined_at = self.last;
        }
        Some(client)
    }

    /// Sends and receives until `stop`, reconnecting on failure; then, with every node up,
    /// recovers what is left.
    async fn run(mut self, stop: Arc<AtomicBool>, finish: Arc<AtomicBool>) -> Tally {
        let mut attempt = 0;
        let mut sequence = 0u64;
        let every = Duration::from_millis(400 + (self.index as u64 % 7) * 50);
        'connections: while !stop.load(Ordering::Relaxed) {
            let Some(mut client) = self.connect(attempt).await else {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut next_send = Instant::now() + every;
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= next_send {
                    next_send = now + every;
                    sequence += 1;
                    let body = format!("c{}-{sequence}", self.index);
                    match client
                        .push(&self.topic, "new_msg", json!({ "body": body }))
                        .await
                    {
                        Ok(reply) if reply.status == "ok" => {
                            let offset = json_payload(&reply.response)
                                .and_then(|r| r["offset"].as_u64())
                                .expect("a stored message's offset");
                            self.tally.acknowledged.insert(offset, body);
                        }
                        Ok(_) => self.tally.unacknowledged += 1,
                        Err(_) => {
                            self.tally.unacknowledged += 1;
                            self.tally.reconnects += 1;
                            attempt += 1;
                            continue 'connections;
                        }
                    }
                    continue;
                }
                match client.next_message(next_send - now).await {
                    Ok(Incoming::Message(m)) if m.event == "new_msg" => {
                        if let Some(payload) = json_payload(&m.payload) {
                            self.receive(&payload.clone());
                        }
                    }
                    Ok(Incoming::Message(_)) | Err(ClientError::Timeout(_)) => {}
                    Ok(Incoming::Closed { .. }) | Err(_) => {
                        self.tally.reconnects += 1;
                        attempt += 1;
                        continue 'connections;
                    }
                }
            }
        }
        // The chaos is over and every node is up again: one last recovery.
        while !finish.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for attempt in 0..30 {
            if let Some(mut client) = self.connect(attempt).await {
                for message in drain(&mut client, Duration::from_secs(2)).await {
                    if message.event == "new_msg" {
                        if let Some(payload) = json_payload(&message.payload) {
                            self.receive(&payload.clone());
                        }
                    }
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.tally
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_acknowledged_message_reaches_everyone_exactly_once() {
    let Some((nats_binary, admin_url)) = environment() else {
        return;
    };
    let seconds: u64 = std::env::var("TEST_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let work = tempfile::tempdir().unwrap();
    let mut nats = NatsCluster::start(&nats_binary, work.path(), 3).await;
    let database = fresh_database(&admin_url).await;
    let mut nodes = Nodes::start(work.path(), &database, &nats, 3).await;
    let api = Api {
        client: reqwest::Client::new(),
        url: nodes.url(0),
    };
    let (admin, members) = api.community(50).await;
    let mut topics = Vec::new();
    for group in members.chunks(5) {
        let ids: Vec<String> = group.iter().map(|(_, id)| id.clone()).collect();
        topics.push(format!(
            "conversation:{}",
            api.conversation(&admin, &ids).await
        ));
    }
    let urls: Vec<String> = (0..3).map(|i| nodes.socket_url(i)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (index, (token, _)) in members.iter().enumerate() {
        let client = ChaosClient {
            index,
            token: token.clone(),
            topic: topics[index / 5].clone(),
            urls: urls.clone(),
            epoch: None,
            last: 0,
            tally: Tally {
                conversation: index / 5,
                ..Tally::default()
            },
        };
        clients.push(tokio::spawn(client.run(stop.clone(), finish.clone())));
    }

    // Warm up, then note where memory stands.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let memory_before = nodes.rss_kib();
    let started = Instant::now();
    let mut failures: HashMap<&str, u32> = HashMap::new();
    let mut round = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(2_000..5_000))).await;
        round += 1;
        let how = if fastrand::bool() { "KILL" } else { "TERM" };
        let victim = fastrand::usize(0..6);
        if victim < 3 {
            nodes.stop(victim, how);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(200..1_500))).await;
            nodes.start_node(victim).await;
            *failures
                .entry(if how == "KILL" {
                    "taina kill -9"
                } else {
                    "taina SIGTERM"
                })
                .or_default() += 1;
        } else {
            let server = victim - 3;
            nats.stop(server, how);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(200..1_500))).await;
            nats.start_server(server);
            wait_for_port(nats.client_ports[server]).await;
            *failures
                .entry(if how == "KILL" {
                    "nats kill -9"
                } else {
                    "nats SIGTERM"
                })
                .or_default() += 1;
        }
        eprintln!(
            "chaos round {round}: {how} {}",
            if victim < 3 {
                format!("taina {victim}")
            } else {
                format!("nats {}", victim - 3)
            }
        );
    }
    stop.store(true, Ordering::Relaxed);
    // Let the cluster settle (a NATS server just restarted catches up its replicas).
    tokio::time::sleep(Duration::from_secs(3)).await;
    finish.store(true, Ordering::Relaxed);
    let mut tallies = Vec::new();
    for client in clients {
        tallies.push(client.await.expect("a chaos client"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory_after = nodes.rss_kib();

    // Every conversation's messages, as any of its participants acknowledged them.
    let mut acknowledged: Vec<BTreeMap<u64, String>> = vec![BTreeMap::new(); topics.len()];
    for tally in &tallies {
        for (offset, body) in &tally.acknowledged {
            let previous = acknowledged[tally.conversation].insert(*offset, body.clone());
            assert!(
                previous.is_none(),
                "two acknowledged sends at offset {offset}"
            );
        }
    }
    let total_acknowledged: usize = acknowledged.iter().map(BTreeMap::len).sum();
    let mut delivered = 0usize;
    for (i, tally) in tallies.iter().enumerate() {
        assert_eq!(tally.duplicates, 0, "client {i} saw duplicates");
        assert_eq!(tally.gaps, 0, "client {i} saw a gap");
        assert_eq!(
            tally.unrecovered_joins, 0,
            "client {i}: a rejoin was not recovered"
        );
        for (offset, body) in acknowledged[tally.conversation].range(tally.joined_at + 1..) {
            assert_eq!(
                tally.received.get(offset),
                Some(body),
                "client {i} lacks acknowledged message {offset}"
            );
        }
        // Every offset from the first one it saw to the last, each once.
        if let (Some(first), Some(last)) = (
            tally.received.keys().next(),
            tally.received.keys().next_back(),
        ) {
            assert_eq!(tally.received.len() as u64, last - first + 1, "client {i}");
        }
        delivered += tally.received.len();
    }
    let reconnects: u64 = tallies.iter().map(|t| t.reconnects).sum();
    let unacknowledged: u64 = tallies.iter().map(|t| t.unacknowledged).sum();
    eprintln!(
        "chaos: {seconds} s, {round} failures {failures:?}; {total_acknowledged} acknowledged \
         sends ({unacknowledged} unacknowledged), {delivered} deliveries checked, {reconnects} \
         reconnects, 0 gaps, 0 duplicates; RSS KiB before {memory_before:?} after {memory_after:?}"
    );
    assert!(total_acknowledged > 0);
    for (i, (before, after)) in memory_before.iter().zip(&memory_after).enumerate() {
        assert!(
            *after as f64 <= *before as f64 * 1.2,
            "node {i}: {after} KiB after, {before} KiB before"
        );
    }
}
