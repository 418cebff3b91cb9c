//! [`AppState`]: what every request handler can reach, built once at start-up (in `app.rs`)
//! and passed in, never global.
//!
//! Handlers take the one part they need through `FromRef` (`State(auth): State<AuthService>`,
//! `State(db): State<Db>`), so a context's routes work under any state that can hand over its
//! service, and no handler depends on the whole of `AppState`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
use crate::contexts::auth::AuthService;
use crate::contexts::automation::AutomationService;
use crate::contexts::chat::push::Notifier;
use crate::contexts::chat::ChatService;
use crate::contexts::files::FilesService;
use crate::contexts::media::MediaService;
use crate::contexts::monitoring::MonitoringService;
use crate::contexts::streaming::StreamingService;
use crate::db::Db;
use crate::events::EventBus;
use crate::graphql::{AppSchema, Documents};
use crate::metrics::Metrics;
use crate::realtime::Hub;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
    pub auth: AuthService,
    pub chat: ChatService,
    pub notifier: Notifier,
    pub media: MediaService,
    pub monitoring: MonitoringService,
    pub files: FilesService,
    pub streaming: StreamingService,
    pub automation: AutomationService,
    pub hub: Arc<Hub>,
    pub graphql: AppSchema,
    /// Parsed documents of the GraphQL requests seen lately, by their text.
    pub graphql_documents: Arc<Documents>,
    pub metrics: Arc<Metrics>,
    /// Set by the first [`AppState::start`], so background work never runs twice (two media
    /// workers would re-queue each other's running jobs).
    pub(crate) started: Arc<AtomicBool>,
}

/// `impl FromRef<AppState> for $part` for each field: `State<$part>` in a handler clones it out.
macro_rules! parts {
    ($($field:ident: $part:ty),* $(,)?) => {
        $(
            impl FromRef<AppState> for $part {
                fn from_ref(state: &AppState) -> Self {
                    state.$field.clone()
                }
            }
        )*
    };
}

parts! {
    config: Arc<Config>,
    db: Db,
    bus: Arc<dyn EventBus>,
    auth: AuthService,
    chat: ChatService,
    notifier: Notifier,
    media: MediaService,
    monitoring: MonitoringService,
    files: FilesService,
    streaming: StreamingService,
    automation: AutomationService,
    hub: Arc<Hub>,
    graphql: AppSchema,
    graphql_documents: Arc<Documents>,
    metrics: Arc<Metrics>,
}
