//! The access log: one line per routed request, when it is answered: method, route (the
//! pattern, never the path, which can hold share tokens), status, duration and the signed-in
//! user, as `debug` under the target `taina::access` (`log = "info,taina::access=debug"`
//! turns it on alone). The user is recorded by whatever authenticates the request into the
//! [`AccessUser`] slot this middleware hands down.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::ids::UserId;

/// Where a request's authentication leaves the user's id for the log line.
#[derive(Clone, Debug, Default)]
pub struct AccessUser(Arc<OnceLock<UserId>>);

impl AccessUser {
    pub fn set(&self, user_id: &UserId) {
        let _ = self.0.set(user_id.clone());
    }
}

/// The middleware (`axum::middleware::from_fn`, as a route layer so the route is known).
pub async fn log(mut request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "taina::access", tracing::Level::DEBUG) {
        return next.run(request).await;
    }
    let user = AccessUser::default();
    request.extensions_mut().insert(user.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        target: "taina::access",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        ms = (millis * 10.0).round() / 10.0,
        user = user.0.get().map(|u| u.as_str()),
        "{method} {route} {}",
        response.status().as_u16()
    );
    response
}
