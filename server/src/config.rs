//! Typed configuration: built-in defaults, then `taina.toml`, then `TAINA_*` environment variables.
//!
//! Nested sections use a double underscore in the environment (`TAINA_AUTH__TOKEN_TTL_HOURS`).
//! Unknown keys are refused (`deny_unknown_fields`) so a typo is a start-up error naming the key,
//! never a setting silently ignored. Secrets are redacted by [`Config::redacted`].

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "taina.toml";

/// Everything the server can be told. Field docs are the reference for `taina.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP and socket server listens on: `host:port`, the host an IP address
    /// (`[::1]` for IPv6) or a name resolved at start (`localhost:4000`).
    pub listen: String,
    /// Directory holding the SQLite database, `files/` and the JWT signing secret.
    pub data_dir: PathBuf,
    /// `postgres://…` switches to PostgreSQL; empty means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or `taina=debug,sqlx=warn`.
    pub log: String,
    /// `human` (default) or `json`.
    pub log_format: LogFormat,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM before they are cut.
    pub shutdown_grace_seconds: u64,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub realtime: RealtimeConfig,
    pub chat: ChatConfig,
    pub media: MediaConfig,
    pub files: FilesConfig,
    pub streaming: StreamingConfig,
    pub automation: AutomationConfig,
    pub graphql: GraphqlConfig,
    pub admin: AdminConfig,
    pub metrics: MetricsConfig,
    pub bus: BusConfig,
    pub monitoring: MonitoringConfig,
    pub backup: BackupConfig,
    pub mail: MailConfig,
    pub tls: TlsConfig,
}

/// HTTPS and WSS on `listen` (`crate::tls`). Unset: plain HTTP (behind a reverse proxy
/// that terminates TLS, set `http.trusted_proxies`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain, PEM, leaf first (e.g. Let's Encrypt's `fullchain.pem`).
    pub cert: Option<PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// How often the two files are checked for a change (SIGHUP reloads at once).
    pub reload_check_seconds: u64,
    /// A plain-HTTP address (`0.0.0.0:80`) that redirects every request to HTTPS.
    pub redirect_listen: Option<String>,
    /// Certificates by ACME (Let's Encrypt by default) for these names, instead of
    /// `cert`/`key`: proved by TLS-ALPN-01 on `listen`, which must be reachable from the
    /// internet on port 443. Setting it agrees to the CA's terms of service. The account and
    /// the certificate are kept in `data_dir/acme/` and renewed when a third of their
    /// lifetime is left.
    pub acme_domains: Vec<String>,
    /// The contact address given to the CA (optional).
    pub acme_email: Option<String>,
    /// The ACME directory: Let's Encrypt's by default; its staging directory
    /// (`https://acme-staging-v02.api.letsencrypt.org/directory`) for a trial, or a private CA.
    pub acme_directory: String,
    /// A PEM file of CA certificates to trust for `acme_directory` instead of the system's
    /// (a private ACME CA such as step-ca, or a test server).
    pub acme_directory_ca: Option<PathBuf>,
}

impl TlsConfig {
    /// Let's Encrypt's production directory.
    pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

    /// Whether `listen` speaks HTTPS: a certificate from files or from ACME.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || !self.acme_domains.is_empty()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            reload_check_seconds: 10,
            redirect_listen: None,
            acme_domains: Vec::new(),
            acme_email: None,
            acme_directory: Self::LETS_ENCRYPT.into(),
            acme_directory_ca: None,
        }
    }
}

/// Outgoing mail: password reset and email confirmation links (`crate::mail`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `smtp://host:port` (plain), `smtp://host:587?tls=starttls` (STARTTLS, required) or
    /// `smtps://host:465` (implicit TLS); `user:password@host` to log in. Unset: no mail is
    /// sent; links are written to the log, shown to admins in the panel and printed by
    /// `taina user reset-link` / `taina user confirm-link`.
    pub smtp_url: Option<String>,
    /// The sender: `Tainá <noreply@example.org>` or a bare address.
    pub from: String,
    /// Where the links in mails point: `https://home.example.org`. Unset: `admin.public_url`,
    /// else `http://` + `listen`.
    pub link_base_url: Option<String>,
    /// Letters waiting for the SMTP server; when full, new ones are dropped (and logged).
    pub queue: usize,
    /// Seconds one SMTP conversation may take.
    pub timeout_seconds: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Tainá <noreply@localhost>".into(),
            link_base_url: None,
            queue: 256,
            timeout_seconds: 30,
        }
    }
}

/// The event bus between contexts and sockets: in process by default, NATS for several nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `nats://host:4222` (several, comma-separated, for a cluster): every node publishes its
    /// events there and receives everyone's. Unset: the in-process bus (one node).
    pub nats_url: Option<String>,
    /// A NATS credentials file (`.creds`: JWT and NKey seed), if the server asks for one.
    pub nats_credentials: Option<PathBuf>,
    /// The first token of every subject; several installations may share one NATS.
    pub subject_prefix: String,
    /// Replicas of the JetStream stream that keeps `user:`, `community:` and `system:alerts`
    /// publications for recovery: 3 on a cluster of three NATS servers, 1 on a single one.
    pub log_replicas: usize,
    /// How long that stream keeps a publication (a client away longer is told to resync).
    pub log_max_age_hours: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            nats_credentials: None,
            subject_prefix: "taina".into(),
            log_replicas: 1,
            log_max_age_hours: 24,
        }
    }
}

/// Backups (`taina backup …` and the schedule).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where backups go (one directory each, plus the shared `blobs/` pool); `--to` overrides.
    pub dir: PathBuf,
    /// Hours between scheduled backups by a running server; 0 = no schedule.
    pub schedule_hours: u64,
    /// Scheduled backups kept: the newest of each of the last `keep_daily` days …
    pub keep_daily: u32,
    /// … and of each of the last `keep_weekly` weeks.
    pub keep_weekly: u32,
    /// `pg_dump` and `pg_restore` programs (PostgreSQL only).
    pub pg_dump: String,
    pub pg_restore: String,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("backups"),
            schedule_hours: 0,
            keep_daily: 7,
            keep_weekly: 4,
            pg_dump: "pg_dump".into(),
            pg_restore: "pg_restore".into(),
        }
    }
}

/// Nhaman, the admin panel at `/admin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Whether `/admin` is served at all.
    pub enabled: bool,
    /// The URL people open the panel at (`https://home.example.org`): the live socket accepts
    /// only this `Origin`. Unset, the `Origin` must match the request's `Host`.
    pub public_url: Option<String>,
    /// Mark the session cookie `Secure` (set it when a TLS proxy sits in front).
    pub secure_cookies: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            public_url: None,
            secure_cookies: false,
        }
    }
}

/// `GET /metrics` (Prometheus text format).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A bearer token that may scrape from anywhere. Unset, only loopback may scrape.
    pub token: Option<String>,
}

/// The security log, bans and health (Karai).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Days security events are kept before the background task prunes them.
    pub retention_days: u32,
    /// Failures of one kind from one address within `ban_window_seconds` that ban it.
    pub ban_after: u32,
    pub ban_window_seconds: u64,
    /// The first ban's length; each later ban of the same address lasts twice the previous.
    pub ban_seconds: u64,
    /// The longest ban the doubling reaches.
    pub ban_max_seconds: u64,
    /// Which security event kinds count as failures towards a ban.
    pub ban_on: Vec<String>,
    /// Addresses never banned (CIDRs), like fail2ban's `ignoreip`. Behind a reverse proxy
    /// list it in `http.trusted_proxies` so the forwarded client address is the one judged.
    pub ban_ignore: Vec<String>,
    /// Seconds between the watchdog's checks (disk, media jobs, database size, bans).
    pub check_interval_seconds: u64,
    /// Alert when the disk under `data_dir` has less than this share free …
    pub disk_free_min_percent: f64,
    /// … or fewer bytes than this free.
    pub disk_free_min_bytes: u64,
    /// Alert when this many media processing jobs failed within the last hour.
    pub media_failures_per_hour: u64,
    /// Alert when the database (SQLite: every file with its write-ahead log; PostgreSQL: the
    /// database) grows past this many bytes.
    pub database_max_bytes: u64,
    /// Alert when SQLite's write-ahead logs together grow past this many bytes (checkpoints
    /// are not keeping up).
    pub wal_max_bytes: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            retention_days: 90,
            ban_after: 5,
            ban_window_seconds: 600,
            ban_seconds: 600,
            ban_max_seconds: 7 * 24 * 3600,
            ban_on: vec!["signin_failed".into(), "otp_failed".into()],
            ban_ignore: vec!["127.0.0.0/8".into(), "::1/128".into()],
            check_interval_seconds: 60,
            disk_free_min_percent: 10.0,
            disk_free_min_bytes: 2 * 1024 * 1024 * 1024,
            media_failures_per_hour: 5,
            database_max_bytes: 16 * 1024 * 1024 * 1024,
            wal_max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// The GraphQL endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlConfig {
    /// Whether `__schema`/`__type` introspection and GraphiQL (`GET /graphql`) are served.
    /// On by default while the API is young; a deployment that does not want its schema
    /// browsable turns it off (GraphiQL then answers 404).
    pub introspection: bool,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            introspection: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest JSON request body accepted; larger bodies get 413.
    pub json_body_limit_bytes: usize,
    /// Seconds a client has to send a request's complete headers, counted from when the
    /// connection opens or the previous response ends (hyper starts the timer there, so this
    /// also bounds a keep-alive connection's idle wait). Over it the connection is closed
    /// without an answer.
    pub header_read_timeout_seconds: u64,
    /// Seconds a keep-alive connection may stay idle after a response before it is closed;
    /// at most `header_read_timeout_seconds`, which bounds the idle wait anyway.
    pub keep_alive_idle_seconds: u64,
    /// Concurrent HTTP connections one client address may hold; a connection over it is
    /// answered 429 and closed. A WebSocket stops counting here once upgraded
    /// (`realtime.max_connections_per_address` limits sockets).
    pub max_connections_per_address: usize,
    /// Concurrent connections, WebSockets included; a connection over it is answered 503 and
    /// closed. 0 = derived at start from the open-file limit L (`RLIMIT_NOFILE`, soft):
    /// L − max(L/10, 128) − 3 × `database.max_connections` (at least 16), which keeps
    /// descriptors for the database, files and logs (17,952 for L = 20,000).
    pub max_connections: usize,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` names the client. A request from
    /// anywhere else is judged by its peer address, whatever headers it sends.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before failing the request.
    pub acquire_timeout_seconds: u64,
    /// SQLite only: page cache for each database file (main and each context's), in MiB,
    /// shared out among the pooled connections and the writer. SQLite's own default is 2 MB
    /// per connection and file, copies of the same hot pages; what falls out is read again
    /// from the operating system's file cache.
    pub sqlite_page_cache_mib: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a session token.
    pub token_ttl_hours: u64,
    /// How long a verified session stays in the in-memory cache. Revocations through this
    /// server clear it at once; revocations by another process (`taina session revoke`)
    /// take effect within this many seconds.
    pub session_cache_seconds: u64,
    /// Sign-in attempts allowed per minute, counted per client address and per email.
    pub signin_per_minute: u32,
    /// Sign-up attempts allowed per minute, counted per client address and per email.
    pub signup_per_minute: u32,
    /// Default lifetime of an invite when the request does not say.
    pub invite_default_hours: u64,
    /// Upper bound on an invite's lifetime.
    pub invite_max_hours: u64,
    /// Name of the community the first sign-up creates when it gives none.
    pub default_community_name: String,
    /// Issuer shown by authenticator apps for TOTP entries.
    pub totp_issuer: String,
    /// Password reset requests (`POST /api/auth/password/reset`) allowed per hour, counted
    /// per client address and per email.
    pub password_reset_per_hour: u32,
    /// Minutes a mailed password reset link works (an admin's link: 24 hours).
    pub reset_link_minutes: u64,
    /// Hours an email confirmation link works.
    pub confirm_link_hours: u64,
    /// Refuse sign-in (`email_unconfirmed`) until the address is confirmed by its link.
    pub require_confirmed_email: bool,
}

/// The socket, the hub and recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeConfig {
    /// Bytes a connection may have queued before it is disconnected as a slow consumer.
    pub outbox_bytes: usize,
    /// Channels one socket may join (Phoenix's default is 100).
    pub max_channels_per_socket: usize,
    /// Largest text frame accepted; larger closes the socket with 1009.
    pub max_text_frame_bytes: usize,
    /// Largest binary frame accepted; larger closes the socket with 1009.
    pub max_binary_frame_bytes: usize,
    /// Sustained client messages per second per connection; over it pushes get `rate_limited`.
    pub messages_per_second: u32,
    /// Messages a connection may send in a burst above the sustained rate.
    pub message_burst: u32,
    /// Refused messages after which a connection is closed for abuse.
    pub abuse_close_after: u32,
    pub max_connections_per_user: usize,
    pub max_connections_per_address: usize,
    /// Seconds without any client data before the socket is closed (clients heartbeat every 30 s).
    pub idle_timeout_seconds: u64,
    /// Publications kept per in-memory topic for recovery.
    pub history_size: usize,
    /// Seconds a publication stays recoverable from memory.
    pub history_seconds: u64,
    /// Most messages replayed from storage on one rejoin; a larger gap answers `recovered: false`.
    pub recovery_max_messages: u32,
    /// Seconds a user's last device may be gone before `user.offline` (a quick reconnect is silent).
    pub offline_debounce_seconds: u64,
    /// Presence joins and leaves on one topic within this many milliseconds leave as one
    /// `presence_diff` (0: each at once, as Phoenix does).
    pub presence_diff_window_ms: u64,
    /// The most devices a topic's presence lists. Past it the topic is summarized: joins and
    /// leaves are no longer sent to every device (N² frames), each device gets
    /// `presence_summary` counts instead, until the topic is back to three quarters of it.
    /// 0: every topic lists every device, however many (Phoenix's behaviour).
    pub presence_list_limit: usize,
    /// At most one `presence_summary` per summarized topic per this many milliseconds.
    pub presence_summary_interval_ms: u64,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            outbox_bytes: 1024 * 1024,
            max_channels_per_socket: 100,
            max_text_frame_bytes: 1024 * 1024,
            max_binary_frame_bytes: 8 * 1024 * 1024,
            messages_per_second: 50,
            message_burst: 100,
            abuse_close_after: 200,
            max_connections_per_user: 20,
            max_connections_per_address: 1000,
            idle_timeout_seconds: 60,
            history_size: 1000,
            history_seconds: 600,
            recovery_max_messages: 1000,
            offline_debounce_seconds: 3,
            presence_diff_window_ms: 50,
            presence_list_limit: 500,
            presence_summary_interval_ms: 1000,
        }
    }
}

/// Media (Jaci photos).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Where blobs live: empty = `data_dir/files` on the local disk; `s3://bucket[/prefix]` =
    /// an S3-compatible store (AWS, MinIO), with endpoint and credentials from `AWS_*` variables.
    pub object_store_url: Option<String>,
    /// Largest file accepted by any upload path.
    pub max_upload_bytes: u64,
    /// Hours an unfinished socket upload stays resumable.
    pub upload_expiry_hours: u64,
    /// Bytes per binary push when streaming a file to a TV.
    pub stream_chunk_bytes: usize,
    /// Largest width or height a decoder accepts (larger is refused as a decompression bomb).
    pub max_image_side: u32,
    /// Largest allocation a decoder may make, in MiB.
    pub max_decode_mib: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            object_store_url: None,
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            upload_expiry_hours: 24,
            stream_chunk_bytes: 64 * 1024,
            max_image_side: 16_384,
            max_decode_mib: 512,
        }
    }
}

/// Files (Ybira): how long versions and the trash are kept. Uploads share media's
/// `max_upload_bytes` and the community's storage quota.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Versions kept per file, the current one included (older ones are pruned on each write).
    pub keep_versions: u32,
    /// Days an older version is kept at most (0: no age limit); the current one always stays.
    pub version_max_age_days: u32,
    /// Days a deleted node stays in the trash before it is purged automatically.
    pub trash_days: u32,
    /// Hours an unfinished tus upload stays resumable after its last byte arrived (then its
    /// partial bytes are removed).
    pub tus_expiry_hours: u32,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            keep_versions: 10,
            version_max_age_days: 0,
            trash_days: 30,
            tus_expiry_hours: 24,
        }
    }
}

/// Automation (Ka'a): where devices speak MQTT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutomationConfig {
    /// The MQTT broker (`mqtt://[user:password@]host[:port]`); empty: no MQTT.
    pub mqtt_url: Option<String>,
    /// Where Home Assistant style discovery configs are published.
    pub discovery_prefix: String,
    /// The community MQTT devices belong to (name or id); empty: the instance's only one.
    pub community: Option<String>,
    /// Days raw states and 5-minute statistics are kept; hourly statistics stay for good.
    pub keep_days: u32,
    /// Hosts (`host` or `host:port`) rules' webhooks may call; empty: none.
    pub webhook_hosts: Vec<String>,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            mqtt_url: None,
            discovery_prefix: "homeassistant".into(),
            community: None,
            keep_days: 10,
            webhook_hosts: Vec::new(),
        }
    }
}

/// Streaming (Araci): scanning library roots and making HLS on demand.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// Transcodes (ffmpeg encoding video) running at once; more viewers wait, then get 503. A
    /// Raspberry Pi 5 has no hardware video encoder: one software 720p encode is what it keeps
    /// up with.
    pub max_transcodes: usize,
    /// Disk the HLS segment and remux cache may take (least recently used items go first).
    pub cache_max_bytes: u64,
    /// A transcode nobody asked a segment of for this long is stopped (a paused player).
    pub transcode_idle_seconds: u64,
    /// Length of an HLS segment.
    pub segment_seconds: u32,
    /// Scan every library when the server starts.
    pub scan_on_start: bool,
    /// Watch library roots for changes and rescan after `watch_debounce_ms` of quiet.
    pub watch: bool,
    pub watch_debounce_ms: u64,
    /// Files read by ffprobe (and given artwork) at once during a scan.
    pub probe_concurrency: usize,
    /// How long the signed playback URLs `playbackInfo` hands out stay valid.
    pub url_hours: u64,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            max_transcodes: 1,
            cache_max_bytes: 10 * 1024 * 1024 * 1024,
            transcode_idle_seconds: 60,
            segment_seconds: 6,
            scan_on_start: true,
            watch: true,
            watch_debounce_ms: 2_000,
            probe_concurrency: 2,
            url_hours: 8,
        }
    }
}

/// Chat (Guará).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Longest message body, in characters.
    pub max_body_chars: usize,
    /// Most participants in one conversation.
    pub max_participants: usize,
    /// How message search stems words: `portuguese`, `english` or `simple` (no stemming),
    /// or a language tag such as `pt-BR`.
    pub search_language: String,
    /// Who push services may contact about this server's Web Push (VAPID `sub`): a
    /// `mailto:` or `https:` URL.
    pub push_subject: String,
    /// Hosts (`host` or `host:port`) whose plain-`http` push endpoints are accepted: a local
    /// push service in tests. Everything else must be `https`.
    pub push_plain_http_hosts: Vec<String>,
    /// Days notification records are kept.
    pub notification_keep_days: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_body_chars: 4000,
            max_participants: 256,
            search_language: "portuguese".into(),
            push_subject: "mailto:admin@localhost".into(),
            push_plain_http_hosts: Vec::new(),
            notification_keep_days: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4000".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            log: "info".into(),
            log_format: LogFormat::Human,
            shutdown_grace_seconds: 10,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            realtime: RealtimeConfig::default(),
            chat: ChatConfig::default(),
            media: MediaConfig::default(),
            files: FilesConfig::default(),
            streaming: StreamingConfig::default(),
            automation: AutomationConfig::default(),
            graphql: GraphqlConfig::default(),
            admin: AdminConfig::default(),
            metrics: MetricsConfig::default(),
            bus: BusConfig::default(),
            monitoring: MonitoringConfig::default(),
            backup: BackupConfig::default(),
            mail: MailConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_body_limit_bytes: 1024 * 1024,
            header_read_timeout_seconds: 10,
            keep_alive_idle_seconds: 5,
            max_connections_per_address: 256,
            max_connections: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_seconds: 5,
            sqlite_page_cache_mib: 8,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_hours: 24 * 7,
            session_cache_seconds: 10,
            signin_per_minute: 10,
            signup_per_minute: 10,
            invite_default_hours: 24 * 7,
            invite_max_hours: 24 * 90,
            default_community_name: "Home".into(),
            totp_issuer: "Tainá".into(),
            password_reset_per_hour: 5,
            reset_link_minutes: 60,
            confirm_link_hours: 48,
            require_confirmed_email: false,
        }
    }
}

/// A configuration that could not be read; the message names the setting and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers defaults, the TOML file (if any) and `TAINA_*` variables from the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("TAINA_").split("__"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if !is_listen_address(&self.listen) {
            return bad(
                "listen",
                "must be host:port, the host an IP address or a name (127.0.0.1:4000, \
                 [::]:443, localhost:4000)",
            );
        }
        let tls = &self.tls;
        if tls.cert.is_some() != tls.key.is_some() {
            return bad("tls.cert/tls.key", "set both (or neither)");
        }
        if !tls.acme_domains.is_empty() {
            if tls.cert.is_some() {
                return bad(
                    "tls.acme_domains",
                    "set either tls.acme_domains or tls.cert/tls.key, not both",
                );
            }
            if let Some(name) = tls.acme_domains.iter().find(|d| !is_acme_domain(d)) {
                return bad(
                    "tls.acme_domains",
                    &format!(
                        "{name:?} is not a DNS name the CA can check by TLS-ALPN-01 \
                         (home.example.org; no wildcards, IP addresses or bare host names)"
                    ),
                );
            }
            if tls.acme_email.as_deref().is_some_and(|e| {
                let (local, domain) = e.split_once('@').unwrap_or(("", ""));
                local.is_empty() || domain.is_empty() || e.contains(char::is_whitespace)
            }) {
                return bad("tls.acme_email", "must be an email address");
            }
            if !tls.acme_directory.starts_with("https://") {
                return bad("tls.acme_directory", "must be an https:// URL");
            }
        }
        if let Some(redirect) = &tls.redirect_listen {
            if !tls.enabled() {
                return bad(
                    "tls.redirect_listen",
                    "redirects to HTTPS: set tls.cert and tls.key, or tls.acme_domains",
                );
            }
            if !is_listen_address(redirect) {
                return bad("tls.redirect_listen", "must be host:port (0.0.0.0:80)");
            }
        }
        if let Some(url) = &self.database_url {
            if !url.is_empty()
                && !url.starts_with("postgres://")
                && !url.starts_with("postgresql://")
            {
                return bad(
                    "database_url",
                    "must start with postgres:// (leave it empty for SQLite)",
                );
            }
        }
        if self.auth.token_ttl_hours == 0 {
            return bad("auth.token_ttl_hours", "must be at least 1");
        }
        if self.auth.signin_per_minute == 0 || self.auth.signup_per_minute == 0 {
            return bad(
                "auth.signin_per_minute/signup_per_minute",
                "must be at least 1",
            );
        }
        if self.http.json_body_limit_bytes < 1024 {
            return bad("http.json_body_limit_bytes", "must be at least 1024");
        }
        let http = &self.http;
        if http.header_read_timeout_seconds == 0 {
            return bad("http.header_read_timeout_seconds", "must be at least 1");
        }
        if !(1..=http.header_read_timeout_seconds).contains(&http.keep_alive_idle_seconds) {
            return bad(
                "http.keep_alive_idle_seconds",
                "must be between 1 and http.header_read_timeout_seconds (which closes idle \
                 connections anyway)",
            );
        }
        if http.max_connections_per_address == 0 {
            return bad("http.max_connections_per_address", "must be at least 1");
        }
        let rt = &self.realtime;
        if rt.outbox_bytes < 4096
            || rt.max_text_frame_bytes < 1024
            || rt.max_binary_frame_bytes < 1024
        {
            return bad(
                "realtime",
                "outbox_bytes must be ≥ 4096 and frame limits ≥ 1024",
            );
        }
        if rt.messages_per_second == 0 || rt.message_burst == 0 || rt.max_channels_per_socket == 0 {
            return bad(
                "realtime",
                "messages_per_second, message_burst and max_channels_per_socket must be ≥ 1",
            );
        }
        if self.chat.max_body_chars == 0 || self.chat.max_participants < 2 {
            return bad(
                "chat",
                "max_body_chars must be ≥ 1 and max_participants ≥ 2",
            );
        }
        if let Some(url) = self
            .media
            .object_store_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            if !url.starts_with("s3://") {
                return bad(
                    "media.object_store_url",
                    "must be empty (local files) or s3://bucket[/prefix]",
                );
            }
        }
        if self.media.max_upload_bytes == 0
            || !(1024..=1024 * 1024).contains(&self.media.stream_chunk_bytes)
        {
            return bad(
                "media",
                "max_upload_bytes must be ≥ 1 and stream_chunk_bytes between 1 KiB and 1 MiB",
            );
        }
        if self.files.keep_versions == 0 || self.files.trash_days == 0 {
            return bad("files", "keep_versions and trash_days must be ≥ 1");
        }
        if let Some(url) = self
            .automation
            .mqtt_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            if let Err(why) = crate::contexts::automation::mqtt::Broker::parse(url) {
                return bad("automation.mqtt_url", &why);
            }
        }
        if self.automation.discovery_prefix.is_empty()
            || self.automation.discovery_prefix.contains(['#', '+'])
        {
            return bad(
                "automation.discovery_prefix",
                "a topic prefix without wildcards",
            );
        }
        let streaming = &self.streaming;
        if streaming.max_transcodes == 0
            || streaming.probe_concurrency == 0
            || !(2..=30).contains(&streaming.segment_seconds)
            || streaming.url_hours == 0
        {
            return bad(
                "streaming",
                "max_transcodes, probe_concurrency and url_hours must be ≥ 1, segment_seconds 2–30",
            );
        }
        for (key, list) in [
            ("http.trusted_proxies", &self.http.trusted_proxies),
            ("monitoring.ban_ignore", &self.monitoring.ban_ignore),
        ] {
            if let Err(e) = crate::cidr::Cidr::parse_all(list) {
                return bad(key, &e.to_string());
            }
        }
        let m = &self.monitoring;
        if m.retention_days == 0 || m.ban_after == 0 || m.ban_window_seconds == 0 {
            return bad(
                "monitoring",
                "retention_days, ban_after and ban_window_seconds must be ≥ 1",
            );
        }
        if m.check_interval_seconds == 0 || !(0.0..=100.0).contains(&m.disk_free_min_percent) {
            return bad(
                "monitoring",
                "check_interval_seconds must be ≥ 1 and disk_free_min_percent between 0 and 100",
            );
        }
        if m.ban_seconds == 0 || m.ban_max_seconds < m.ban_seconds {
            return bad(
                "monitoring",
                "ban_seconds must be ≥ 1 and ban_max_seconds ≥ ban_seconds",
            );
        }
        if let Some(kind) = m
            .ban_on
            .iter()
            .find(|k| crate::contexts::monitoring::SecurityEventKind::parse(k).is_none())
        {
            return bad(
                "monitoring.ban_on",
                &format!("`{kind}` is not a security event kind"),
            );
        }
        if self.backup.keep_daily == 0 && self.backup.keep_weekly == 0 {
            return bad(
                "backup.keep_daily/keep_weekly",
                "at least one backup must be kept",
            );
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if self.log.parse::<tracing_subscriber::EnvFilter>().is_err() {
            return bad(
                "log",
                "not a valid log filter (try `info` or `taina=debug`)",
            );
        }
        Ok(())
    }

    /// The PostgreSQL URL when one is configured.
    pub fn postgres_url(&self) -> Option<&str> {
        self.database_url.as_deref().filter(|u| !u.is_empty())
    }

    /// A copy safe to print: passwords in URLs and the metrics token are replaced by `***`.
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        copy.database_url = copy.database_url.as_deref().map(redact_url_password);
        copy.media.object_store_url = copy
            .media
            .object_store_url
            .as_deref()
            .map(redact_url_password);
        copy.bus.nats_url = copy.bus.nats_url.as_deref().map(redact_url_password);
        copy.mail.smtp_url = copy.mail.smtp_url.as_deref().map(redact_url_password);
        if copy.metrics.token.is_some() {
            copy.metrics.token = Some("***".into());
        }
        copy
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(&self.redacted())
            .unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// `host:port` with a numeric port and a host that is an IP address (IPv6 in brackets) or
/// a DNS name.
fn is_listen_address(listen: &str) -> bool {
    let Some((host, port)) = listen.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().is_err() {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A name a public CA can issue for and check by TLS-ALPN-01: at least two labels of letters,
/// digits and hyphens, none of them all digits at the end (not an IP address), no wildcard.
fn is_acme_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

/// Flattens a figment error into one line per problem, each naming the key and its source.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match &e.metadata {
                // Name the exact variable, which is what the operator has to fix.
                Some(m) if m.name.contains("environment variable") && !e.path.is_empty() => {
                    format!(
                        " (from environment variable TAINA_{})",
                        e.path.join("__").to_uppercase()
                    )
                }
                Some(m) => match &m.source {
                    // The whole path: the operator may not know which directory it is in.
                    Some(figment::Source::File(path)) => {
                        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                        format!(" (from {} {})", m.name, path.display())
                    }
                    Some(src) => format!(" (from {} {src})", m.name),
                    None => format!(" (from {})", m.name),
                },
                None => String::new(),
            };
            // figment quotes the expected names inside its own quotes; say it plainly.
            let problem = match &e.kind {
                figment::error::Kind::UnknownField(_, known) => {
                    format!(
                        "no such setting; the settings here are {}",
                        known.join(", ")
                    )
                }
                kind => kind.to_string(),
            };
            if key.is_empty() {
                format!("{problem}{source}")
            } else {
                format!("setting `{key}`: {problem}{source}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn redact_url_password(url: &str) -> String {
    // postgres://user:password@host/db → postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn load_with_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        // figment's Jail isolates the environment and working directory per test.
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            result = Some(Config::load(None));
            Ok(())
        });
        result.expect("jail ran")
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = load_with_env(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert!(config.postgres_url().is_none());
    }

    #[test]
    fn environment_overrides_and_nests() {
        let config = load_with_env(&[
            ("TAINA_LISTEN", "127.0.0.1:5000"),
            ("TAINA_AUTH__TOKEN_TTL_HOURS", "2"),
            ("TAINA_LOG", "debug"),
        ])
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:5000");
        assert_eq!(config.auth.token_ttl_hours, 2);
        assert_eq!(config.log, "debug");
    }

    #[test]
    fn unknown_setting_is_named() {
        let err = load_with_env(&[("TAINA_LISTN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
        let err = load_with_env(&[("TAINA_AUTH__TOKN", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "setting `auth.tokn`: no such setting; the settings here are token_ttl_hours, "
            ),
            "{err}"
        );
        assert_eq!(
            err.matches('`').count(),
            2,
            "no quotes inside quotes: {err}"
        );
    }

    #[test]
    fn listen_takes_addresses_and_host_names() {
        for good in [
            "127.0.0.1:4000",
            "localhost:4100",
            "[::]:443",
            "taina.lan:80",
            "0.0.0.0:0",
        ] {
            assert!(is_listen_address(good), "{good}");
        }
        for bad in [
            "localhost",
            "localhost:http",
            ":4000",
            "[::1:80",
            "a..b:80",
            "x y:80",
            "1.2.3.4:70000",
        ] {
            assert!(!is_listen_address(bad), "{bad}");
        }
        let config = load_with_env(&[("TAINA_LISTEN", "localhost:4100")]).unwrap();
        assert_eq!(config.listen, "localhost:4100");
    }

    #[test]
    fn acme_takes_public_dns_names_and_not_with_a_certificate_file() {
        for good in ["home.example.org", "a-b.c.example", "x.y"] {
            assert!(is_acme_domain(good), "{good}");
        }
        for bad in [
            "localhost",
            "*.example.org",
            "1.2.3.4",
            "-a.example",
            "a..b",
            "a b.c",
        ] {
            assert!(!is_acme_domain(bad), "{bad}");
        }
        let config = load_with_env(&[
            ("TAINA_TLS__ACME_DOMAINS", "[home.example.org]"),
            ("TAINA_TLS__ACME_EMAIL", "admin@example.org"),
        ])
        .unwrap();
        assert_eq!(config.tls.acme_domains, ["home.example.org"]);
        assert!(config.tls.enabled());
        assert_eq!(config.tls.acme_directory, TlsConfig::LETS_ENCRYPT);
        let err = load_with_env(&[
            ("TAINA_TLS__ACME_DOMAINS", "[home.example.org]"),
            ("TAINA_TLS__CERT", "/etc/cert.pem"),
            ("TAINA_TLS__KEY", "/etc/key.pem"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("not both"), "{err}");
        let err = load_with_env(&[("TAINA_TLS__ACME_DOMAINS", "[localhost]")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls.acme_domains"), "{err}");
        let err = load_with_env(&[
            ("TAINA_TLS__ACME_DOMAINS", "[home.example.org]"),
            ("TAINA_TLS__ACME_EMAIL", "nobody"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("tls.acme_email"), "{err}");
    }

    #[test]
    fn malformed_setting_is_named() {
        let err = load_with_env(&[("TAINA_LISTEN", "not-an-address")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn http_limits_default_and_validate() {
        let config = load_with_env(&[]).unwrap();
        assert_eq!(config.http.header_read_timeout_seconds, 10);
        assert_eq!(config.http.keep_alive_idle_seconds, 5);
        assert_eq!(config.http.max_connections_per_address, 256);
        assert_eq!(
            config.http.max_connections, 0,
            "derived from the descriptor limit"
        );
        let config = load_with_env(&[
            ("TAINA_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "32"),
            ("TAINA_HTTP__MAX_CONNECTIONS", "1000"),
        ])
        .unwrap();
        assert_eq!(config.http.max_connections_per_address, 32);
        assert_eq!(config.http.max_connections, 1000);
        for (key, value, named) in [
            (
                "TAINA_HTTP__HEADER_READ_TIMEOUT_SECONDS",
                "0",
                "header_read_timeout",
            ),
            (
                "TAINA_HTTP__KEEP_ALIVE_IDLE_SECONDS",
                "0",
                "keep_alive_idle",
            ),
            (
                "TAINA_HTTP__KEEP_ALIVE_IDLE_SECONDS",
                "11",
                "keep_alive_idle",
            ),
            (
                "TAINA_HTTP__MAX_CONNECTIONS_PER_ADDRESS",
                "0",
                "per_address",
            ),
        ] {
            let err = load_with_env(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn address_lists_and_ban_settings_validate() {
        let config = load_with_env(&[]).unwrap();
        assert_eq!(config.monitoring.ban_ignore, ["127.0.0.0/8", "::1/128"]);
        assert_eq!(config.monitoring.retention_days, 90);
        let config = load_with_env(&[("TAINA_HTTP__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]")]).unwrap();
        assert_eq!(config.http.trusted_proxies, ["10.0.0.0/8"]);
        for (key, value, named) in [
            (
                "TAINA_HTTP__TRUSTED_PROXIES",
                "[\"10.0.0.0/33\"]",
                "trusted_proxies",
            ),
            (
                "TAINA_MONITORING__BAN_IGNORE",
                "[\"localhost\"]",
                "ban_ignore",
            ),
            ("TAINA_MONITORING__BAN_ON", "[\"sneezed\"]", "ban_on"),
            ("TAINA_MONITORING__BAN_AFTER", "0", "monitoring"),
        ] {
            let err = load_with_env(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn password_is_redacted() {
        let config = Config {
            database_url: Some("postgres://taina:hunter2@127.0.0.1:5432/taina".into()),
            ..Config::default()
        };
        let text = config.to_redacted_toml();
        assert!(!text.contains("hunter2"));
        assert!(text.contains("postgres://taina:***@127.0.0.1:5432/taina"));
    }

    #[test]
    fn the_smtp_password_is_redacted() {
        let mut config = Config::default();
        config.mail.smtp_url = Some("smtps://me:s3cret@mail.example.org:465".into());
        let text = config.to_redacted_toml();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("smtps://me:***@mail.example.org:465"),
            "{text}"
        );
    }
}
