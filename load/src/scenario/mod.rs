//! The scenarios, each bounded in count and time. Shared here: seeding, the live progress
//! line and reading the server's memory.

mod churn;
mod connect;
mod fanout;
mod home;
mod http;
mod idle;
mod presence;
mod rooms;
mod search;
mod transfer;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use taina_protocol::client::ConnectOptions;

use crate::chart::Timeline;
use crate::report::Report;
use crate::seed::{Account, Seeder};
use crate::target::{Mode, Target};
use crate::{Cli, Scenario};

/// Runs `scenario`; fanout and rooms also return their latency timeline for the chart.
pub async fn run(cli: &Cli, scenario: Scenario) -> anyhow::Result<(Report, Option<Timeline>)> {
    let target = match &scenario {
        Scenario::Fanout {
            target,
            mode,
            peer_url,
            ..
        }
        | Scenario::Rooms {
            target,
            mode,
            peer_url,
            ..
        }
        | Scenario::Idle {
            target,
            mode,
            peer_url,
            ..
        } => Target::parse(target, mode, peer_url.as_deref())?,
        Scenario::Connect { mode, .. } => Target::Taina(Mode::parse(mode)?),
        _ => Target::Taina(Mode::Phoenix),
    };
    anyhow::ensure!(
        (1..=250).contains(&cli.source_addresses),
        "--source-addresses is between 1 and 250"
    );
    let seeder = Seeder::new(&cli.url).keeping_accounts_in(cli.accounts.clone());
    // Only Tainá needs accounts; the peers are open.
    let admin = match target {
        Target::Taina(_) => Some(seeder.admin(&cli.admin_email, &cli.admin_password).await?),
        _ => None,
    };
    let ws_url = match &target {
        Target::Taina(_) => seeder.ws_url(),
        Target::Floor(url) | Target::GraphqlWs(url) | Target::SocketIo(url) => url.clone(),
    };
    let node_ws_urls = match &target {
        Target::Taina(_) => cli
            .node_urls
            .iter()
            .map(|u| format!("{}/socket/websocket", u.replacen("http://", "ws://", 1)))
            .collect(),
        _ => Vec::new(),
    };
    let context = Context {
        seeder,
        admin,
        ws_url,
        node_ws_urls,
        server_pid: cli.server_pid,
        source_addresses: cli.source_addresses,
    };
    let no_chart = |report| Ok((report, None));
    match scenario {
        Scenario::Connect {
            connections, rate, ..
        } => {
            let Target::Taina(mode) = target else {
                unreachable!("connect is Tainá only")
            };
            no_chart(connect::run(&context, connections, mode, rate).await?)
        }
        Scenario::Idle {
            connections,
            hold,
            conversations,
            ..
        } => no_chart(idle::run(&context, &target, connections, conversations, hold).await?),
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            ..
        } => {
            let (report, timeline) =
                fanout::run(&context, &target, subscribers, rate, duration).await?;
            Ok((report, Some(timeline)))
        }
        Scenario::Rooms {
            users,
            room_size,
            rate,
            duration,
            ..
        } => {
            let (report, timeline) =
                rooms::run(&context, &target, users, room_size, rate, duration).await?;
            Ok((report, Some(timeline)))
        }
        Scenario::Transfer { mib, samples } => {
            no_chart(transfer::run(&context, mib, samples).await?)
        }
        Scenario::Churn { clients, missed } => {
            no_chart(churn::run(&context, clients, missed).await?)
        }
        Scenario::Home {
            entities,
            rate,
            duration,
            mqtt_url,
            prefix,
            via,
            msgpack,
        } => {
            let source = match via.as_str() {
                "mqtt" => home::Source::Mqtt {
                    url: mqtt_url,
                    prefix,
                },
                "socket" => home::Source::Socket { msgpack },
                other => anyhow::bail!("--via is mqtt or socket, not {other}"),
            };
            no_chart(home::run(&context, entities, rate, duration, source).await?)
        }
        Scenario::Search {
            messages,
            conversations,
            queries,
            concurrency,
            skip_seed,
        } => no_chart(
            search::run(
                &context,
                search::Plan {
                    messages,
                    conversations,
                    queries,
                    concurrency,
                    skip_seed,
                },
            )
            .await?,
        ),
        Scenario::Http {
            clients,
            duration,
            members,
            conversations,
            room_size,
            messages,
            photos,
            concurrency,
            skip_seed,
            kinds,
            think_ms,
        } => no_chart(
            http::run(
                &context,
                http::Plan {
                    clients,
                    duration,
                    members,
                    conversations,
                    room_size,
                    messages,
                    photos,
                    concurrency,
                    skip_seed,
                    kinds,
                    think_ms,
                },
            )
            .await?,
        ),
        Scenario::Presence {
            devices,
            concurrency,
        } => no_chart(presence::run(&context, devices, concurrency).await?),
        Scenario::Floor { .. } => unreachable!("handled by main"),
    }
}

pub struct Context {
    pub seeder: Seeder,
    admin: Option<Account>,
    /// Where the sockets go: Tainá's `/socket/websocket`, or the peer's URL.
    pub ws_url: String,
    /// The other nodes' socket URLs (`--node-url`), if any.
    node_ws_urls: Vec<String>,
    pub server_pid: Option<u32>,
    source_addresses: u8,
}

impl Context {
    /// Where connection `i` goes: `ws_url` alone, or node `i mod N` with `--node-url`.
    pub fn ws_url_for(&self, i: usize) -> &str {
        let nodes = 1 + self.node_ws_urls.len();
        match i % nodes {
            0 => &self.ws_url,
            n => &self.node_ws_urls[n - 1],
        }
    }

    /// The signed-in admin (Tainá targets only).
    pub fn admin(&self) -> anyhow::Result<&Account> {
        self.admin
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this scenario needs Tainá accounts"))
    }

    /// The admin's token, or nothing for peers.
    pub fn admin_token(&self) -> &str {
        self.admin
            .as_ref()
            .map(|a| a.token.as_str())
            .unwrap_or_default()
    }

    /// Connection `i` comes from 127.0.0.(1 + i mod N): ephemeral ports run out near 28k per
    /// source address, and TIME_WAIT from earlier runs counts against them.
    pub fn source(&self, i: usize) -> ConnectOptions {
        ConnectOptions::from_address(self.source_ip(i))
    }

    /// The address behind [`Context::source`]: 127.0.0.(1 + i mod N).
    pub fn source_ip(&self, i: usize) -> IpAddr {
        let last = 1 + (i % self.source_addresses as usize) as u8;
        IpAddr::from([127, 0, 0, last])
    }

    /// The server's resident memory in bytes, when its pid was given.
    pub fn server_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.server_pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

/// Counters a scenario updates and the progress line reads.
#[derive(Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub messages: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A live progress line (rates per second) until the returned guard is dropped.
pub fn progress(label: &str, counters: Arc<Counters>) -> ProgressGuard {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("static template"),
    );
    let label = label.to_string();
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (0u64, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let messages = counters.messages.load(Ordering::Relaxed);
                let rate = (messages - last.0) as f64 / last.1.elapsed().as_secs_f64();
                last = (messages, Instant::now());
                bar.set_message(format!(
                    "{label}: {} ok, {} failed, {} msgs ({:.0}/s) after {:.0} s",
                    counters.done.load(Ordering::Relaxed),
                    counters.failed.load(Ordering::Relaxed),
                    messages,
                    rate,
                    started.elapsed().as_secs_f64()
                ));
                bar.tick();
            }
        })
    };
    ProgressGuard { bar, ticker }
}

pub struct ProgressGuard {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
