//! `/admin/confirm/{token}`: the page an email confirmation link opens (public: the token is
//! the secret). A GET shows one button; its POST confirms through `AuthService::confirm_email`
//! (so a mail scanner that follows links confirms nothing). The form repeats a nonce from its
//! own cookie, like sign-in and the reset page.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use taina_admin_ui::model::ConfirmForm;
use taina_admin_ui::pages;

use super::error::AdminError;
use super::pages::html;
use super::session;
use crate::contexts::auth::AuthError;
use crate::state::AppState;

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, StatusCode::OK, None, None)
}

fn page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    confirmed: Option<String>,
) -> Response {
    let (nonce, set_cookie) = session::signin_nonce(headers, state.config.admin.secure_cookies);
    let view = ConfirmForm {
        csrf_token: nonce,
        error,
        confirmed,
    };
    let mut response = html(status, pages::confirm::page(&view));
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct ConfirmSubmission {
    #[serde(default)]
    csrf_token: String,
}

pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ConfirmSubmission>,
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
            None,
        );
    }
    match state.auth.confirm_email(&token).await {
        Ok(user) => page(&state, &headers, StatusCode::OK, None, Some(user.email)),
        Err(error @ AuthError::ConfirmationInvalid) => page(
            &state,
            &headers,
            StatusCode::GONE,
            Some(format!("{error}.")),
            None,
        ),
        Err(error) => {
            let error = AdminError::from(error);
            page(
                &state,
                &headers,
                error.status(),
                Some(error.public_message()),
                None,
            )
        }
    }
}
