//! Files' HTTP routes: download a file (or one of its versions) with Range/ETag, and upload
//! by `PUT`, streamed to disk and checked against the quota while it streams.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{FilesError, FilesService, Node};
use crate::config::Config;
use crate::contexts::auth::{AuthService, Principal};
use crate::error::AppError;
use crate::http::{AuthUser, Download};
use crate::ids::{NodeId, SpaceId, VersionId};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The routes, under any router state that hands over the [`FilesService`] and the
/// [`AuthService`] (for [`AuthUser`]).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    FilesService: FromRef<S>,
    AuthService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        .route("/api/files/nodes/{id}/content", get(download_node))
        .route("/api/files/nodes/{id}/zip", get(download_zip))
        // The upload streams to disk and enforces the size limit and the quota itself.
        .route(
            "/api/files/spaces/{space}/content/{*path}",
            get(download_path)
                .put(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .merge(super::public::routes())
        .merge(super::tus::routes())
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<String>,
}

/// # `GET /api/files/nodes/{id}/content[?version=…]`
/// A file's current bytes or one of its versions; `Range` (206/416) and `If-None-Match` (304).
/// The ETag is the content's SHA-256. 404 for a folder, a missing node or one the caller may
/// not read.
async fn download_node(
    State(files): State<FilesService>,
    AuthUser(by): AuthUser,
    Path(id): Path<NodeId>,
    Query(query): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    let version = query.version.map(VersionId::from);
    serve(&files, &by, &id, version.as_ref(), &headers).await
}

/// # `GET /api/files/nodes/{id}/zip`
/// A folder and everything below it the caller may read, as a zip stream (entries stored, not
/// compressed; no `Content-Length`). 404 for a missing node, 422 `invalid_input` for a file.
async fn download_zip(
    State(files): State<FilesService>,
    AuthUser(by): AuthUser,
    Path(id): Path<NodeId>,
) -> Result<Response> {
    let (name, stream) = files.zip_folder(&by, &id).await?;
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Some(value) = crate::http::attachment(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// # `GET /api/files/spaces/{space}/content/{path}` — the same, by path.
async fn download_path(
    State(files): State<FilesService>,
    AuthUser(by): AuthUser,
    Path((space, path)): Path<(SpaceId, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let node = files.node_by_path(&by, &space, &path).await?;
    serve(&files, &by, &node.id, None, &headers).await
}

async fn serve(
    files: &FilesService,
    by: &Principal,
    id: &NodeId,
    version: Option<&VersionId>,
    headers: &HeaderMap,
) -> Result<Response> {
    let (node, version) = files.version_of(by, id, version).await?;
    let Some(version) = version else {
        return Err(FilesError::NotFound.into());
    };
    let download = Download {
        etag: format!("\"{}\"", version.content_hash),
        size: version.size,
        content_type: HeaderValue::from_static("application/octet-stream"),
        cache_control: "private, no-cache",
        file_name: Some(node.name.clone()),
    };
    crate::http::download(headers, download, |range| {
        files.read(by, &node.id, Some(&version.id), range)
    })
    .await
}

#[derive(Deserialize)]
struct UploadQuery {
    /// The version the client's copy was based on: when another is current, the upload is
    /// kept under a conflict name.
    base: Option<String>,
    device: Option<String>,
}

/// # `PUT /api/files/spaces/{space}/content/{path}[?base=VERSION&device=NAME]`
/// The body is the file's bytes, streamed to disk: refused with 413 `payload_too_large` or
/// 507 `quota_exceeded` (before reading when `Content-Length` says so, else the moment the
/// running total passes), 409 `parent_missing` / `name_taken`. 201 with the new file, 200 with
/// a new version; `conflict: true` when kept beside a newer version.
async fn upload(
    State(files): State<FilesService>,
    AuthUser(by): AuthUser,
    Path((space, path)): Path<(SpaceId, String)>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        files.check_room(&by, &space, length).await?;
    }
    let mut ingest = files.begin_upload(&by, &space).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::from(FilesError::Invalid(format!("the upload was cut: {e}"))))?;
        // A refused chunk drops the ingest, which removes the partial file.
        ingest.write(&chunk).await.map_err(FilesError::from)?;
    }
    let ingested = ingest.finish().await.map_err(FilesError::from)?;
    let base = query.base.map(VersionId::from);
    let device = query
        .device
        .map(|d| d.chars().take(100).collect::<String>());
    let written = files
        .store_upload(
            &by,
            &space,
            &path,
            ingested,
            base.as_ref(),
            device.as_deref(),
        )
        .await?;
    let status = if written.created && !written.conflict {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "node": node_json(&written.node),
            "version": written.version,
            "created": written.created,
            "conflict": written.conflict,
        })),
    ))
}

fn node_json(node: &Node) -> Value {
    serde_json::to_value(node).unwrap_or(Value::Null)
}
