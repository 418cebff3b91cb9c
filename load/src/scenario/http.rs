//! `http`: the HTTP API under concurrent readers. Seeds (through the public API) members,
//! group conversations full of messages and a photo timeline, then `clients` clients, each
//! with a session of its own and one keep-alive connection, loop for `duration` seconds over
//! three reads in turn: `GET /api/chat/conversations/{id}/messages` (the newest page of a random
//! conversation of theirs), GraphQL `photos` (the timeline's first page) and GraphQL
//! `conversations` (the chat list with unread counts). Closed loop: a client sends its next
//! request when the previous one has been answered (after `think_ms`, if set), so with no
//! pause the figures are latency at the throughput the server reaches with that many
//! clients (saturation: latency ≈ clients ÷ throughput), not at a fixed arrival rate.
//! Every answer is checked (status 200, no GraphQL `errors`, a non-empty list); a failed
//! check is an error, never a latency sample.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use super::{progress, Context, Counters};
use crate::report::Report;
use crate::seed::{Account, Seeder};
use crate::stats::{add_latency, histogram};

/// The members' addresses are fixed so that `--skip-seed` can sign them in again.
const MEMBER_PASSWORD: &str = "load http member password";
fn member_email(i: usize) -> String {
    format!("load-http-{i}@example.org")
}

/// What a chat list shows.
const CONVERSATIONS: &str = "{ conversations { id kind name participantIds lastOffset \
                             lastReadOffset unreadCount encrypted createdAt } }";
/// What a timeline shows: the first page (the server's default of 50).
const PHOTOS: &str = "{ photos(first: 50) { nodes { id userId filename mimeType width height \
                      takenAt createdAt processingStatus urls { original large thumb } } \
                      endCursor hasNextPage } }";
/// Photos seeded are this big.
const PHOTO_SIDE: (u32, u32) = (96, 72);

pub struct Plan {
    pub clients: usize,
    pub duration: u64,
    pub members: usize,
    pub conversations: usize,
    pub room_size: usize,
    pub messages: usize,
    pub photos: usize,
    pub concurrency: usize,
    pub skip_seed: bool,
    /// `messages`, `photos`, `conversations`: what each client sends in turn.
    pub kinds: Vec<String>,
    /// Mean pause after each answer (0: none).
    pub think_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Messages,
    Photos,
    Conversations,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Messages, Kind::Photos, Kind::Conversations];

    fn label(self) -> &'static str {
        match self {
            Kind::Messages => "GET messages",
            Kind::Photos => "GraphQL photos",
            Kind::Conversations => "GraphQL conversations",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn parse(name: &str) -> anyhow::Result<Kind> {
        Ok(match name.trim() {
            "messages" => Kind::Messages,
            "photos" => Kind::Photos,
            "conversations" => Kind::Conversations,
            other => bail!("--kinds takes messages, photos, conversations; not {other:?}"),
        })
    }
}

/// Checks an answer: the number of items in its list, or why it is not a good answer.
fn check(kind: Kind, status: u16, body: &[u8]) -> Result<usize, String> {
    let shown = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if status != 200 {
        return Err(format!("status {status}: {}", shown()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", shown()))?;
    if kind != Kind::Messages && !value["errors"].is_null() {
        return Err(format!("GraphQL errors: {}", value["errors"]));
    }
    let list = match kind {
        Kind::Messages => &value["messages"],
        Kind::Photos => &value["data"]["photos"]["nodes"],
        Kind::Conversations => &value["data"]["conversations"],
    };
    match list.as_array() {
        Some(items) if !items.is_empty() => Ok(items.len()),
        Some(_) => Err("an empty list".into()),
        None => Err(format!("no list in {}", shown())),
    }
}

/// One kind's figures, per client and then merged.
struct Tally {
    latency: Histogram<u64>,
    errors: u64,
    items: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            latency: histogram(),
            errors: 0,
            items: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        self.errors += other.errors;
        self.items += other.items;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// A client: its own session, connection and conversations.
struct Client {
    http: reqwest::Client,
    token: String,
    conversations: Vec<String>,
}

/// xorshift, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

pub async fn run(ctx: &Context, plan: Plan) -> anyhow::Result<Report> {
    anyhow::ensure!(plan.clients >= 1, "--clients is at least 1");
    anyhow::ensure!(plan.members >= 1, "--members is at least 1");
    anyhow::ensure!(
        (2..=plan.members + 1).contains(&plan.room_size),
        "--room-size counts the admin: between 2 and --members + 1"
    );
    let kinds = plan
        .kinds
        .iter()
        .map(|k| Kind::parse(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!kinds.is_empty(), "--kinds names at least one kind");
    let admin = ctx.admin()?.clone();
    let seeder = &ctx.seeder;
    let mut params = json!({ "clients": plan.clients, "duration": plan.duration,
                             "members": plan.members, "kinds": plan.kinds,
                             "think_ms": plan.think_ms, "skip_seed": plan.skip_seed,
                             "loop": "closed" });
    if !plan.skip_seed {
        params["conversations"] = json!(plan.conversations);
        params["room_size"] = json!(plan.room_size);
        params["messages_per_conversation"] = json!(plan.messages);
        params["photos"] = json!(plan.photos);
    }
    let mut report = Report::new("http", params);
    let members = members(seeder, &admin, plan.members, plan.skip_seed).await?;
    if !plan.skip_seed {
        seed_chat(seeder, &admin, &members, &plan, &mut report).await?;
        seed_photos(seeder, &admin, &plan, &mut report).await?;
    }
    wait_for_photos(seeder, &admin, &mut report).await?;

    // Each client signs in on its own (its own session), on its own connection from
    // 127.0.0.(1 + i mod N), and learns its conversations (those with messages).
    let started = Instant::now();
    let clients: Vec<anyhow::Result<Client>> = stream::iter(0..plan.clients)
        .map(|i| client(seeder, ctx.source_ip(i), i % plan.members))
        .buffer_unordered(8)
        .collect()
        .await;
    let clients = clients.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    report.add("client sign-in seconds", started.elapsed().as_secs_f64());

    let counters = Arc::new(Counters::default());
    let guard = progress("http", counters.clone());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(plan.duration);
    let base = seeder.base().to_string();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let (base, counters, kinds) = (base.clone(), counters.clone(), kinds.clone());
            let think_ms = plan.think_ms;
            tokio::spawn(async move {
                run_client(i, client, &base, &kinds, think_ms, deadline, &counters).await
            })
        })
        .collect();
    let mut tallies: Vec<Tally> = Kind::ALL.iter().map(|_| Tally::new()).collect();
    for task in tasks {
        for (total, tally) in tallies.iter_mut().zip(task.await?) {
            total.merge(tally)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(guard);

    report.add("clients", plan.clients as u64);
    report.add("measured seconds", seconds);
    let (mut answered, mut errors) = (0u64, 0u64);
    for (kind, tally) in Kind::ALL.iter().zip(&tallies) {
        if !kinds.contains(kind) {
            continue;
        }
        let label = kind.label();
        let ok = tally.latency.len();
        add_latency(&mut report, label, &tally.latency);
        report.add(&format!("{label} req/s"), ok as f64 / seconds);
        report.add(&format!("{label} errors"), tally.errors);
        if ok > 0 {
            report.add(
                &format!("{label} items per answer"),
                tally.items as f64 / ok as f64,
            );
        }
        if let Some(error) = &tally.first_error {
            report.add(&format!("{label} first error"), error.clone());
        }
        answered += ok;
        errors += tally.errors;
    }
    report.add("req/s", answered as f64 / seconds);
    report.add("errors", errors);
    if let Some(rss) = ctx.server_rss() {
        report.add("server RSS MiB", rss as f64 / (1024.0 * 1024.0));
    }
    Ok(report)
}

/// `count` members with fixed addresses: signed up through one invite (or signed in, when an
/// earlier run made them), or with `skip_seed` only signed in.
async fn members(
    seeder: &Seeder,
    admin: &Account,
    count: usize,
    skip_seed: bool,
) -> anyhow::Result<Vec<Account>> {
    let code = if skip_seed {
        String::new()
    } else {
        let (status, invite) = seeder
            .post(
                "/api/auth/invites",
                json!({ "max_uses": count, "role": "member" }),
                Some(&admin.token),
            )
            .await?;
        if status != 201 {
            bail!("invite failed: {status} {invite}");
        }
        invite["code"].as_str().unwrap_or_default().to_string()
    };
    let results: Vec<anyhow::Result<Account>> = stream::iter(0..count)
        .map(|i| {
            let code = code.clone();
            async move {
                let email = member_email(i);
                if !skip_seed {
                    // 201, or 409 when an earlier run made this member: sign in either way.
                    seeder
                        .post(
                            "/api/auth/signup",
                            json!({ "email": email, "password": MEMBER_PASSWORD,
                                    "invite_code": code }),
                            None,
                        )
                        .await?;
                }
                seeder
                    .sign_in(&email, MEMBER_PASSWORD)
                    .await
                    .with_context(|| {
                        if skip_seed {
                            "--skip-seed needs the members of an earlier run without it"
                        } else {
                            "member sign-up"
                        }
                    })
            }
        })
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// `conversations` groups (the admin and `room_size - 1` members each, members taken in
/// turn) and `messages` messages in each, sent by its participants in turn with
/// `concurrency` requests in flight.
async fn seed_chat(
    seeder: &Seeder,
    admin: &Account,
    members: &[Account],
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let others = plan.room_size - 1;
    let mut rooms: Vec<(String, Vec<Account>)> = Vec::with_capacity(plan.conversations);
    for c in 0..plan.conversations {
        let chosen: Vec<Account> = (0..others)
            .map(|k| members[(c * others + k) % members.len()].clone())
            .collect();
        let ids: Vec<String> = chosen.iter().map(|m| m.user_id.clone()).collect();
        let id = seeder.conversation(admin, &ids).await?;
        let mut participants = vec![admin.clone()];
        participants.extend(chosen);
        rooms.push((id, participants));
    }
    let total = plan.conversations * plan.messages;
    let started = Instant::now();
    let failed = AtomicU64::new(0);
    let first_failure = std::sync::Mutex::new(None::<String>);
    stream::iter(0..total)
        .for_each_concurrent(plan.concurrency.max(1), |k| {
            let (id, participants) = &rooms[k % rooms.len()];
            let j = k / rooms.len();
            let sender = &participants[j % participants.len()];
            let path = format!("/api/chat/conversations/{id}/messages");
            let body = json!({ "body": message_body(k) });
            let (failed, first_failure) = (&failed, &first_failure);
            async move {
                match seeder.post(&path, body, Some(&sender.token)).await {
                    Ok((201, _)) => {}
                    outcome => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_failure.lock().expect("not poisoned");
                        if first.is_none() {
                            *first = Some(format!("{outcome:?}"));
                        }
                    }
                }
            }
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    report.add("seeded messages", total as u64);
    report.add("seed message failures", failed.load(Ordering::Relaxed));
    if let Some(first) = first_failure.into_inner().expect("not poisoned") {
        report.add("seed first failure", first);
    }
    report.add("seed messages/s", total as f64 / seconds);
    Ok(())
}

/// Chat-like text of 20 to ~200 characters, different for every `k`.
fn message_body(k: usize) -> String {
    const WORDS: [&str; 16] = [
        "amanhã", "na", "feira", "levo", "tapioca", "e", "açaí", "para", "todo", "mundo", "coffee",
        "weekend", "garden", "praia", "chuva", "jantar",
    ];
    let words = 3 + (k * 7919) % 30;
    let mut body = format!("#{k}");
    for w in 0..words {
        body.push(' ');
        body.push_str(WORDS[(k + w * 5) % WORDS.len()]);
    }
    body
}

/// `photos` PNGs uploaded by the admin (the same bytes in every run, so a second seeding
/// finds them: 200 and `duplicate` instead of 201).
async fn seed_photos(
    seeder: &Seeder,
    admin: &Account,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<u16>> = stream::iter(0..plan.photos)
        .map(|i| async move {
            let png = crate::png::picture(i as u64, PHOTO_SIDE.0, PHOTO_SIDE.1);
            let (status, body) = seeder
                .upload(admin, &format!("load-{i}.png"), "image/png", png)
                .await?;
            if status != 201 && status != 200 {
                bail!("upload {i}: {status} {body}");
            }
            Ok(status)
        })
        .buffer_unordered(plan.concurrency.clamp(1, 8))
        .collect()
        .await;
    let statuses = outcomes.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    report.add(
        "seeded photos (new)",
        statuses.iter().filter(|s| **s == 201).count() as u64,
    );
    report.add(
        "seeded photos (already there)",
        statuses.iter().filter(|s| **s == 200).count() as u64,
    );
    report.add("seed photo seconds", started.elapsed().as_secs_f64());
    Ok(())
}

/// Waits (up to two minutes) until no photo is `pending`, so that their processing does not
/// run during the measurement.
async fn wait_for_photos(
    seeder: &Seeder,
    admin: &Account,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        let mut after: Option<String> = None;
        loop {
            let query = json!({
                "query": "query ($after: String) { photos(first: 200, after: $after) \
                          { nodes { processingStatus } endCursor hasNextPage } }",
                "variables": { "after": after },
            });
            let (status, body) = seeder.post("/graphql", query, Some(&admin.token)).await?;
            if status != 200 || !body["errors"].is_null() {
                bail!("photos: {status} {body}");
            }
            let page = &body["data"]["photos"];
            for node in page["nodes"].as_array().into_iter().flatten() {
                let state = node["processingStatus"].as_str().unwrap_or("?");
                *counts.entry(state.to_string()).or_default() += 1;
            }
            after = page["endCursor"].as_str().map(str::to_string);
            if page["hasNextPage"] != json!(true) || after.is_none() {
                break;
            }
        }
        let pending = counts.get("pending").copied().unwrap_or(0);
        if pending == 0 || started.elapsed() > Duration::from_secs(120) {
            for (state, n) in counts {
                report.add(&format!("photos {state}"), n);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Member `member`'s new session on a connection of its own from `source`, and the
/// conversations it can read messages in.
async fn client(seeder: &Seeder, source: IpAddr, member: usize) -> anyhow::Result<Client> {
    let account = seeder
        .sign_in(&member_email(member), MEMBER_PASSWORD)
        .await?;
    let http = reqwest::Client::builder()
        .local_address(source)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()?;
    let response = http
        .get(format!("{}/api/chat/conversations", seeder.base()))
        .bearer_auth(&account.token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let list: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        bail!("conversations of member {member}: {status} {list}");
    }
    let conversations: Vec<String> = list["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["last_offset"].as_u64().unwrap_or(0) > 0)
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    if conversations.is_empty() {
        bail!(
            "member {member} has no conversation with messages \
             (seed first: run without --skip-seed)"
        );
    }
    Ok(Client {
        http,
        token: account.token,
        conversations,
    })
}

/// Client `i`'s closed loop until `deadline`: the kinds in turn, starting with kind
/// `i mod len` so that all of them are in flight at every moment.
async fn run_client(
    i: usize,
    client: Client,
    base: &str,
    kinds: &[Kind],
    think_ms: u64,
    deadline: Instant,
    counters: &Counters,
) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = Kind::ALL.iter().map(|_| Tally::new()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let graphql = |query: &str| {
        client
            .http
            .post(format!("{base}/graphql"))
            .bearer_auth(&client.token)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "query": query }).to_string())
    };
    // With pauses, clients start spread over one pause, not all in the same instant.
    if think_ms > 0 {
        let offset = Duration::from_millis(rng.below(think_ms as usize) as u64);
        tokio::time::sleep(offset).await;
    }
    let mut turn = i;
    while Instant::now() < deadline {
        let kind = kinds[turn % kinds.len()];
        turn += 1;
        let request = match kind {
            Kind::Messages => {
                let id = &client.conversations[rng.below(client.conversations.len())];
                client
                    .http
                    .get(format!("{base}/api/chat/conversations/{id}/messages"))
                    .bearer_auth(&client.token)
            }
            Kind::Photos => graphql(PHOTOS),
            Kind::Conversations => graphql(CONVERSATIONS),
        };
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        let took = started.elapsed().as_micros() as u64;
        let outcome = match answer {
            Ok((status, body)) => check(kind, status, &body),
            Err(e) => Err(format!("request failed: {e}")),
        };
        let tally = &mut tallies[kind.index()];
        Counters::add(&counters.messages, 1);
        match outcome {
            Ok(items) => {
                // A latency past the histogram's range (60 s) cannot happen with the 10 s
                // timeout; an error here would only lose that sample.
                let _ = tally.latency.record(took.max(1));
                tally.items += items as u64;
                Counters::add(&counters.done, 1);
            }
            Err(why) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(why);
                Counters::add(&counters.failed, 1);
            }
        }
        if think_ms > 0 {
            let pause = think_ms / 2 + rng.below(think_ms as usize + 1) as u64;
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(Duration::from_millis(pause).min(left)).await;
        }
    }
    tallies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_answers_count_their_items() {
        let messages = br#"{"messages":[{"id":"a"},{"id":"b"}],"next_before":3}"#;
        assert_eq!(check(Kind::Messages, 200, messages), Ok(2));
        let photos = br#"{"data":{"photos":{"nodes":[{"id":"p"}],"hasNextPage":false}}}"#;
        assert_eq!(check(Kind::Photos, 200, photos), Ok(1));
        let list = br#"{"data":{"conversations":[{"id":"c"},{"id":"d"},{"id":"e"}]}}"#;
        assert_eq!(check(Kind::Conversations, 200, list), Ok(3));
    }

    #[test]
    fn bad_answers_are_errors() {
        let ok_body = br#"{"messages":[{"id":"a"}]}"#;
        assert!(check(Kind::Messages, 500, ok_body)
            .unwrap_err()
            .starts_with("status 500"));
        assert_eq!(
            check(Kind::Messages, 200, br#"{"messages":[]}"#),
            Err("an empty list".into())
        );
        assert!(check(Kind::Messages, 200, b"<html>")
            .unwrap_err()
            .starts_with("not JSON"));
        let errors = br#"{"data":null,"errors":[{"message":"not signed in"}]}"#;
        assert!(check(Kind::Photos, 200, errors)
            .unwrap_err()
            .contains("not signed in"));
        // GraphQL answers 200 with partial data and errors: still an error.
        let partial = br#"{"data":{"conversations":[{"id":"c"}]},"errors":[{"message":"x"}]}"#;
        assert!(check(Kind::Conversations, 200, partial).is_err());
        assert!(check(Kind::Conversations, 200, br#"{"data":{}}"#)
            .unwrap_err()
            .starts_with("no list"));
    }

    #[test]
    fn message_bodies_differ_and_stay_short() {
        let bodies: std::collections::HashSet<String> = (0..1000).map(message_body).collect();
        assert_eq!(bodies.len(), 1000);
        assert!(bodies.iter().all(|b| b.len() < 400));
    }

    #[test]
    fn kinds_parse_by_name() {
        assert_eq!(Kind::parse("photos").unwrap(), Kind::Photos);
        assert_eq!(Kind::parse(" messages").unwrap(), Kind::Messages);
        assert!(Kind::parse("albums").is_err());
        for kind in Kind::ALL {
            assert_eq!(Kind::ALL[kind.index()], kind);
        }
    }

    #[test]
    fn the_rng_stays_in_range() {
        let mut rng = Rng(42);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[rng.below(7)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
