//! Public links over HTTP, without an account: `/api/files/public/{token}`. The password, when
//! the link has one, travels in the `Taina-Share-Password` header on every request (a wrong one
//! is 401 `invalid_credentials`, a missing one 401 `share_password_required`; guesses are
//! rate-limited per address and per link: 429 `rate_limited`). An expired link is 410
//! `share_expired`; an unknown one 404. A file drop (`upload_only`) shows its metadata and
//! takes uploads, and answers listings and downloads with 403 `forbidden`; a read-only link
//! answers `PUT` with 403 `forbidden`.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{FilesError, FilesService, Node, OpenLink, SharePermission, MAX_LIST_PAGE};
use crate::error::AppError;
use crate::http::{Client, Download};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The header carrying a link's password.
pub const PASSWORD_HEADER: &str = "taina-share-password";

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    FilesService: FromRef<S>,
{
    Router::new()
        .route("/api/files/public/{token}", get(describe_link))
        .route("/api/files/public/{token}/content", get(download_link))
        .route(
            "/api/files/public/{token}/content/{*path}",
            get(download_in_link)
                .put(upload_to_link)
                .layer(DefaultBodyLimit::disable()),
        )
}

async fn open(
    files: &FilesService,
    token: &str,
    headers: &HeaderMap,
    client: &Client,
) -> Result<OpenLink> {
    let password = headers.get(PASSWORD_HEADER).and_then(|v| v.to_str().ok());
    Ok(files
        .open_link(token, password, client.0.ip.as_deref())
        .await?)
}

/// What a link's visitor sees of a node: its path below the link's node, no ids.
fn public_node(node: &Node, link_node: &Node) -> Value {
    let relative = if node.id == link_node.id {
        "/".to_string()
    } else if link_node.path == "/" {
        node.path.clone()
    } else {
        node.path
            .strip_prefix(&link_node.path)
            .unwrap_or("/")
            .to_string()
    };
    json!({
        "name": node.name,
        "kind": node.kind.as_str(),
        "path": relative,
        "size": node.size,
        "etag": node.etag,
        "modifiedAt": node.modified_at,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    /// A folder below the link's folder (`/` or none: the link's folder).
    path: Option<String>,
    after: Option<String>,
    first: Option<u32>,
}

/// # `GET /api/files/public/{token}[?path=/sub&after=KEY&first=N]`
/// The link's permission and expiry, the node (or the folder at `path` below it) and, for a
/// folder on a link that may read, its children (`sortKey` of the last one continues).
async fn describe_link(
    State(files): State<FilesService>,
    client: Client,
    Path(token): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let link = open(&files, &token, &headers, &client).await?;
    let upload_only = link.share.permission == SharePermission::UploadOnly;
    let node = if upload_only {
        link.node.clone()
    } else {
        files.link_node(&link, query.path.as_deref()).await?
    };
    let children = if node.is_folder() && !upload_only {
        let first = query.first.unwrap_or(200).clamp(1, MAX_LIST_PAGE);
        let listed = files
            .link_list(&link, &node, query.after.as_deref(), first)
            .await?;
        Some(
            listed
                .iter()
                .map(|child| {
                    let mut value = public_node(child, &link.node);
                    value["sortKey"] = json!(super::sort_key(child));
                    value
                })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    Ok(Json(json!({
        "permission": link.share.permission.as_str(),
        "expiresAt": link.share.expires_at,
        "node": public_node(&node, &link.node),
        "children": children,
    })))
}

/// # `GET /api/files/public/{token}/content` — a file link's bytes (Range, If-None-Match).
async fn download_link(
    State(files): State<FilesService>,
    client: Client,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let link = open(&files, &token, &headers, &client).await?;
    let node = link.node.clone();
    serve(&files, &link, &node, &headers).await
}

/// # `GET /api/files/public/{token}/content/{path}` — a file below a folder link.
async fn download_in_link(
    State(files): State<FilesService>,
    client: Client,
    Path((token, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let link = open(&files, &token, &headers, &client).await?;
    if link.share.permission == SharePermission::UploadOnly {
        return Err(FilesError::LinkForbids("listing or downloading (it is a file drop)").into());
    }
    let node = files.link_node(&link, Some(&path)).await?;
    serve(&files, &link, &node, &headers).await
}

async fn serve(
    files: &FilesService,
    link: &OpenLink,
    node: &Node,
    headers: &HeaderMap,
) -> Result<Response> {
    let version = files
        .link_version(link, node)
        .await?
        .ok_or(FilesError::NotFound)?;
    let download = Download {
        etag: format!("\"{}\"", version.content_hash),
        size: version.size,
        content_type: HeaderValue::from_static("application/octet-stream"),
        cache_control: "private, no-cache",
        file_name: Some(node.name.clone()),
    };
    crate::http::download(headers, download, |range| {
        files.link_read(link, node, &version.id, range)
    })
    .await
}

/// # `PUT /api/files/public/{token}/content/{path}`
/// Uploads into a `write` or `upload_only` folder link (the parent folder must exist), counted
/// against the link creator's community quota (413/507 as for any upload). A file drop never
/// replaces a file: a name in use keeps the upload beside it under a conflict name. 201 with
/// the new file, 200 with a new version of an existing one (write links).
async fn upload_to_link(
    State(files): State<FilesService>,
    client: Client,
    Path((token, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let link = open(&files, &token, &headers, &client).await?;
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        files.link_check_room(&link, length).await?;
    }
    let mut ingest = files.link_begin_upload(&link).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::from(FilesError::Invalid(format!("the upload was cut: {e}"))))?;
        ingest.write(&chunk).await.map_err(FilesError::from)?;
    }
    let ingested = ingest.finish().await.map_err(FilesError::from)?;
    let written = files.link_store_upload(&link, &path, ingested).await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // A file drop's visitor learns only the name the file got.
    let node = if link.share.permission == SharePermission::UploadOnly {
        json!({ "name": written.node.name, "size": written.node.size })
    } else {
        public_node(&written.node, &link.node)
    };
    Ok((
        status,
        Json(json!({ "node": node, "conflict": written.conflict })),
    ))
}
