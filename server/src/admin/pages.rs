//! The panel's pages (GET) and the sign-in and sign-out forms: whole documents, rendered from
//! the view models in `models.rs`. Without a session a page redirects to the sign-in form; a
//! signed-in member gets 403 and a sentence saying the panel is for admins.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use taina_admin_ui::model::{Flash, Page, Shell, SignIn as SignInView};
use taina_admin_ui::pages;
use taina_admin_ui::Markup;

use super::error::AdminError;
use super::models;
use super::session::{self, AdminSession, NoSession};
use crate::contexts::auth::{AuthError, Role, SignIn};
use crate::http::Client;
use crate::state::AppState;

pub const SIGN_IN: &str = "/admin/signin";
const NOT_ADMIN: &str =
    "This panel is for community admins. You are signed in, but your account is not an admin.";

pub fn html(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The refusal a member sees.
pub fn not_admin() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::refusal::page("Admins only", NOT_ADMIN),
    )
}

/// The admin session, or the response to send instead (to sign-in, or 403).
pub async fn require(state: &AppState, headers: &HeaderMap) -> Result<AdminSession, Response> {
    match session::current(&state.auth, headers).await {
        Ok(session) => Ok(session),
        Err(NoSession::SignedOut) => Err(Redirect::to(SIGN_IN).into_response()),
        Err(NoSession::NotAdmin) => Err(not_admin()),
    }
}

pub async fn shell(state: &AppState, session: &AdminSession, flash: Option<Flash>) -> Shell {
    let community_name = state
        .auth
        .community_of(&session.principal)
        .await
        .map(|c| c.name)
        .unwrap_or_default();
    Shell {
        admin_email: session.principal.email.clone(),
        community_name,
        csrf_token: session.csrf.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        flash,
    }
}

/// A whole page for a signed-in admin.
pub async fn render(
    state: &AppState,
    session: &AdminSession,
    page: Page,
    search: &str,
    flash: Option<Flash>,
) -> Result<Markup, AdminError> {
    let shell = shell(state, session, flash).await;
    let admin = &session.principal;
    Ok(match page {
        Page::Overview => pages::overview::page(&shell, &models::overview(state)),
        Page::People => pages::people::page(&shell, &models::people(state, admin, search).await?),
        Page::Activity => pages::activity::page(&shell, &models::activity(state, admin).await?),
        Page::Alerts => pages::alerts::page(&shell, &models::alerts(state, admin)),
        Page::Maintenance => {
            pages::maintenance::page(&shell, &models::maintenance(state, admin).await?)
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    q: String,
}

pub async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show(&state, &headers, Page::Overview, "").await
}

pub async fn alerts(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show(&state, &headers, Page::Alerts, "").await
}

pub async fn maintenance(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show(&state, &headers, Page::Maintenance, "").await
}

pub async fn page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    match Page::from_slug(&slug) {
        Some(page) => show(&state, &headers, page, &query.q).await,
        None => html(
            StatusCode::NOT_FOUND,
            pages::refusal::page("Not found", "There is no such page in the admin panel."),
        ),
    }
}

async fn show(state: &AppState, headers: &HeaderMap, page: Page, search: &str) -> Response {
    let session = match require(state, headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match render(state, &session, page, search, None).await {
        Ok(markup) => html(StatusCode::OK, markup),
        Err(error) => html(
            error.status(),
            pages::refusal::page("Something went wrong", &error.public_message()),
        ),
    }
}

pub async fn sign_in_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session::current(&state.auth, &headers).await.is_ok() {
        return Redirect::to("/admin").into_response();
    }
    sign_in_page(&state, &headers, StatusCode::OK, String::new(), None)
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> Response {
    let (nonce, set_cookie) = session::signin_nonce(headers, state.config.admin.secure_cookies);
    let view = SignInView {
        csrf_token: nonce,
        email,
        error,
    };
    let mut response = html(status, pages::sign_in::page(&view));
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// Signs in with the same accounts as the API. Only admins keep the session: anyone else's
/// is ended at once and they get the refusal.
pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let expected = session::signin_cookie(&headers)
        .unwrap_or_default()
        .to_owned();
    if expected.is_empty() || !session::csrf_matches(&expected, Some(&form.csrf_token)) {
        return sign_in_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            form.email,
            Some(AdminError::Csrf.to_string()),
        );
    }
    let request = SignIn {
        email: form.email.clone(),
        password: form.password,
        community: None,
        otp: Some(form.code.trim().to_owned()).filter(|c| !c.is_empty()),
    };
    let signed_in = match state.auth.sign_in(request, &client).await {
        Ok(signed_in) => signed_in,
        Err(error) => {
            let (status, message) = match &error {
                AuthError::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "Wrong email or password.".to_owned(),
                ),
                AuthError::OtpRequired => (
                    StatusCode::UNAUTHORIZED,
                    "This account uses a one-time code: enter it too.".to_owned(),
                ),
                _ => {
                    let error = AdminError::from(error);
                    (error.status(), error.public_message())
                }
            };
            return sign_in_page(&state, &headers, status, form.email, Some(message));
        }
    };
    let principal = match state.auth.authenticate(&signed_in.token).await {
        Ok(principal) => principal,
        Err(error) => {
            let error = AdminError::from(error);
            return sign_in_page(
                &state,
                &headers,
                error.status(),
                form.email,
                Some(error.public_message()),
            );
        }
    };
    if principal.role != Role::Admin {
        if let Err(error) = state.auth.sign_out(&principal).await {
            tracing::warn!(%error, "cannot end a non-admin's panel session");
        }
        return not_admin();
    }
    let secure = state.config.admin.secure_cookies;
    let mut response = Redirect::to("/admin").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::session_cookie(&signed_in.token, principal.expires_at, secure),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let secure = state.config.admin.secure_cookies;
    let session = match require(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if !session::csrf_matches(&session.csrf, Some(&form.csrf_token)) {
        return html(
            StatusCode::FORBIDDEN,
            pages::refusal::page("Refused", &AdminError::Csrf.to_string()),
        );
    }
    if let Err(error) = state.auth.sign_out(&session.principal).await {
        let error = AdminError::from(error);
        return html(
            error.status(),
            pages::refusal::page("Something went wrong", &error.public_message()),
        );
    }
    let mut response = Redirect::to(SIGN_IN).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_session_cookie(secure));
    response
}
