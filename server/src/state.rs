//! `AppState`: what every request handler can reach. Built once at start-up and passed in,
//! never global.

use std::sync::Arc;

use crate::config::Config;
use crate::contexts::auth::{AuthService, TokenKeys};
use crate::contexts::chat::ChatService;
use crate::contexts::media::MediaService;
use crate::contexts::monitoring::MonitoringService;
use crate::db::Db;
use crate::error::StartError;
use crate::events::{EventBus, MemoryBus};
use crate::realtime::Hub;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
    pub auth: AuthService,
    pub chat: ChatService,
    pub media: MediaService,
    pub monitoring: MonitoringService,
    pub hub: Arc<Hub>,
    pub graphql: crate::graphql::AppSchema,
}

/// How often SQLite's write-ahead logs are checkpointed in the background.
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Capacity of the in-process event bus before slow subscribers lag.
const BUS_CAPACITY: usize = 65_536;
/// How often idle topics are forgotten.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// How often instance alerts raised by other processes (`taina alert send`) are relayed.
const ALERT_RELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often revocations by other processes are picked up.
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// Prepares the data directory, opens and migrates the database and loads the signing secret.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let io = |what: &'static str, path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| StartError::Io { what, path, source }
        };
        let files_dir = config.data_dir.join("files");
        std::fs::create_dir_all(&files_dir).map_err(io("cannot create", &files_dir))?;
        let db = Db::connect(&config).await?;
        db.migrate().await?;
        let secret_path = config
            .data_dir
            .join(crate::contexts::auth::token::SECRET_FILE);
        let keys = TokenKeys::load_or_create(&secret_path)
            .map_err(io("cannot read or create", &secret_path))?;
        let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new(BUS_CAPACITY));
        let auth = AuthService::new(db.clone(), keys, bus.clone(), config.auth.clone()).await?;
        let chat = ChatService::new(db.clone(), auth.clone(), bus.clone(), config.chat.clone());
        let media = MediaService::new(
            db.clone(),
            auth.clone(),
            bus.clone(),
            config.media.clone(),
            &config.data_dir,
        )
        .map_err(|e| StartError::Media(e.to_string()))?;
        let monitoring = MonitoringService::new(db.clone(), bus.clone());
        db.spawn_checkpointer(WAL_CHECKPOINT_EVERY);
        media.spawn_worker();
        chat.spawn_feed();
        let hub = Arc::new(Hub::new(config.realtime.clone(), bus.clone()));
        crate::socket::spawn_bridge(&bus, &hub);
        auth.spawn_revocation_watcher(REVOCATION_POLL);
        monitoring.spawn_alert_relay(ALERT_RELAY);
        let weak_hub = Arc::downgrade(&hub);
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
        let graphql = crate::graphql::build_schema(crate::graphql::Services {
            auth: auth.clone(),
            chat: chat.clone(),
            media: media.clone(),
            hub: hub.clone(),
            bus: bus.clone(),
            recovery_max_messages: config.realtime.recovery_max_messages,
            introspection: config.graphql.introspection,
        });
        Ok(Self {
            config: Arc::new(config),
            db,
            bus,
            auth,
            chat,
            media,
            monitoring,
            hub,
            graphql,
        })
    }
}
