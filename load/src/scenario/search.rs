//! `search`: full-text search at scale. Seeds messages through the REST API (so they are
//! indexed exactly as users' messages are), then times GraphQL `searchMessages` for three
//! kinds of query: a common word (in most messages), a rare word (in a few hundred per
//! million), and a two-word phrase.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::Context;
use crate::report::Report;
use crate::stats::{add_latency, histogram};

/// Real words first (they get the most weight), then made-up ones to fill the vocabulary.
const COMMON: [&str; 24] = [
    "casa",
    "gato",
    "açaí",
    "feira",
    "amanhã",
    "tapioca",
    "praia",
    "música",
    "família",
    "trabalho",
    "cidade",
    "escola",
    "jantar",
    "viagem",
    "chuva",
    "futebol",
    "livro",
    "coração",
    "house",
    "running",
    "weekend",
    "garden",
    "coffee",
    "meeting",
];
const VOCABULARY: usize = 20_000;

/// The `i`-th query of a kind.
type QueryFor = fn(usize) -> String;

pub struct Plan {
    pub messages: usize,
    pub conversations: usize,
    pub queries: usize,
    pub concurrency: usize,
    pub skip_seed: bool,
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Words {
    state: u64,
    /// Cumulative Zipf weights (s = 1) over the vocabulary.
    cumulative: Vec<f64>,
}

impl Words {
    fn new(seed: u64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=VOCABULARY)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Words {
            state: seed | 1,
            cumulative,
        }
    }

    fn next_f64(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }

    fn word(rank: usize) -> String {
        match COMMON.get(rank) {
            Some(word) => word.to_string(),
            None => format!("palavra{rank}"),
        }
    }

    fn pick(&mut self) -> String {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let target = self.next_f64() * total;
        let rank = self.cumulative.partition_point(|c| *c < target);
        Self::word(rank.min(VOCABULARY - 1))
    }

    fn body(&mut self) -> String {
        let length = 6 + (self.next_f64() * 12.0) as usize;
        (0..length)
            .map(|_| self.pick())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub async fn run(context: &Context, plan: Plan) -> anyhow::Result<Report> {
    let admin = context.admin()?.clone();
    let seeder = &context.seeder;
    let mut report = Report::new(
        "search",
        json!({ "messages": plan.messages, "conversations": plan.conversations,
                "queries": plan.queries, "concurrency": plan.concurrency }),
    );
    if !plan.skip_seed {
        let members = seeder.members(&admin, 1).await?;
        let mut conversations = Vec::with_capacity(plan.conversations);
        for _ in 0..plan.conversations {
            conversations.push(
                seeder
                    .conversation(&admin, &[members[0].user_id.clone()])
                    .await?,
            );
        }
        let started = Instant::now();
        let failed = Arc::new(AtomicU64::new(0));
        let per_task = plan.messages.div_ceil(plan.concurrency);
        let tasks = (0..plan.concurrency).map(|task| {
            let (admin, conversations, failed) =
                (admin.clone(), conversations.clone(), failed.clone());
            async move {
                let mut words = Words::new(0x9E37_79B9_7F4A_7C15 ^ task as u64);
                let from = task * per_task;
                for i in from..(from + per_task).min(plan.messages) {
                    let conversation = &conversations[i % conversations.len()];
                    let path = format!("/api/chat/conversations/{conversation}/messages");
                    let body = json!({ "body": words.body() });
                    match seeder.post(&path, body, Some(&admin.token)).await {
                        Ok((201, _)) => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        stream::iter(tasks)
            .buffer_unordered(plan.concurrency)
            .collect::<Vec<()>>()
            .await;
        let seconds = started.elapsed().as_secs_f64();
        report.add("seeded messages", plan.messages as u64);
        report.add("seed failures", failed.load(Ordering::Relaxed));
        report.add("seed seconds", seconds);
        report.add("seed messages/s", plan.messages as f64 / seconds);
    }

    // Common: the top words; rare: words ranked ~5,000 (a few hundred hits per million);
    // phrase: two common words side by side.
    let kinds: [(&str, QueryFor); 3] = [
        ("common word", |i| Words::word(i % 4)),
        ("rare word", |i| Words::word(5_000 + i % 50)),
        ("phrase", |i| {
            format!("\"{} {}\"", Words::word(i % 3), Words::word(1 + i % 5))
        }),
    ];
    let query = "query ($q: String!) { searchMessages(query: $q, first: 20) { nodes { id body conversationId snippet } } }";
    for (label, make) in kinds {
        let mut latency = histogram();
        let mut hits = 0u64;
        let timings: Vec<anyhow::Result<(u64, usize)>> = stream::iter(0..plan.queries)
            .map(|i| {
                let q = make(i);
                let admin = admin.clone();
                async move {
                    let started = Instant::now();
                    let (status, body) = seeder
                        .post(
                            "/graphql",
                            json!({ "query": query, "variables": { "q": q } }),
                            Some(&admin.token),
                        )
                        .await?;
                    let took = started.elapsed().as_micros() as u64;
                    if status != 200 || !body["errors"].is_null() {
                        bail!("search {q}: {status} {body}");
                    }
                    let found = body["data"]["searchMessages"]["nodes"]
                        .as_array()
                        .map_or(0, Vec::len);
                    Ok((took, found))
                }
            })
            .buffer_unordered(plan.concurrency.min(8))
            .collect()
            .await;
        for timing in timings {
            let (took, found) = timing?;
            latency.record(took.max(1))?;
            hits += found as u64;
        }
        add_latency(&mut report, label, &latency);
        report.add(
            &format!("{label} results per query"),
            hits as f64 / plan.queries as f64,
        );
    }
    Ok(report)
}
