//! Wiring: the one place that builds the server's parts and connects them into an
//! [`AppState`] (`state.rs` only defines it).
//!
//! Opening and starting are two steps. [`AppState::open`] prepares the data directory, opens
//! and migrates the database, loads the server secret and builds the services, the hub and the
//! GraphQL schema; it spawns no task and touches no job, so one-shot commands (`taina user …`)
//! can run it beside a live server. [`AppState::start`] begins the server's background work;
//! `taina serve` calls it only once its port is bound.

mod data_dir;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::contexts::auth::token::{load_or_create_secret, SECRET_FILE};
use crate::contexts::auth::{AuthService, SecretCipher, TokenKeys};
use crate::contexts::automation::AutomationService;
use crate::contexts::chat::attachments::MediaAndFiles;
use crate::contexts::chat::push::{Notifier, Recipients, Vapid, VAPID_FILE};
use crate::contexts::chat::ChatService;
use crate::contexts::files::FilesService;
use crate::contexts::media::MediaService;
use crate::contexts::monitoring::MonitoringService;
use crate::contexts::streaming::StreamingService;
use crate::db::Db;
use crate::error::StartError;
use crate::events::{EventBus, JetStreamLog, MemoryBus, NatsBus, NatsRelay};
use crate::metrics::{sampler, Metrics, Samples};
use crate::realtime::Hub;
use crate::state::AppState;

/// How often SQLite's write-ahead logs are checkpointed in the background.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Capacity of the in-process event bus before slow subscribers lag.
const BUS_CAPACITY: usize = 65_536;
/// How often idle topics are forgotten.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// How often instance alerts raised by other processes (`taina alert send`) are relayed.
const ALERT_RELAY: Duration = Duration::from_secs(1);
/// How often revocations by other processes are picked up.
const REVOCATION_POLL: Duration = Duration::from_secs(1);
/// How often abandoned tus uploads are looked for (`files.tus_expiry_hours`).
const UPLOAD_SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often the files trash is checked for items past `files.trash_days`.
const TRASH_PURGE_EVERY: Duration = Duration::from_secs(3600);

impl AppState {
    /// [`open`](Self::open) then [`start`](Self::start): a server that does not bind its own
    /// listener (the test harness).
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let state = Self::open(config).await?;
        state.start().await;
        Ok(state)
    }

    /// Prepares the data directory (private, 0700), opens and migrates the database, loads
    /// the server secret, seals TOTP secrets still stored in plaintext, and builds the
    /// services. Starts nothing in the background but the outgoing mail task (idle until a
    /// letter comes).
    pub async fn open(config: Config) -> Result<Self, StartError> {
        let io = |what: &'static str, path: &std::path::Path| {
            let path = std::path::absolute(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string();
            move |source| StartError::Io { what, path, source }
        };
        data_dir::create_private(&config.data_dir)
            .map_err(io("cannot create or restrict", &config.data_dir))?;
        let files_dir = config.data_dir.join("files");
        std::fs::create_dir_all(&files_dir).map_err(io("cannot create", &files_dir))?;
        let db = Db::connect(&config).await?;
        db.migrate().await?;
        let secret_path = config.data_dir.join(SECRET_FILE);
        let secret = load_or_create_secret(&secret_path)
            .map_err(io("cannot read or create", &secret_path))?;
        let keys = TokenKeys::from_secret(&secret);
        let cipher = SecretCipher::from_server_secret(&secret);
        let nats = match config.bus.nats_url.as_deref().filter(|u| !u.is_empty()) {
            Some(_) => Some(Arc::new(NatsBus::connect(&config.bus, BUS_CAPACITY).await?)),
            None => None,
        };
        let bus: Arc<dyn EventBus> = match &nats {
            Some(nats) => nats.clone(),
            None => Arc::new(MemoryBus::new(BUS_CAPACITY)),
        };
        let auth =
            AuthService::new(db.clone(), keys, cipher, bus.clone(), config.auth.clone()).await?;
        let mailer = crate::mail::Mailer::start(&config.mail)?;
        if mailer.sends()
            && config.mail.link_base_url.is_none()
            && config.admin.public_url.is_none()
        {
            tracing::warn!(
                base = %link_base_url(&config),
                "mail.link_base_url and admin.public_url are unset: links in mails use the listen address"
            );
        }
        auth.set_mail(mailer, &link_base_url(&config));
        let sealed = auth.seal_plaintext_totp_secrets().await?;
        if sealed > 0 {
            tracing::info!(users = sealed, "encrypted TOTP secrets stored in plaintext");
        }
        let chat = ChatService::new(db.clone(), auth.clone(), bus.clone(), config.chat.clone());
        let media = MediaService::new(
            db.clone(),
            auth.clone(),
            bus.clone(),
            config.media.clone(),
            &config.data_dir,
        )
        .map_err(|e| StartError::Media(e.to_string()))?;
        let files = FilesService::new(
            db.clone(),
            media.clone(),
            auth.clone(),
            bus.clone(),
            config.files.clone(),
        );
        let streaming = StreamingService::new(
            db.clone(),
            bus.clone(),
            config.streaming.clone(),
            &config.data_dir,
            &secret,
        );
        chat.set_attachment_source(Arc::new(MediaAndFiles {
            media: media.clone(),
            files: files.clone(),
        }));
        media.set_shared_photos(chat.sharing());
        files.set_shared_files(chat.sharing());
        let automation = AutomationService::new(
            db.clone(),
            auth.clone(),
            chat.clone(),
            bus.clone(),
            config.automation.clone(),
        );
        let monitoring =
            MonitoringService::configured(db.clone(), bus.clone(), config.monitoring.clone());
        // Bans issued before a restart hold from the first request.
        if let Err(e) = monitoring.load_bans().await {
            tracing::warn!(error = %e, "cannot load the stored bans");
        }
        auth.set_security_log(Arc::new(monitoring.clone()));
        let metrics = Arc::new(Metrics::new(
            Arc::new(Samples::default()),
            media.job_durations(),
            db.query_times().histogram(),
        ));
        let hub = Arc::new(Hub::new(config.realtime.clone(), bus.clone()));
        if let Some(nats) = &nats {
            let relay = NatsRelay::start(
                nats.client(),
                &config.bus.subject_prefix,
                nats.node(),
                Arc::downgrade(&hub),
            )
            .await?;
            hub.set_relay(relay);
            JetStreamLog::start(nats.client(), &config.bus, &hub).await?;
        }
        let vapid =
            Vapid::load_or_create(&config.data_dir.join(VAPID_FILE), &config.chat.push_subject)?;
        let notifier = Notifier::new(db.clone(), chat.clone(), vapid, &config.chat);
        notifier.set_recipients(Arc::new(HubRecipients(Arc::downgrade(&hub))));
        let config = Arc::new(config);
        let graphql = crate::graphql::build_schema(
            config.clone(),
            auth.clone(),
            chat.clone(),
            notifier.clone(),
            media.clone(),
            monitoring.clone(),
            files.clone(),
            streaming.clone(),
            automation.clone(),
            hub.clone(),
            bus.clone(),
        );
        Ok(Self {
            config,
            db,
            bus,
            auth,
            chat,
            notifier,
            media,
            monitoring,
            files,
            streaming,
            automation,
            hub,
            graphql,
            graphql_documents: Arc::default(),
            metrics,
            started: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts the server's background work: removes temporary files a stopped server left,
    /// then spawns the WAL checkpointer, the media worker (which first re-queues jobs left
    /// running), the chat feed, library scans and watchers, the MQTT client, the bus → hub bridge and its gap repair, the revocation watcher, the alert relay,
    /// the security writer, the watchdog, scheduled backups, the metrics sampler and the hub
    /// sweeper. Only a serving process calls this, once; later calls do nothing.
    pub async fn start(&self) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        // Before the worker (and any request) can create new ones.
        self.media.remove_leftover_temporary_files().await;
        self.db.spawn_checkpointer(WAL_CHECKPOINT_EVERY);
        self.media.spawn_worker(self.config.bus.nats_url.is_some());
        self.chat.spawn_feed();
        self.chat.spawn_indexer(&self.bus);
        self.notifier.spawn(&self.bus);
        self.files.spawn_trash_purger(TRASH_PURGE_EVERY);
        self.files.spawn_upload_sweeper(UPLOAD_SWEEP_EVERY);
        self.streaming.start().await;
        let hub = Arc::downgrade(&self.hub);
        self.automation.on_access_changed(move |user| {
            if let Some(hub) = hub.upgrade() {
                hub.reauthorize_user(user);
            }
        });
        let hub = Arc::downgrade(&self.hub);
        self.automation
            .set_coordinator(move || hub.upgrade().is_some_and(|hub| hub.is_coordinator()));
        let hub = Arc::downgrade(&self.hub);
        self.automation.set_online(move |community| {
            hub.upgrade()
                .map(|hub| hub.online_users(community))
                .unwrap_or_default()
        });
        self.automation.start().await;
        crate::socket::spawn_bridge(&self.bus, &self.hub);
        crate::socket::spawn_gap_repair(
            &self.hub,
            crate::socket::Storage {
                chat: self.chat.clone(),
                files: self.files.clone(),
            },
        );
        self.auth.spawn_revocation_watcher(REVOCATION_POLL);
        self.monitoring.spawn_alert_relay(ALERT_RELAY);
        sampler::spawn(sampler::Sources {
            metrics: self.metrics.clone(),
            hub: Arc::downgrade(&self.hub),
            db: self.db.clone(),
            media: self.media.clone(),
            data_dir: self.config.data_dir.clone(),
        });
        self.monitoring.spawn_security_writer();
        let backups = (self.config.backup.schedule_hours > 0).then(|| {
            let every = Duration::from_secs(self.config.backup.schedule_hours * 3600);
            (self.config.backup.dir.clone(), every)
        });
        self.monitoring
            .spawn_watchdog(self.media.clone(), self.config.data_dir.clone(), backups);
        crate::contexts::monitoring::backup::spawn_schedule(
            &self.monitoring,
            self.db.clone(),
            self.config.clone(),
        );
        let weak_hub = Arc::downgrade(&self.hub);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                ticker.tick().await;
                match weak_hub.upgrade() {
                    Some(hub) => hub.sweep(),
                    None => return,
                }
            }
        });
    }
}

/// The hub, as the notifier asks it who is online and whether this node notifies.
struct HubRecipients(std::sync::Weak<Hub>);

impl Recipients for HubRecipients {
    fn is_online(&self, user_id: &crate::ids::UserId) -> bool {
        self.0
            .upgrade()
            .is_some_and(|hub| hub.is_user_online(user_id))
    }

    fn sends_notifications(&self) -> bool {
        self.0.upgrade().is_some_and(|hub| hub.is_coordinator())
    }
}

/// Where the links in mails (and those the CLI prints) point: `mail.link_base_url`, else the
/// origin of `admin.public_url`, else `http://` + `listen`.
pub(crate) fn link_base_url(config: &Config) -> String {
    let set = |u: &Option<String>| {
        u.as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    };
    if let Some(base) = set(&config.mail.link_base_url) {
        return base.trim_end_matches('/').to_string();
    }
    if let Some(public) = set(&config.admin.public_url) {
        let after_scheme = public.find("://").map_or(0, |i| i + 3);
        return match public[after_scheme..].find('/') {
            Some(slash) => public[..after_scheme + slash].to_string(),
            None => public,
        };
    }
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", config.listen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_at_the_configured_base_or_the_panel_or_the_listener() {
        let mut config = Config {
            listen: "192.0.2.1:8080".into(),
            ..Config::default()
        };
        assert_eq!(link_base_url(&config), "http://192.0.2.1:8080");
        config.admin.public_url = Some("https://home.example.org/admin".into());
        assert_eq!(link_base_url(&config), "https://home.example.org");
        config.mail.link_base_url = Some("https://example.org/taina/".into());
        assert_eq!(link_base_url(&config), "https://example.org/taina");
    }
}
