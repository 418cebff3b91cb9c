//! Auth's REST routes under `/api/auth`. Thin: parse, call `AuthService`, shape the JSON.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AppError;
use crate::http::{ApiJson, AuthUser, Client};
use crate::state::AppState;

use super::{
    CreatedInvite, NewInvite, Role, SignIn, SignUp, SignedIn, SignedUp, TotpEnabled, TotpSetup,
    User,
};

type Result<T, E = AppError> = std::result::Result<T, E>;

pub fn routes() -> Router<AppState> {
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
}

/// # `POST /api/auth/signup`
async fn sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(request): ApiJson<SignUp>,
) -> Result<(StatusCode, Json<SignedUp>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.auth.sign_up(request, &client).await?),
    ))
}

/// # `POST /api/auth/signin`
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<Json<SignedIn>> {
    Ok(Json(state.auth.sign_in(request, &client).await?))
}

/// # `POST /api/auth/signout`
async fn sign_out(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<StatusCode> {
    state.auth.sign_out(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/auth/me`
async fn me(State(state): State<AppState>, AuthUser(principal): AuthUser) -> Result<Json<User>> {
    Ok(Json(state.auth.user(&principal.user_id).await?))
}

/// # `POST /api/auth/invites`
async fn create_invite(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    ApiJson(request): ApiJson<NewInvite>,
) -> Result<(StatusCode, Json<CreatedInvite>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.auth.create_invite(&principal, request).await?),
    ))
}

/// # `POST /api/auth/totp/setup`
async fn totp_setup(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<TotpSetup>> {
    Ok(Json(state.auth.totp_setup(&principal).await?))
}

#[derive(Deserialize)]
struct TotpCode {
    code: String,
}

/// # `POST /api/auth/totp/enable`
async fn totp_enable(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<Json<TotpEnabled>> {
    Ok(Json(state.auth.totp_enable(&principal, &body.code).await?))
}

/// # `GET /api/auth/users` (admin)
async fn list_users(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Value>> {
    let users = state.auth.list_community_users(&principal).await?;
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
struct NewRole {
    role: Role,
}

/// # `PUT /api/auth/users/{id}/role` (admin)
async fn set_role(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<NewRole>,
) -> Result<Json<User>> {
    Ok(Json(
        state
            .auth
            .change_role(&principal, &user_id, body.role)
            .await?,
    ))
}

/// # `DELETE /api/auth/users/{id}/sessions` (admin)
async fn revoke_sessions(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let revoked = state.auth.revoke_sessions_of(&principal, &user_id).await?;
    Ok(Json(json!({ "revoked": revoked })))
}
