//! WebDAV at `/dav/files/{user_id}/…`: the user's personal space through the `dav-server`
//! crate, over [`FilesService`]. HTTP Basic auth: the account's email and an app password
//! (`createAppPassword`), never the account password. Locks (LOCK/UNLOCK): [`locks`].

mod file;
mod fs;
mod locks;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use base64::Engine;
use dashmap::DashMap;
use dav_server::memls::MemLs;
use dav_server::DavHandler;

use super::{FilesError, FilesService};
use crate::ids::{SpaceId, UserId};

pub use fs::{Caller, FilesFs};

/// The WebDAV protocol's lock table of each space (files locks are in the database).
#[derive(Clone, Default)]
struct Locks(Arc<DashMap<SpaceId, Box<MemLs>>>);

/// The routes, under any router state that hands over the [`FilesService`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    FilesService: FromRef<S>,
{
    Router::new()
        .route("/dav/files/{user}", any(serve))
        .route("/dav/files/{user}/", any(serve))
        .route("/dav/files/{user}/{*path}", any(serve))
        .route("/dav/spaces/{user}/{space}", any(serve))
        .route("/dav/spaces/{user}/{space}/", any(serve))
        .route("/dav/spaces/{user}/{space}/{*path}", any(serve))
        // PUT bodies stream into uploads that enforce the size limit and the quota.
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(Locks::default()))
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Taina files\", charset=\"UTF-8\""),
        )],
        message.to_string(),
    )
        .into_response()
}

/// `(email, password)` from `Authorization: Basic …`.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (email, password) = text.split_once(':')?;
    Some((email.to_string(), password.to_string()))
}

/// Which space a WebDAV URL names: `/dav/files/{user_id}/…` the user's personal space,
/// `/dav/spaces/{user_id}/{space_id}/…` a space of their community (the user id is in both so
/// the app password is looked up for one account). Returns (user, space, the URL prefix).
fn mount(path: &str) -> Option<(String, Option<String>, String)> {
    if let Some(rest) = path.strip_prefix("/dav/files/") {
        let user = rest.split('/').next()?.to_string();
        let prefix = format!("/dav/files/{user}");
        return Some((user, None, prefix));
    }
    let rest = path.strip_prefix("/dav/spaces/")?;
    let mut parts = rest.split('/');
    let user = parts.next()?.to_string();
    let space = parts.next()?.to_string();
    let prefix = format!("/dav/spaces/{user}/{space}");
    Some((user, Some(space), prefix))
}

/// # `/dav/files/{user_id}/…` and `/dav/spaces/{user_id}/{space_id}/…` — every WebDAV method
/// 401 with `WWW-Authenticate: Basic` without valid credentials; 404 for a space the user
/// cannot read; then `dav-server` answers (a guest's writes: 403).
async fn serve(
    State(files): State<FilesService>,
    Extension(locks): Extension<Locks>,
    request: Request,
) -> Response {
    let Some((user, space_id, prefix)) = mount(request.uri().path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((email, password)) = basic_credentials(&request) else {
        return unauthorized("sign in with your email and an app password");
    };
    let user_id = UserId::from(user.as_str());
    let principal = match files
        .authenticate_app_password(&user_id, &email, &password)
        .await
    {
        Ok(principal) => principal,
        Err(FilesError::BadAppPassword) => {
            return unauthorized("the email or app password is wrong, or it was revoked")
        }
        Err(e) => return crate::error::AppError::from(e).into_response(),
    };
    let space = match &space_id {
        None => files.personal_space(&principal).await,
        Some(id) => files.space(&principal, &SpaceId::from(id.as_str())).await,
    };
    let space = match space {
        Ok(space) => space,
        Err(e) => return crate::error::AppError::from(e).into_response(),
    };
    let memory = locks
        .0
        .entry(space.id.clone())
        .or_insert_with(MemLs::new)
        .clone();
    let lock_system = Box::new(locks::SharedLocks {
        memory,
        files: files.clone(),
        caller: Caller {
            principal: principal.clone(),
            space: space.clone(),
        },
    });
    let handler = DavHandler::builder()
        .filesystem(Box::new(FilesFs {
            files: files.clone(),
        }))
        .locksystem(lock_system)
        .strip_prefix(prefix)
        .build_handler();
    let principal_name = principal.user_id.to_string();
    let response = handler
        .handle_guarded(request, principal_name, Caller { principal, space })
        .await;
    response.map(Body::new)
}
