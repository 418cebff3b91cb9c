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
    AuthService, CommunityChanges, CommunitySettings, ConfirmDelivery, CreatedInvite, NewInvite,
    ResetDelivery, Role, SignIn, SignUp, SignedIn, SignedUp, TotpEnabled, TotpSetup, User,
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
        .route("/users/{id}", delete(remove_member))
        .route("/users/{id}/password-reset", post(create_password_reset))
        .route("/password", post(change_password))
        .route("/password/reset", post(request_password_reset))
        .route("/password/reset/confirm", post(reset_password))
        .route("/email", post(change_email))
        .route("/email/confirm", post(confirm_email))
        .route("/email/confirm/resend", post(resend_confirmation))
        .route("/users/{id}/confirm-link", post(send_confirmation_link))
        .route("/account", delete(delete_account))
        .route("/community", get(community).patch(update_community))
}

#[derive(Deserialize)]
struct ResetRequest {
    email: String,
}

/// # `POST /api/auth/password/reset` `{"email"}`
/// Always 202 with the same body, whether or not the address has an account (429 over the
/// limits); the link goes out by mail, from a task of its own.
async fn request_password_reset(
    State(auth): State<AuthService>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<(StatusCode, Json<Value>)> {
    auth.request_password_reset(&body.email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "if this address has an account, a link to set a new password is on its way"
        })),
    ))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
    #[serde(default)]
    keep_other_sessions: bool,
}

/// # `POST /api/auth/password` `{"current_password", "new_password", "keep_other_sessions"?}`
/// 200 `{"sessions_ended": N}`: every other session ends unless kept on purpose.
async fn change_password(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<Value>> {
    let ended = auth
        .change_password(
            &principal,
            &body.current_password,
            &body.new_password,
            body.keep_other_sessions,
            &client,
        )
        .await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

#[derive(Deserialize)]
struct EmailChange {
    new_email: String,
    current_password: String,
}

/// # `POST /api/auth/email` `{"new_email", "current_password"}`
/// 202: a link went to the new address; the email changes when it is opened.
async fn change_email(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<EmailChange>,
) -> Result<StatusCode> {
    auth.request_email_change(&principal, &body.new_email, &body.current_password, &client)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

/// # `POST /api/auth/email/confirm` `{"token"}`
/// 200 the user, its address confirmed (and changed, for a change of address).
async fn confirm_email(
    State(auth): State<AuthService>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<User>> {
    Ok(Json(auth.confirm_email(&body.token).await?))
}

/// # `POST /api/auth/email/confirm/resend` `{"email"}`
/// Always 202 with the same body (429 over the reset limits): a new confirmation link goes to
/// each unconfirmed account of the address.
async fn resend_confirmation(
    State(auth): State<AuthService>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<(StatusCode, Json<Value>)> {
    auth.request_confirmation_resend(&body.email, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "if this address has an unconfirmed account, a new link is on its way"
        })),
    ))
}

/// # `POST /api/auth/users/{id}/confirm-link` (admin)
/// A new confirmation link for a member whose address is unconfirmed: mailed when mail is
/// configured (`{"mailed": true, "expires_at"}`), else `{"mailed": false, "link",
/// "expires_at"}` for the admin to hand over.
async fn send_confirmation_link(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    Path(user_id): Path<UserId>,
) -> Result<(StatusCode, Json<Value>)> {
    let body = match auth.send_confirmation_link(&admin, &user_id).await? {
        ConfirmDelivery::Mailed { expires_at, .. } => {
            json!({ "mailed": true, "expires_at": expires_at })
        }
        ConfirmDelivery::Shown { link, expires_at } => {
            json!({ "mailed": false, "link": link, "expires_at": expires_at })
        }
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
struct CurrentPassword {
    current_password: String,
}

/// # `DELETE /api/auth/account` `{"current_password"}`
/// 204: the account is anonymised (docs/api.md, "Removed accounts") and every session ends.
async fn delete_account(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<CurrentPassword>,
) -> Result<StatusCode> {
    auth.delete_own_account(&principal, &body.current_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `DELETE /api/auth/users/{id}` (admin)
/// 204: the member is removed by the same rule as a deleted account.
async fn remove_member(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    Path(user_id): Path<UserId>,
) -> Result<StatusCode> {
    auth.remove_member(&admin, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/auth/community`
async fn community(
    State(auth): State<AuthService>,
    AuthUser(principal): AuthUser,
) -> Result<Json<CommunitySettings>> {
    Ok(Json(auth.community_settings(&principal).await?))
}

/// # `PATCH /api/auth/community` (admin) `{"name"?, "slug"?, "default_language"?, "registration"?}`
async fn update_community(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    ApiJson(changes): ApiJson<CommunityChanges>,
) -> Result<Json<CommunitySettings>> {
    Ok(Json(auth.update_community(&admin, changes).await?))
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
/// A one-time link (valid 24 h) for the user to set a new password: mailed to them when mail
/// is configured (`{"mailed": true, "expires_at"}`), else `{"mailed": false, "token", "link",
/// "expires_at"}` for the admin to hand over.
async fn create_password_reset(
    State(auth): State<AuthService>,
    AuthUser(admin): AuthUser,
    Path(user_id): Path<UserId>,
) -> Result<(StatusCode, Json<Value>)> {
    let body = match auth.send_password_reset(&admin, &user_id).await? {
        ResetDelivery::Mailed { expires_at, .. } => {
            json!({ "mailed": true, "expires_at": expires_at })
        }
        ResetDelivery::Shown { reset, link } => json!({
            "mailed": false,
            "token": reset.token,
            "link": link,
            "expires_at": reset.expires_at,
        }),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    password: String,
}

/// # `POST /api/auth/password/reset/confirm` `{"token", "password"}`
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
