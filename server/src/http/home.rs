//! `GET /`: a small page for whoever opens the server's address in a browser, pointing at
//! what a person can use there (the admin panel, GraphiQL, the socket, health).

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::config::Config;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Config>: FromRef<S>,
{
    Router::new().route("/", get(home))
}

/// # `GET /`
/// An HTML page naming the panel (when enabled), GraphiQL (when introspection is on), the
/// socket endpoint and the health checks.
async fn home(State(config): State<Arc<Config>>) -> Html<String> {
    let mut links = String::new();
    if config.admin.enabled {
        links.push_str(
            "<li><a href=\"/admin\">Admin panel</a>: people, invites, alerts, backups, \
             live server figures (admins sign in here)</li>",
        );
    }
    if config.graphql.introspection {
        links.push_str(
            "<li><a href=\"/graphql\">GraphiQL</a>: explore and try the GraphQL API \
             (<code>POST /graphql</code>)</li>",
        );
    }
    links.push_str(
        "<li><code>/socket/websocket</code>: the socket clients hold (Phoenix Channels V2, \
         graphql-transport-ws)</li>\
         <li><a href=\"/healthz\">/healthz</a> and <a href=\"/readyz\">/readyz</a>: health \
         checks</li>",
    );
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Tainá</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;\
         padding:0 1rem}}code{{background:#f2f2f2;padding:0 .2em}}</style></head>\
         <body><h1>Tainá</h1><p>This community's server is running (version {version}).</p>\
         <ul>{links}</ul><p>Apps connect to this address. The HTTP API and the socket \
         protocol are described in <code>docs/api.md</code> and \
         <code>docs/protocol.md</code> in Tainá's source.</p></body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    ))
}
