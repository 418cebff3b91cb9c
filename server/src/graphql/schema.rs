//! The schema: one `Query`, `Mutation` and `Subscription` merged from the contexts' parts
//! (`MergedObject`), with the limits every request runs under and the data resolvers read.

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use super::presence::PresenceSubscription;
use super::typename_complexity::TypenameComplexity;
use crate::config::Config;
use crate::contexts::auth::graphql::{AuthMutation, AuthQuery};
use crate::contexts::auth::AuthService;
use crate::contexts::automation::graphql::{
    AutomationMutation, AutomationQuery, AutomationSubscription,
};
use crate::contexts::automation::rules::graphql::{RuleMutation, RuleQuery};
use crate::contexts::automation::AutomationService;
use crate::contexts::chat::graphql::{ChatMutation, ChatQuery, ChatSubscription};
use crate::contexts::chat::keys_graphql::{KeysMutation, KeysQuery};
use crate::contexts::chat::push::Notifier;
use crate::contexts::chat::push_graphql::{PushMutation, PushQuery};
use crate::contexts::chat::ChatService;
use crate::contexts::files::graphql::{FilesMutation, FilesQuery, FilesSubscription};
use crate::contexts::files::FilesService;
use crate::contexts::media::graphql::{MediaMutation, MediaQuery, MediaSubscription};
use crate::contexts::media::MediaService;
use crate::contexts::monitoring::graphql::{
    MonitoringMutation, MonitoringQuery, MonitoringSubscription,
};
use crate::contexts::monitoring::MonitoringService;
use crate::contexts::streaming::graphql::{
    StreamingMutation, StreamingQuery, StreamingSubscription,
};
use crate::contexts::streaming::StreamingService;
use crate::events::EventBus;
use crate::realtime::Hub;

#[derive(MergedObject, Default)]
pub struct Query(
    AuthQuery,
    ChatQuery,
    KeysQuery,
    PushQuery,
    MediaQuery,
    MonitoringQuery,
    FilesQuery,
    StreamingQuery,
    AutomationQuery,
    RuleQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    ChatMutation,
    KeysMutation,
    PushMutation,
    MediaMutation,
    MonitoringMutation,
    FilesMutation,
    StreamingMutation,
    AutomationMutation,
    RuleMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    ChatSubscription,
    MediaSubscription,
    PresenceSubscription,
    MonitoringSubscription,
    FilesSubscription,
    StreamingSubscription,
    AutomationSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 10;
/// Largest query complexity accepted (one point per field by default).
pub const MAX_COMPLEXITY: usize = 500;

/// The schema over these services. Each is schema data of its own type, so a resolver reads
/// just the one it needs (`ctx.data_unchecked::<ChatService>()`), as HTTP handlers take theirs
/// through `FromRef`. The configuration is there too (`Arc<Config>`, e.g. the recovery limit);
/// `graphql.introspection` decides whether `__schema`/`__type` answer.
#[allow(clippy::too_many_arguments)]
pub fn build(
    config: Arc<Config>,
    auth: AuthService,
    chat: ChatService,
    notifier: Notifier,
    media: MediaService,
    monitoring: MonitoringService,
    files: FilesService,
    streaming: StreamingService,
    automation: AutomationService,
    hub: Arc<Hub>,
    bus: Arc<dyn EventBus>,
) -> AppSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = if config.graphql.introspection {
        builder
    } else {
        builder.disable_introspection()
    };
    builder
        .data(config)
        .data(auth)
        .data(chat)
        .data(notifier)
        .data(media)
        .data(monitoring)
        .data(files)
        .data(streaming)
        .data(automation)
        .data(hub)
        .data(bus)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(TypenameComplexity {
            limit: MAX_COMPLEXITY,
        })
        .finish()
}
