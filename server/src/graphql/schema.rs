//! The schema: one `Query`, `Mutation` and `Subscription` merged from the contexts' parts
//! (`MergedObject`), with the limits every request runs under and the data resolvers read.

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, ValidationMode};

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

/// The schema over these services, built twice ([`Schemas`]). Each service is schema data of
/// its own type, so a resolver reads just the one it needs (`ctx.data_unchecked::<ChatService>()`),
/// as HTTP handlers take theirs through `FromRef`. The configuration is there too
/// (`Arc<Config>`, e.g. the recovery limit); `graphql.introspection` decides whether
/// `__schema`/`__type` answer.
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
) -> Schemas {
    let finish = |validation| {
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
            .data(config.clone())
            .data(auth.clone())
            .data(chat.clone())
            .data(notifier.clone())
            .data(media.clone())
            .data(monitoring.clone())
            .data(files.clone())
            .data(streaming.clone())
            .data(automation.clone())
            .data(hub.clone())
            .data(bus.clone())
            .validation_mode(validation)
            .limit_depth(MAX_DEPTH)
            .limit_complexity(MAX_COMPLEXITY)
            .extension(TypenameComplexity {
                limit: MAX_COMPLEXITY,
            })
            .finish()
    };
    Schemas {
        requests: finish(ValidationMode::Strict),
        renders: finish(ValidationMode::Fast),
    }
}

/// The one schema, twice: the same types, resolvers, data and limits, validating differently.
pub struct Schemas {
    /// Every request from a client: all of GraphQL's validation rules.
    pub requests: AppSchema,
    /// For running again a document and variables that [`Schemas::requests`] validated in full
    /// (a `messageReceived` group renders each message with its first member's request):
    /// async-graphql's fast mode, which skips the rules and keeps the depth and complexity
    /// limits (what that saves: docs/performance.md).
    pub renders: AppSchema,
}
