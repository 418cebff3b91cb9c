//! The panel's actions: each a form POST carrying `csrf_token`. With htmx the answer is the
//! `#flash` fragment (the tables update through the live socket); without JavaScript it is the
//! page again with the message on top. A missing or wrong token is refused with 403 before
//! anything happens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use taina_admin_ui::model::{Flash, Page};
use taina_admin_ui::pages;

use super::error::AdminError;
use super::pages::{html, render, require};
use super::session::{self, AdminSession};
use crate::contexts::auth::{CommunityChanges, ConfirmDelivery, NewInvite, ResetDelivery, Role};
use crate::db::Upkeep;
use crate::ids::{AppPasswordId, InviteId, UserId};
use crate::realtime::{Logged, Topic};
use crate::socket::ALERT_EVENT as ALERT;
use crate::state::AppState;

/// Longest alert an admin may send from the panel, in characters.
const MAX_ALERT_CHARS: usize = 2_000;

/// The admin session of a form post whose CSRF token is right, or the refusal.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<AdminSession, Response> {
    let session = require(state, headers).await?;
    if !session::csrf_matches(&session.csrf, Some(token)) {
        let error = AdminError::Csrf;
        return Err(if is_htmx(headers) {
            html(
                error.status(),
                pages::flash(&Flash::error(error.to_string())),
            )
        } else {
            html(
                error.status(),
                pages::refusal::page("Refused", &error.to_string()),
            )
        });
    }
    Ok(session)
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The answer to an action: a flash fragment for htmx, else the page with the flash.
async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    session: &AdminSession,
    page: Page,
    outcome: Result<Flash, AdminError>,
) -> Response {
    let (status, flash) = match outcome {
        Ok(flash) => (StatusCode::OK, flash),
        Err(error) => (error.status(), Flash::error(error.public_message())),
    };
    if is_htmx(headers) {
        return html(status, pages::flash(&flash));
    }
    match render(state, session, page, "", Some(flash)).await {
        Ok(markup) => html(status, markup),
        Err(error) => html(
            error.status(),
            pages::refusal::page("Something went wrong", &error.public_message()),
        ),
    }
}

/// Runs an action for the admin whose form carries the right CSRF token, then answers as
/// [`respond`] does: the shape every handler below shares.
async fn act<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    page: Page,
    action: F,
) -> Response
where
    F: FnOnce(AdminSession) -> Fut,
    Fut: std::future::Future<Output = Result<Flash, AdminError>>,
{
    let session = match authorize(state, headers, token).await {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let outcome = action(session.clone()).await;
    respond(state, headers, &session, page, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<RoleForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let role: Role = form.role.parse()?;
        if user_id == session.principal.user_id {
            return Err(AdminError::Invalid(
                "you cannot change your own role here".into(),
            ));
        }
        let user = state
            .auth
            .change_role(&session.principal, &user_id, role)
            .await?;
        Ok(Flash::ok(format!("{} is now {}.", user.email, user.role)))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf_token: String,
}

pub async fn revoke_sessions(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        if user_id == session.principal.user_id {
            return Err(AdminError::Invalid(
                "you cannot revoke your own sessions here: sign out instead".into(),
            ));
        }
        let user = state.auth.user(&user_id).await?;
        let revoked = state
            .auth
            .revoke_sessions_of(&session.principal, &user_id)
            .await?;
        Ok(Flash::ok(format!(
            "Revoked {revoked} session(s) of {}; their sockets are closing.",
            user.email
        )))
    })
    .await
}

/// Revokes one WebDAV app password of a user (a lost or given-away device).
pub async fn revoke_app_password(
    State(state): State<AppState>,
    Path((user_id, password_id)): Path<(UserId, AppPasswordId)>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let user = state.auth.user(&user_id).await?;
        let revoked = state
            .files
            .revoke_app_password_of(&session.principal, &user_id, &password_id)
            .await?;
        Ok(Flash::ok(format!(
            "Revoked the app password {:?} of {}: WebDAV refuses it from now on.",
            revoked.name, user.email
        )))
    })
    .await
}

pub async fn disable(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_disabled(state, user_id, headers, form, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_disabled(state, user_id, headers, form, false).await
}

async fn set_disabled(
    state: AppState,
    user_id: UserId,
    headers: HeaderMap,
    form: CsrfOnly,
    disabled: bool,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let user = state
            .auth
            .set_disabled(&session.principal, &user_id, disabled)
            .await?;
        Ok(Flash::ok(if disabled {
            format!("{} is disabled; their sessions have ended.", user.email)
        } else {
            format!("{} may sign in again.", user.email)
        }))
    })
    .await
}

/// A one-time link for the user to set a new password, by the same path as a reset asked
/// for by email: mailed to them when mail is configured, else shown once to the admin.
pub async fn reset_link(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let user = state.auth.user(&user_id).await?;
        let delivery = state
            .auth
            .send_password_reset(&session.principal, &user_id)
            .await?;
        Ok(match delivery {
            ResetDelivery::Mailed { to, expires_at } => Flash::ok(format!(
                "A link to set a new password was mailed to {to} (it works once, until {}).",
                super::models::when(expires_at)
            )),
            ResetDelivery::Shown { reset, .. } => {
                // The origin the admin uses the panel at: it reaches the server from where
                // they are.
                let origin = super::live::panel_origin(&state.config, headers);
                Flash {
                    ok: true,
                    text: format!(
                        "No mail is configured: give this link to {} (it works once, until \
                         {}); opening it lets them set a new password and signs out every \
                         device of theirs:",
                        user.email,
                        super::models::when(reset.expires_at)
                    ),
                    detail: Some(format!("{origin}/admin/reset/{}", reset.token)),
                }
            }
        })
    })
    .await
}

/// A new email confirmation link for a member whose address is unconfirmed: mailed when mail
/// is configured, else shown to the admin.
pub async fn confirm_link(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let user = state.auth.user(&user_id).await?;
        let delivery = state
            .auth
            .send_confirmation_link(&session.principal, &user_id)
            .await?;
        Ok(match delivery {
            ConfirmDelivery::Mailed { to, expires_at } => Flash::ok(format!(
                "A confirmation link was mailed to {to} (it works once, until {}).",
                super::models::when(expires_at)
            )),
            ConfirmDelivery::Shown { link, expires_at } => {
                let origin = super::live::panel_origin(&state.config, headers);
                let path = link
                    .find("/admin/confirm/")
                    .map_or(link.as_str(), |at| &link[at..]);
                Flash {
                    ok: true,
                    text: format!(
                        "No mail is configured: give this link to {} (it works once, until \
                         {}); opening it confirms their address:",
                        user.email,
                        super::models::when(expires_at)
                    ),
                    detail: Some(format!("{origin}{path}")),
                }
            }
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    confirm: String,
}

/// Removes a member from the community (anonymised: docs/api.md, "Removed accounts"); the
/// form's box must be ticked.
pub async fn remove_member(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        if form.confirm != "yes" {
            return Err(AdminError::Invalid(
                "tick the box to confirm the removal".into(),
            ));
        }
        let user = state.auth.user(&user_id).await?;
        state
            .auth
            .remove_member(&session.principal, &user_id)
            .await?;
        Ok(Flash::ok(format!(
            "{} was removed: their sessions have ended; what they wrote stays, as from a \
             deleted user.",
            user.email
        )))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct CommunityForm {
    #[serde(default)]
    csrf_token: String,
    name: Option<String>,
    slug: Option<String>,
    default_language: Option<String>,
    registration: Option<String>,
}

/// The community settings form.
pub async fn update_community(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CommunityForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let registration = match form.registration.as_deref() {
            Some(text) => Some(text.parse()?),
            None => None,
        };
        let settings = state
            .auth
            .update_community(
                &session.principal,
                CommunityChanges {
                    name: form.name,
                    slug: form.slug,
                    default_language: form.default_language,
                    registration,
                },
            )
            .await?;
        Ok(Flash::ok(format!(
            "Saved: {} ({}), language {}, sign-up {}.",
            settings.name,
            settings.slug,
            settings.default_language,
            match settings.registration {
                crate::contexts::auth::Registration::Open => "open to anyone",
                crate::contexts::auth::Registration::InviteOnly => "by invite only",
            }
        )))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    max_uses: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        let role: Role = form.role.parse()?;
        let number = |text: &str, what: &str, max: u64| -> Result<u64, AdminError> {
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| AdminError::Invalid(format!("{what} is a number from 1 to {max}")))
        };
        let max_uses = number(&form.max_uses, "uses", 1_000)?;
        let days = number(&form.expires_in_days, "days valid", 365)?;
        let invite = state
            .auth
            .create_invite(
                &session.principal,
                NewInvite {
                    role: Some(role),
                    max_uses: Some(max_uses as u32),
                    expires_in_hours: Some(days * 24),
                },
            )
            .await?;
        Ok(Flash {
            ok: true,
            text: format!(
                "Invite created ({} use(s), role {}, until {}). Its code is shown once; \
                 whoever signs up with it joins your community:",
                invite.max_uses,
                invite.role,
                super::models::when(invite.expires_at)
            ),
            detail: Some(invite.code),
        })
    })
    .await
}

pub async fn revoke_invite(
    State(state): State<AppState>,
    Path(invite_id): Path<InviteId>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::People, |session| async move {
        state
            .auth
            .revoke_invite(&session.principal, &invite_id)
            .await?;
        Ok(Flash::ok("Invite revoked."))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct AlertForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    message: String,
}

/// Publishes to the community's `system:alerts`, exactly as an admin's socket push does
/// (`{…, from, scope: "community"}`), so every member's client shows it.
pub async fn send_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AlertForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(state, headers, &token, Page::Alerts, |session| async move {
        let message = form.message.trim();
        if message.is_empty() {
            return Err(AdminError::Invalid("the alert message is empty".into()));
        }
        if message.chars().count() > MAX_ALERT_CHARS {
            return Err(AdminError::Invalid(format!(
                "the alert message is longer than {MAX_ALERT_CHARS} characters"
            )));
        }
        if !matches!(form.level.as_str(), "info" | "warning" | "critical") {
            return Err(AdminError::Invalid(
                "the level is one of info, warning, critical".into(),
            ));
        }
        let mut alert = Map::new();
        alert.insert("level".into(), json!(form.level));
        alert.insert("message".into(), json!(message));
        alert.insert("at".into(), json!(chrono::Utc::now().to_rfc3339()));
        alert.insert("from".into(), json!(session.principal.user_id));
        alert.insert("scope".into(), Value::from("community"));
        state
            .hub
            .publish_logged_acked(Logged::new(
                &Topic::alerts_key(&session.principal.community_id),
                Topic::SYSTEM_ALERTS,
                ALERT,
                alert,
            ))
            .await
            .map_err(|error| AdminError::Unavailable(error.to_string()))?;
        Ok(Flash::ok("Alert sent to everyone in your community."))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    task: String,
}

pub async fn maintenance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TaskForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(
        state,
        headers,
        &token,
        Page::Maintenance,
        |session| async move {
            if form.task == "retry_jobs" {
                let retried = state.media.retry_failed_jobs().await?;
                return Ok(Flash::ok(format!(
                    "{retried} failed media job(s) queued again."
                )));
            }
            let task = Upkeep::parse(&form.task)
                .ok_or_else(|| AdminError::Invalid(format!("no upkeep task `{}`", form.task)))?;
            let started = std::time::Instant::now();
            state.db.upkeep(task).await?;
            tracing::info!(task = task.name(), admin = %session.principal.user_id, "upkeep ran");
            Ok(Flash::ok(format!(
                "{} done in {} ms.",
                task.name(),
                started.elapsed().as_millis()
            )))
        },
    )
    .await
}

/// Backs up now into `backup.dir` and verifies it (Karai's backup, as `POST
/// /api/monitoring/backups` does).
pub async fn backup_now(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(
        state,
        headers,
        &token,
        Page::Maintenance,
        |session| async move {
            let created = state
                .monitoring
                .backup_now(&session.principal, &state.db, &state.config)
                .await?;
            Ok(Flash::ok(format!(
                "Backed up and verified: {} ({} new blob(s), {}).",
                created.path.display(),
                created.new_blobs,
                taina_admin_ui::bytes(created.new_bytes)
            )))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct BanForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    reason: String,
}

pub async fn ban(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<BanForm>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(
        state,
        headers,
        &token,
        Page::Maintenance,
        |session| async move {
            let minutes = match form.minutes.trim() {
                "" => None,
                text => Some(text.parse::<u64>().map_err(|_| {
                    AdminError::Invalid(
                        "minutes is a whole number, or empty for the policy's".into(),
                    )
                })?),
            };
            let ban = state
                .monitoring
                .ban(
                    &session.principal,
                    form.address.trim(),
                    minutes,
                    Some(form.reason.as_str()),
                )
                .await?;
            Ok(Flash::ok(format!(
                "{} is banned until {}.",
                ban.address,
                super::models::when(ban.banned_until)
            )))
        },
    )
    .await
}

pub async fn lift_ban(
    State(state): State<AppState>,
    Path(address): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (state, headers, token) = (&state, &headers, form.csrf_token.clone());
    act(
        state,
        headers,
        &token,
        Page::Maintenance,
        |session| async move {
            state
                .monitoring
                .lift_ban(&session.principal, &address)
                .await?;
            Ok(Flash::ok(format!("The ban on {address} is lifted.")))
        },
    )
    .await
}
