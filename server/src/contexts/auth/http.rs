//! Auth's REST routes under `/api/auth`. Thin: parse, call `AuthService`, shape the JSON.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser, Client};
use crate::ids::UserId;

use super::{
    AuthService, CreatedInvite, NewInvite, Role, SignIn, SignUp, SignedIn, SignedUp, TotpEnabled,
    TotpSetup, User,
};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The routes, under any router state that hands over the [`AuthService`] and the
/// configuration (for [`ApiJson`]).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        .route("/signup", post(sign_up))
        .route("/signin", post(sign_in))
        .route("/signout", post(sign_out))
        .route("/me", get(me))
        .route("/invites", post(create_invite))
        .route("/totp/setup", post(totp_setup))
        .route("/totp/enable", post(totp_enable))
        .route("/users", get(list_users))
        .route("/users/{id}/role", put(set_role))
        .route("/users/{id}/sessions", delete(revoke_sessions))
        .route("/users/{id}/disabled", put(set_disabled))
        .route("/users/{id}/password-reset", post(create_password_reset))
        .route("/password/reset", post(reset_password))
}

#[derive(Deserialize)]
struct DisabledBody {
    disabled: bool,
}

/// # `PUT /api/auth/users/{id}/disabled` (admin) `{"disabled": true|false}`
/// Disabling ends the user's sessions and refuses their sign-in with `account_disabled`.
async fn set_disabled(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    Path(user_id): Path<UserId>,
    ApiJson(body): ApiJson<DisabledBody>,
) -> Result<Json<User>> {
    Ok(Json(
        auth.set_disabled(&admin, &user_id, body.disabled).await?,
    ))
}

/// # `POST /api/auth/users/{id}/password-reset` (admin)
/// A one-time token for the user to set a new password (`{"token", "expires_at"}`), valid 24 h.
async fn create_password_reset(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    Path(user_id): Path<UserId>,
) -> Result<(StatusCode, Json<Value>)> {
    let reset = auth.create_password_reset(&admin, &user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": reset.token, "expires_at": reset.expires_at })),
    ))
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    password: String,
}

/// # `POST /api/auth/password/reset` `{"token", "password"}`
/// Sets the new password once per token and ends every session of the account.
async fn reset_password(
    State(auth): State<AuthService>,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode> {
    auth.reset_password(&body.token, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `POST /api/auth/signup`
async fn sign_up(
    State(auth): State<AuthService>,
    Client(client): Client,
    ApiJson(request): ApiJson<SignUp>,
) -> Result<(StatusCode, Json<SignedUp>)> {
    Ok((
        StatusCode::CREATED,
        Json(auth.sign_up(request, &client).await?),
    ))
}

/// # `POST /api/auth/signin`
async fn sign_in(
    State(auth): State<AuthService>,
    Client(client): Client,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<Json<SignedIn>> {
    Ok(Json(auth.sign_in(request, &client).await?))
}

/// # `POST /api/auth/signout`
async fn sign_out(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
) -> Result<StatusCode> {
    auth.sign_out(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/auth/me`
async fn me(State(auth): State<AuthService>, AuthUser(principal): AuthUser) -> Result<Json<User>> {
    Ok(Json(auth.user(&principal.user_id).await?))
}

/// # `POST /api/auth/invites`
async fn create_invite(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    ApiJson(request): ApiJson<NewInvite>,
) -> Result<(StatusCode, Json<CreatedInvite>)> {
    Ok((
        StatusCode::CREATED,
        Json(auth.create_invite(&principal, request).await?),
    ))
}

/// # `POST /api/auth/totp/setup`
async fn totp_setup(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
) -> Result<Json<TotpSetup>> {
    Ok(Json(auth.totp_setup(&principal).await?))
}

#[derive(Deserialize)]
struct TotpCode {
    code: String,
}

/// # `POST /api/auth/totp/enable`
async fn totp_enable(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<Json<TotpEnabled>> {
    Ok(Json(auth.totp_enable(&principal, &body.code).await?))
}

/// # `GET /api/auth/users` (admin)
async fn list_users(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Value>> {
    let users = auth.list_community_users(&principal).await?;
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
struct NewRole {
    role: Role,
}

/// # `PUT /api/auth/users/{id}/role` (admin)
async fn set_role(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    Path(user_id): Path<UserId>,
    ApiJson(body): ApiJson<NewRole>,
) -> Result<Json<User>> {
    Ok(Json(
        auth.change_role(&principal, &user_id, body.role).await?,
    ))
}

/// # `DELETE /api/auth/users/{id}/sessions` (admin)
async fn revoke_sessions(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    Path(user_id): Path<UserId>,
) -> Result<Json<Value>> {
    let revoked = auth.revoke_sessions_of(&principal, &user_id).await?;
    Ok(Json(json!({ "revoked": revoked })))
}
