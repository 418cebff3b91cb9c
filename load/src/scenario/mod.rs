//! The scenarios, each bounded in count and time. Shared here: seeding, the live progress
//! line and reading the server's memory.

mod churn;
mod connect;
mod fanout;
mod idle;
mod rooms;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::Report;
use crate::seed::{Account, Seeder};
use crate::{Cli, Scenario};

pub async fn run(cli: &Cli, scenario: Scenario) -> anyhow::Result<Report> {
    if let Scenario::Connect { mode, .. } | Scenario::Idle { mode, .. } = &scenario {
        anyhow::ensure!(
            ["phoenix", "graphql", "mux"].contains(&mode.as_str()),
            "mode is phoenix, graphql or mux"
        );
    }
    let seeder = Seeder::new(&cli.url);
    let admin = seeder.admin(&cli.admin_email, &cli.admin_password).await?;
    let context = Context {
        seeder,
        admin,
        server_pid: cli.server_pid,
    };
    match scenario {
        Scenario::Connect {
            connections,
            mode,
            rate,
        } => connect::run(&context, connections, &mode, rate).await,
        Scenario::Idle {
            connections,
            mode,
            hold,
        } => idle::run(&context, connections, &mode, hold).await,
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            target,
            floor_url,
        } => fanout::run(&context, subscribers, rate, duration, &target, &floor_url).await,
        Scenario::Rooms {
            users,
            room_size,
            rate,
            duration,
        } => rooms::run(&context, users, room_size, rate, duration).await,
        Scenario::Churn { clients, missed } => churn::run(&context, clients, missed).await,
        Scenario::Floor { .. } => unreachable!("handled by main"),
    }
}

pub struct Context {
    pub seeder: Seeder,
    pub admin: Account,
    pub server_pid: Option<u32>,
}

impl Context {
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
