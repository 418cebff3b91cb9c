//! GraphQL: one schema merged from the contexts' parts (`MergedObject`), served at
//! `POST /graphql` (GraphiQL at `GET /graphql`) and over the socket (graphql-transport-ws).
//!
//! Resolvers read the caller from [`Caller`] in the request data and reach contexts only
//! through their services; errors carry a stable `extensions.code` (the same codes as the
//! REST API and socket replies).

mod multipart;
mod presence;
mod typename_complexity;

use std::sync::Arc;

use async_graphql::{ErrorExtensions, MergedObject, MergedSubscription, Schema};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::contexts::auth::graphql::{AuthMutation, AuthQuery};
use crate::contexts::auth::{AuthError, AuthService, ClientInfo, Principal};
use crate::contexts::chat::graphql::{ChatMutation, ChatQuery, ChatSubscription};
use crate::contexts::chat::ChatService;
use crate::contexts::media::graphql::{MediaMutation, MediaQuery, MediaSubscription};
use crate::error::AppError;
use crate::events::EventBus;
use crate::http::{ApiJson, Client};
use crate::realtime::Hub;
use crate::state::AppState;

pub use presence::PresenceSubscription;

#[derive(MergedObject, Default)]
pub struct Query(AuthQuery, ChatQuery, MediaQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, ChatMutation, MediaMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(ChatSubscription, MediaSubscription, PresenceSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 10;
/// Largest query complexity accepted (one point per field by default).
pub const MAX_COMPLEXITY: usize = 500;

/// Who is asking: a verified principal, or nobody (only `signIn` works then).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub client: ClientInfo,
    /// The socket an operation arrived on (none over HTTP), for `refreshToken`.
    pub socket: Option<Arc<SocketLink>>,
}

/// What an operation needs to act on the socket it arrived on.
pub struct SocketLink {
    pub hub: Arc<Hub>,
    pub conn: Arc<crate::realtime::Conn>,
    /// The connection driver waits on this to adopt a refreshed session (expiry, principal).
    pub refreshed: Arc<Refreshed>,
}

/// A refreshed session handed from a GraphQL operation to its connection's driver: the
/// latest one wins. (A watch channel did this too, at ~480 bytes per connection.)
#[derive(Default)]
pub struct Refreshed {
    latest: std::sync::Mutex<Option<(Principal, String)>>,
    notify: tokio::sync::Notify,
}

impl Refreshed {
    pub fn hand_over(&self, principal: Principal, token: String) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some((principal, token));
        self.notify.notify_one();
    }

    /// The next refreshed session handed over.
    pub async fn next(&self) -> (Principal, String) {
        loop {
            if let Some(fresh) = self.latest.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return fresh;
            }
            self.notify.notified().await;
        }
    }
}

impl std::fmt::Debug for SocketLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketLink")
            .field("conn", &self.conn.id)
            .finish()
    }
}

/// Services the resolvers reach, placed in the schema data once.
pub struct Services {
    pub auth: AuthService,
    pub chat: ChatService,
    pub media: crate::contexts::media::MediaService,
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn EventBus>,
    pub recovery_max_messages: u32,
    /// `graphql.introspection`.
    pub introspection: bool,
}

pub fn build_schema(services: Services) -> AppSchema {
    let introspection = services.introspection;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = if introspection {
        builder
    } else {
        builder.disable_introspection()
    };
    builder
        .data(services)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(typename_complexity::TypenameComplexity {
            limit: MAX_COMPLEXITY,
        })
        .finish()
}

/// The signed-in principal, or an `unauthenticated` error.
pub fn principal<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data::<Caller>()
        .ok()
        .and_then(|caller| caller.principal.as_ref())
        .ok_or_else(|| {
            async_graphql::Error::new("sign in first")
                .extend_with(|_, e| e.set("code", "unauthenticated"))
        })
}

pub fn services<'a>(ctx: &async_graphql::Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// A context error as a GraphQL error with `extensions.code`, from the error table (only
/// `internal` hides its message).
pub fn to_gql(error: impl Into<AppError>) -> async_graphql::Error {
    let error = error.into();
    async_graphql::Error::new(error.public_message())
        .extend_with(|_, e| e.set("code", error.code().as_str()))
}

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/graphql",
        get(graphiql)
            .post(execute)
            .layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

/// # `GET /graphql`
/// GraphiQL, pointed at this server for queries and subscriptions; 404 when
/// `graphql.introspection` is off.
async fn graphiql(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    if !state.config.graphql.introspection {
        return Err(AppError::NotFound);
    }
    Ok(Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/socket/websocket")
            .title("Tainá GraphQL")
            .finish(),
    ))
}

/// # `POST /graphql`
/// A GraphQL request as JSON, or a GraphQL multipart request (file uploads). A bearer token,
/// when sent, must be valid (401 otherwise); without one only `signIn` is useful, and a
/// multipart request is refused (401) before its body is read.
async fn execute(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let principal = match bearer(request.headers()) {
        Some(token) => Some(state.auth.authenticate(token).await?),
        None => None,
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let graphql_request = match content_type
        .as_deref()
        .filter(|t| t.starts_with("multipart/form-data"))
    {
        Some(content_type) => {
            let principal = principal.as_ref().ok_or(AuthError::MissingToken)?;
            multipart::receive(&state, principal, content_type, request.into_body()).await?
        }
        None => {
            // JSON bodies keep the JSON limit even though this route accepts large multipart bodies.
            let limit = state.config.http.json_body_limit_bytes;
            let (parts, body) = request.into_parts();
            let limited = axum::body::Body::new(http_body_util::Limited::new(body, limit));
            let request = axum::extract::Request::from_parts(parts, limited);
            let ApiJson(graphql_request) =
                <ApiJson<async_graphql::Request> as axum::extract::FromRequest<AppState>>::from_request(request, &state).await?;
            graphql_request
        }
    };
    let response = state
        .graphql
        .execute(graphql_request.data(Caller {
            principal,
            client,
            socket: None,
        }))
        .await;
    Ok(Json(response).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
