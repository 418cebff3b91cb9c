//! `AppState`: what every request handler can reach. Built once at start-up and passed in,
//! never global.

use std::sync::Arc;

use crate::config::Config;
use crate::contexts::auth::{AuthService, TokenKeys};
use crate::db::Db;
use crate::error::StartError;
use crate::events::{EventBus, MemoryBus};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
    pub auth: AuthService,
}

/// Capacity of the in-process event bus before slow subscribers lag.
const BUS_CAPACITY: usize = 4096;

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
        Ok(Self {
            config: Arc::new(config),
            db,
            bus,
            auth,
        })
    }
}
