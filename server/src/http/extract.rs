//! Request extractors: JSON bodies with our error format, the signed-in user, the client address.
//!
//! Each works under any router state that can hand over what it needs (`FromRef`): the
//! configuration for [`ApiJson`], the [`AuthService`] for [`AuthUser`] and [`MaybeAuthUser`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use taina_protocol::ErrorCode;

use crate::config::Config;
use crate::contexts::auth::{AuthError, AuthService, ClientInfo, Principal};
use crate::error::AppError;

/// A JSON body. Malformed JSON and missing fields are 400 naming the problem, a body over
/// `http.json_body_limit_bytes` is 413, a missing JSON content type is 415.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    Arc<Config>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType,
                JsonRejection::JsonSyntaxError(e) => AppError::BadRequest {
                    code: ErrorCode::InvalidJson,
                    message: format!("malformed JSON: {}", e.body_text()),
                },
                JsonRejection::JsonDataError(e) => AppError::BadRequest {
                    code: ErrorCode::InvalidJson,
                    message: format!("unexpected JSON: {}", e.body_text()),
                },
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    AppError::PayloadTooLarge {
                        limit: Arc::<Config>::from_ref(state).http.json_body_limit_bytes,
                    }
                }
                other => AppError::BadRequest {
                    code: ErrorCode::InvalidBody,
                    message: other.body_text(),
                },
            }),
        }
    }
}

/// The principal behind `Authorization: Bearer <token>`; a missing or bad token is 401.
pub struct AuthUser(pub Principal);

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AuthService: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AuthError::MissingToken)?;
        let auth = AuthService::from_ref(state);
        let principal = auth.authenticate_from(token, &client_info(parts)).await?;
        record_user(parts, &principal);
        Ok(AuthUser(principal))
    }
}

/// The principal when a bearer token is sent (it must then be valid), `None` without one.
pub struct MaybeAuthUser(pub Option<Principal>);

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    S: Send + Sync,
    AuthService: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer_token(parts) {
            Some(token) => {
                let auth = AuthService::from_ref(state);
                let principal = auth.authenticate_from(token, &client_info(parts)).await?;
                record_user(parts, &principal);
                Ok(MaybeAuthUser(Some(principal)))
            }
            None => Ok(MaybeAuthUser(None)),
        }
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The client address and user agent, for rate limits, session records and the security
/// log. The address is the one [`ClientAddress`] resolved (the forwarded one behind a trusted
/// proxy), else the peer's.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(client_info(parts)))
    }
}

/// The client's address as resolved before routing (`http::client_address`), set as a
/// request extension.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub std::net::IpAddr);

fn client_info(parts: &Parts) -> ClientInfo {
    let ip = match parts.extensions.get::<ClientAddress>() {
        Some(ClientAddress(ip)) => Some(ip.to_string()),
        None => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string()),
    };
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    ClientInfo { ip, user_agent }
}

/// Names the user in the request's access log line.
fn record_user(parts: &Parts, principal: &Principal) {
    if let Some(slot) = parts.extensions.get::<super::AccessUser>() {
        slot.set(&principal.user_id);
    }
}
