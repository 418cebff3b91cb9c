//! Media's HTTP routes: multipart upload, renditions with Range/ETag, backup sync, public albums.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use taina_protocol::ErrorCode;

use super::{Album, MediaError, MediaService, Photo, Rendition};
use crate::config::Config;
use crate::contexts::auth::AuthService;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser, Download, MaybeAuthUser};
use crate::ids::{AlbumId, PhotoId};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The routes, under any router state that hands over the [`MediaService`], the
/// [`AuthService`] (for [`AuthUser`]) and the configuration (for [`ApiJson`]).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    MediaService: FromRef<S>,
    AuthService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        // The upload streams to disk and enforces `media.max_upload_bytes` itself.
        .route(
            "/api/media",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/media/backup/check", post(backup_check))
        .route("/api/media/backup/completed", post(backup_completed))
        .route("/api/media/{id}/{rendition}", get(rendition))
        .route("/albums/{id}", get(public_album_by_id))
        .route("/albums/{community}/{slug}", get(public_album))
}

/// # `POST /api/media` (multipart, one part named `file`)
/// Streams the file to disk (memory use does not depend on its size). 201 with the new photo,
/// or 200 with the existing one when the community already has the same bytes.
async fn upload(
    State(media): State<MediaService>,
    AuthUser(principal): AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Value>)> {
    let mut multipart = multipart.map_err(|e| AppError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        message: e.body_text(),
    })?;
    // Refuse before reading when the announced size cannot fit.
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        media
            .check_room(&principal, length.saturating_sub(1024))
            .await?;
    }
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        message: e.body_text(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let original = field.file_name().unwrap_or("upload").to_string();
        let mut ingest = media.begin_ingest(&principal).await?;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = ingest.write(&chunk).await {
                        ingest.abort().await;
                        return Err(e.into());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    ingest.abort().await;
                    return Err(bad(e));
                }
            }
        }
        let ingested = ingest.finish().await?;
        let (photo, created) = media
            .store_ingested(&principal, ingested, &original)
            .await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok((
            status,
            Json(json!({ "photo": photo, "duplicate": !created })),
        ));
    }
    Err(AppError::BadRequest {
        code: ErrorCode::MissingFile,
        message: "send the file as a multipart part named `file`".into(),
    })
}

/// # `GET /api/media/{id}/original|large|thumb`
/// Owner and community members; anyone for a photo in a public album; 404 for everyone else.
/// Supports `Range: bytes=…` (206/416) and `If-None-Match` (304).
async fn rendition(
    State(media): State<MediaService>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    Path((id, name)): Path<(PhotoId, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let rendition = Rendition::parse(&name).ok_or(MediaError::NotFound)?;
    let photo = media.photo_for(viewer.as_ref(), &id).await?;
    let etag = format!("\"{}-{}\"", photo.content_hash, name);
    let size = media.size(&photo, rendition).await?;
    let download = Download {
        etag,
        size,
        content_type: content_type(&photo, rendition),
        // Content-addressed: the bytes behind this URL never change.
        cache_control: "private, max-age=31536000, immutable",
        file_name: None,
    };
    crate::http::download(&headers, download, |range| {
        media.read(&photo, rendition, range)
    })
    .await
}

fn content_type(photo: &Photo, rendition: Rendition) -> HeaderValue {
    match rendition {
        Rendition::Original => HeaderValue::from_str(&photo.mime_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        _ => HeaderValue::from_static("image/jpeg"),
    }
}

#[derive(Deserialize)]
struct BackupCheck {
    hashes: Vec<String>,
}

/// # `POST /api/media/backup/check` `{hashes: [hex sha256…]}` → `{missing: […]}`
async fn backup_check(
    State(media): State<MediaService>,
    AuthUser(principal): AuthUser,
    ApiJson(body): ApiJson<BackupCheck>,
) -> Result<Json<Value>> {
    let missing = media.backup_check(&principal, &body.hashes).await?;
    Ok(Json(json!({ "missing": missing })))
}

#[derive(Deserialize)]
struct BackupCompleted {
    device: Option<String>,
    #[serde(default)]
    uploaded: u64,
    #[serde(default)]
    skipped: u64,
}

/// # `POST /api/media/backup/completed` `{device?, uploaded, skipped}` → 204, event `media.backup.completed`
async fn backup_completed(
    State(media): State<MediaService>,
    AuthUser(principal): AuthUser,
    ApiJson(body): ApiJson<BackupCompleted>,
) -> StatusCode {
    media.backup_completed(
        &principal,
        body.device.map(|d| d.chars().take(100).collect()),
        body.uploaded,
        body.skipped,
    );
    StatusCode::NO_CONTENT
}

/// # `GET /albums/{community}/{slug}` — a public album by its community's slug and its own,
/// without signing in
async fn public_album(
    State(media): State<MediaService>,
    Path((community, slug)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let (album, photos) = media.public_album(&community, &slug).await?;
    Ok(Json(public_album_json(&album, &photos)))
}

/// # `GET /albums/{id}` — a public album by its id, without signing in
async fn public_album_by_id(
    State(media): State<MediaService>,
    Path(id): Path<AlbumId>,
) -> Result<Json<Value>> {
    let (album, photos) = media.public_album_by_id(&id).await?;
    Ok(Json(public_album_json(&album, &photos)))
}

fn public_album_json(album: &Album, photos: &[Photo]) -> Value {
    let photos: Vec<Value> = photos
        .iter()
        .map(|p| {
            json!({
                "id": p.id, "filename": p.filename, "mime_type": p.mime_type, "width": p.width,
                "height": p.height, "taken_at": p.taken_at,
                "urls": {
                    "original": format!("/api/media/{}/original", p.id),
                    "large": format!("/api/media/{}/large", p.id),
                    "thumb": format!("/api/media/{}/thumb", p.id),
                }
            })
        })
        .collect();
    json!({
        "album": { "id": album.id, "name": album.name, "slug": album.slug,
                   "description": album.description, "cover_file_id": album.cover_file_id,
                   "photo_count": album.photo_count },
        "photos": photos,
    })
}
