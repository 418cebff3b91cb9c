//! GraphQL over HTTP: `POST /graphql` (JSON, or a GraphQL multipart request with file uploads)
//! and GraphiQL at `GET /graphql`.

mod multipart;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{AppSchema, Caller, Documents};
use crate::config::Config;
use crate::contexts::auth::{AuthError, AuthService};
use crate::contexts::media::MediaService;
use crate::error::AppError;
use crate::http::{AccessUser, ApiJson, Client};
use crate::metrics::{Metrics, OutcomeLabels};

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Config>: FromRef<S>,
    AuthService: FromRef<S>,
    MediaService: FromRef<S>,
    AppSchema: FromRef<S>,
    Arc<Documents>: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
{
    Router::new().route(
        "/graphql",
        get(graphiql)
            .post(execute)
            .layer(DefaultBodyLimit::disable()),
    )
}

/// # `GET /graphql`
/// GraphiQL, pointed at this server for queries and subscriptions; 404 when
/// `graphql.introspection` is off. Its scripts and styles are served by this binary
/// (`/admin/assets/`), so it works on a network with no way out.
async fn graphiql(State(config): State<Arc<Config>>) -> Result<Html<String>, AppError> {
    if !config.graphql.introspection {
        return Err(AppError::NotFound);
    }
    Ok(Html(graphiql_page()))
}

fn graphiql_page() -> String {
    use taina_admin_ui::assets::{self, href};
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tainá GraphQL</title>
<link rel="stylesheet" href="{css}">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script>
  const socket = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/socket/websocket";
  const fetcher = GraphiQL.createFetcher({{ url: "/graphql", subscriptionUrl: socket }});
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, {{ fetcher, defaultEditorToolsVisibility: true }}));
</script>
</body>
</html>
"#,
        css = href(assets::GRAPHIQL_STYLESHEET),
        react = href(assets::REACT),
        react_dom = href(assets::REACT_DOM),
        graphiql = href(assets::GRAPHIQL),
    )
}

/// # `POST /graphql`
/// A GraphQL request as JSON, or a GraphQL multipart request (file uploads). A bearer token,
/// when sent, must be valid (401 otherwise); without one only `signIn` is useful, and a
/// multipart request is refused (401) before its body is read.
#[allow(
    clippy::too_many_arguments,
    reason = "one extractor per part of the state"
)]
async fn execute(
    State(config): State<Arc<Config>>,
    State(auth): State<AuthService>,
    State(media): State<MediaService>,
    State(schema): State<AppSchema>,
    State(documents): State<Arc<Documents>>,
    State(metrics): State<Arc<Metrics>>,
    Client(client): Client,
    request: Request,
) -> Result<Response, AppError> {
    let principal = match bearer(request.headers()) {
        Some(token) => Some(auth.authenticate_from(token, &client).await?),
        None => None,
    };
    if let (Some(principal), Some(slot)) = (&principal, request.extensions().get::<AccessUser>()) {
        slot.set(&principal.user_id);
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut graphql_request = match content_type
        .as_deref()
        .filter(|t| t.starts_with("multipart/form-data"))
    {
        Some(content_type) => {
            let principal = principal.as_ref().ok_or(AuthError::MissingToken)?;
            let limit = config.http.json_body_limit_bytes;
            multipart::receive(&media, limit, principal, content_type, request.into_body()).await?
        }
        None => {
            // JSON bodies keep the JSON limit even though this route accepts large multipart bodies.
            let limit = config.http.json_body_limit_bytes;
            let (parts, body) = request.into_parts();
            let limited = axum::body::Body::new(http_body_util::Limited::new(body, limit));
            let request = Request::from_parts(parts, limited);
            let ApiJson(graphql_request) =
                ApiJson::<async_graphql::Request>::from_request(request, &config).await?;
            graphql_request
        }
    };
    let started = std::time::Instant::now();
    documents.prepare(&mut graphql_request);
    let response = schema
        .execute(graphql_request.data(Caller {
            principal,
            client,
            socket: None,
        }))
        .await;
    metrics
        .graphql_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = if response.is_ok() { "ok" } else { "error" };
    metrics
        .graphql_operations
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    Ok(Json(response).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
