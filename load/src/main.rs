//! `taina-load`: drives Tainá's socket protocol to measure it. Each scenario is bounded in
//! count and time and ends by itself; it prints a live progress line, a table at the end, and
//! writes the same figures as JSON (`--json`). See `docs/performance.md` for the method.
#![forbid(unsafe_code)]

mod chart;
mod floor;
mod png;
mod report;
mod scenario;
mod seed;
mod socketio;
mod stats;
mod target;
mod wire;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "taina-load",
    version,
    about = "Load generator for Tainá's socket protocol"
)]
pub struct Cli {
    /// The server's HTTP base URL (loopback only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:4000")]
    pub url: String,
    /// Other nodes of the same installation (repeat the flag): sockets are spread over `--url`
    /// and these, connection `i` on node `i mod N` (fanout and rooms), so deliveries cross
    /// nodes. Accounts are made through `--url`.
    #[arg(long = "node-url", global = true)]
    pub node_urls: Vec<String>,
    /// The first admin (signed up when the instance is empty, else signed in).
    #[arg(long, global = true, default_value = "load-admin@example.org")]
    pub admin_email: String,
    #[arg(long, global = true, default_value = "load admin password")]
    pub admin_password: String,
    /// Where to write the results as JSON.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Where to draw latency over time as SVG (fanout and rooms).
    #[arg(long, global = true)]
    pub chart: Option<PathBuf>,
    /// Members kept between runs, one `user_id token` per line: taken from this file when it
    /// holds enough, else signed up and written to it. With a copy of the server's data
    /// directory from the run that wrote it, later runs skip the sign-ups (two Argon2 hashes
    /// per member, minutes for thousands).
    #[arg(long, global = true)]
    pub accounts: Option<PathBuf>,
    /// The server's process id, to read its memory from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Spread connections over 127.0.0.1..=127.0.0.N (ephemeral ports run out near 28k per
    /// source address).
    #[arg(long, global = true, default_value_t = 8)]
    pub source_addresses: u8,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// Ramp up connections (each joins its user topic); setup time and failures by reason.
    Connect {
        #[arg(long, default_value_t = 500)]
        connections: usize,
        /// Socket mode: phoenix, graphql or mux.
        #[arg(long, default_value = "phoenix")]
        mode: String,
        /// New connections per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
    },
    /// Hold authenticated idle connections; the server's memory per connection.
    Idle {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Socket mode on Tainá: phoenix, graphql or mux.
        #[arg(long, default_value = "phoenix")]
        mode: String,
        /// taina, or a peer at --peer-url: graphql-ws, socketio.
        #[arg(long, default_value = "taina")]
        target: String,
        #[arg(long)]
        peer_url: Option<String>,
        /// Seconds to hold them before measuring.
        #[arg(long, default_value_t = 3)]
        hold: u64,
        /// On Tainá, join one of this many conversations instead of the user topic (0: the
        /// user topic).
        #[arg(long, default_value_t = 0)]
        conversations: usize,
    },
    /// One publisher, N subscribers on one topic; delivered messages per second, latency, loss.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Publications per second; 0 = as fast as the server takes them.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// `taina` (`system:alerts`), or a peer at --peer-url: `floor` (the minimal
        /// broadcast server), `graphql-ws` (the reference server), `socketio`.
        #[arg(long, default_value = "taina")]
        target: String,
        /// Socket mode on Tainá: phoenix or mux.
        #[arg(long, default_value = "phoenix")]
        mode: String,
        /// The peer's URL: `ws://127.0.0.1:4100/` (floor), `ws://127.0.0.1:4200/graphql`
        /// (graphql-ws), `ws://127.0.0.1:4300` (Socket.IO).
        #[arg(long)]
        peer_url: Option<String>,
    },
    /// Chat-like: users in conversations of K members, each sending at a rate.
    Rooms {
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 5)]
        room_size: usize,
        /// Messages per second per user.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// `taina` (conversations), or a peer at --peer-url: `graphql-ws`, `socketio`.
        #[arg(long, default_value = "taina")]
        target: String,
        /// Socket mode on Tainá: phoenix, graphql or mux.
        #[arg(long, default_value = "phoenix")]
        mode: String,
        #[arg(long)]
        peer_url: Option<String>,
    },
    /// A reconnect storm: M clients drop together and rejoin with `since`; every missed
    /// message must arrive exactly once.
    Churn {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Messages published while they are away (must fit the server's history window).
        #[arg(long, default_value_t = 20)]
        missed: usize,
    },
    /// Upload a file over the socket, then stream it to a "TV" socket while sampling chat
    /// and heartbeat round trips on that socket (and before, idle, for comparison).
    Transfer {
        /// Size of the file, in MiB.
        #[arg(long, default_value_t = 32)]
        mib: usize,
        /// Round trips sampled per phase.
        #[arg(long, default_value_t = 300)]
        samples: usize,
    },
    /// Sensor ingest: Home Assistant discovery configs for `entities` sensors go to the broker
    /// at `--mqtt-url` (the server must use the same broker and `--prefix` as its
    /// `automation.discovery_prefix`), or with `--via socket` device agents are created; then
    /// states at `rate` per second spread over the sensors; a Phoenix socket on
    /// `home:{community}` counts `state_changed` and the time from publish to push.
    Home {
        #[arg(long, default_value_t = 1000)]
        entities: usize,
        /// States per second over all entities.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        mqtt_url: String,
        #[arg(long, default_value = "homeassistant")]
        prefix: String,
        /// `mqtt`, or `socket`: device agents (64 sensors each) push states on `device:{id}`.
        #[arg(long, default_value = "mqtt")]
        via: String,
        /// With `--via socket`: binary pushes of MessagePack instead of JSON.
        #[arg(long)]
        msgpack: bool,
    },
    /// Message search: stores `messages` messages (words drawn from a Zipf distribution over
    /// a 20,000-word vocabulary, so some words are common and others rare) in
    /// `conversations` conversations of the admin, then times `searchMessages` over GraphQL
    /// for common words, rare words and phrases.
    Search {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        conversations: usize,
        /// Queries per kind.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Requests in flight while seeding and querying.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// The messages are there from an earlier run: only query.
        #[arg(long)]
        skip_seed: bool,
    },
    /// HTTP API latency: seeds (through the API) `members` members, `conversations` group
    /// conversations of `room-size` (the admin included) with `messages` messages each and
    /// `photos` photos, then `clients` clients, each signed in with a session and a keep-alive
    /// connection of its own, loop for `duration` seconds over `GET
    /// /api/chat/conversations/{id}/messages` (newest page of a random conversation of
    /// theirs), GraphQL `photos` (first page) and GraphQL `conversations`, in turn. Closed
    /// loop: each client sends its next request when the previous one is answered (and
    /// `--think-ms` has passed); with no pause that is saturation, latency ≈ clients ÷ req/s.
    /// Every answer is checked (200, no GraphQL errors, a non-empty list); a failed check is
    /// an error, not a latency sample. Per kind: count, p50/p90/p99/max, requests/s, errors.
    Http {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Seconds of measurement.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Members the clients sign in as (client i is member i mod N); fixed addresses
        /// (load-http-I@example.org), so `--skip-seed` finds them again.
        #[arg(long, default_value_t = 20)]
        members: usize,
        #[arg(long, default_value_t = 50)]
        conversations: usize,
        /// Participants of each conversation, the admin included.
        #[arg(long, default_value_t = 5)]
        room_size: usize,
        /// Messages per conversation.
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// PNG photos uploaded by the admin (the same bytes every run: found again, not
        /// duplicated).
        #[arg(long, default_value_t = 100)]
        photos: usize,
        /// Requests in flight while seeding.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// The data is there from an earlier run: sign the members in and measure.
        #[arg(long)]
        skip_seed: bool,
        /// The requests each client sends in turn (comma-separated): `messages`, `photos`,
        /// `conversations`; one alone isolates its cost.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "messages,photos,conversations"
        )]
        kinds: Vec<String>,
        /// A pause after each answer, in milliseconds (drawn between ½× and 1½× this):
        /// 0 = back to back, the server's saturation; 1000 ≈ people clicking once a second.
        #[arg(long, default_value_t = 0)]
        think_ms: u64,
    },
    /// Presence at scale: N devices join one conversation (presence-tracked) with
    /// `concurrency` joins in flight, each reading what it is sent; joins per second, time
    /// until the last `presence_state`, `presence_diff` frames received.
    Presence {
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Run the minimal tokio-tungstenite broadcast server (the hardware's floor).
    Floor {
        #[arg(long, default_value = "127.0.0.1:4100")]
        listen: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        std::iter::once(&cli.url)
            .chain(&cli.node_urls)
            .all(|u| u.starts_with("http://127.") || u.starts_with("http://localhost")),
        "load is only ever aimed at loopback: {} is not",
        cli.url
    );
    let (report, timeline) = match cli.scenario.clone() {
        Scenario::Floor { listen } => return floor::serve(&listen).await,
        scenario => scenario::run(&cli, scenario).await?,
    };
    report.print();
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.to_json())?)?;
        println!("results written to {}", path.display());
    }
    if let (Some(path), Some(timeline)) = (&cli.chart, timeline) {
        let title = format!("{} {}", report.scenario, report.params);
        timeline.write_svg(path, &title)?;
        println!("latency chart written to {}", path.display());
    }
    Ok(())
}
