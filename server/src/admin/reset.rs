//! `/admin/reset/{token}`: the page a password reset link opens (public: the token is the
//! secret). It sets the new password through `AuthService::reset_password`, which ends every
//! session of the account. Its form repeats a nonce from its own cookie, like sign-in.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use taina_admin_ui::model::ResetForm;
use taina_admin_ui::pages;

use super::error::AdminError;
use super::pages::html;
use super::session;
use crate::contexts::auth::AuthError;
use crate::state::AppState;

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, StatusCode::OK, None, false)
}

fn page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    done: bool,
) -> Response {
    let (nonce, set_cookie) = session::signin_nonce(headers, state.config.admin.secure_cookies);
    let view = ResetForm {
        csrf_token: nonce,
        error,
        done,
    };
    let mut response = html(status, pages::reset::page(&view));
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct ResetSubmission {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResetSubmission>,
) -> Response {
    let expected = session::signin_cookie(&headers)
        .unwrap_or_default()
        .to_owned();
    if expected.is_empty() || !session::csrf_matches(&expected, Some(&form.csrf_token)) {
        let error = AdminError::Csrf;
        return page(
            &state,
            &headers,
            error.status(),
            Some(error.to_string()),
            false,
        );
    }
    if form.password != form.repeat {
        return page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("The two passwords differ.".into()),
            false,
        );
    }
    match state.auth.reset_password(&token, &form.password).await {
        Ok(_) => page(&state, &headers, StatusCode::OK, None, true),
        Err(error @ AuthError::ResetInvalid) => page(
            &state,
            &headers,
            StatusCode::GONE,
            Some(format!(
                "{error}: ask for a new link (\"forgot password\" in your app) or ask an admin."
            )),
            false,
        ),
        Err(error) => {
            let error = AdminError::from(error);
            page(
                &state,
                &headers,
                error.status(),
                Some(error.public_message()),
                false,
            )
        }
    }
}
