//! tus 1.0.0 at `/api/files/tus/` (<https://tus.io/protocols/resumable-upload>): the core
//! protocol and the creation, creation-with-upload, termination, checksum and expiration
//! extensions, as HTTP only — the rules are in [`super::resumable`]. Every request but
//! `OPTIONS` needs `Tus-Resumable: 1.0.0` and `Authorization: Bearer`; an upload belongs to
//! its creator (anyone else gets 404). Errors are the API's JSON errors with tus's statuses
//! (409 offset, 412 version, 415 content type, 460 checksum). The PATCH that brings the last
//! byte stores the file and answers `Taina-Node-Id` / `Taina-Version-Id` (a 204 has no body).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::resumable::{ChecksumAlgorithm, ChunkChecksum, NewTusUpload, TusState};
use super::{FilesError, FilesService};
use crate::contexts::auth::AuthService;
use crate::error::AppError;
use crate::http::AuthUser;
use crate::ids::{SpaceId, TusUploadId, VersionId};

/// The one protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions offered (`Tus-Extension`).
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// Where uploads are created; an upload's URL is this plus its id.
pub const TUS_PATH: &str = "/api/files/tus/";
/// The stored file of a complete upload, on the last PATCH and on HEAD.
pub const NODE_ID_HEADER: &str = "taina-node-id";
pub const VERSION_ID_HEADER: &str = "taina-version-id";

const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// The routes, under any router state that hands over the [`FilesService`] and the
/// [`AuthService`] (for [`AuthUser`]). Bodies stream to disk, so no body limit applies.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    FilesService: FromRef<S>,
    AuthService: FromRef<S>,
{
    Router::new()
        .route("/api/files/tus", post(create).options(discover))
        .route(TUS_PATH, post(create).options(discover))
        .route(
            "/api/files/tus/{id}",
            head(status)
                .patch(append)
                .delete(terminate)
                .options(discover),
        )
        .layer(DefaultBodyLimit::disable())
}

fn static_header(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

fn number(value: u64) -> HeaderValue {
    HeaderValue::from(value)
}

/// An HTTP date (`Upload-Expires`).
fn http_date(at: DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or(HeaderValue::from_static(""))
}

/// Every answer carries `Tus-Resumable`; a 412 also `Tus-Version`.
fn respond(result: Result<Response, AppError>) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            let version_refused = matches!(e, AppError::Files(FilesError::UnsupportedTusVersion));
            let mut response = e.into_response();
            if version_refused {
                response
                    .headers_mut()
                    .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            }
            response
        }
    };
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn check_version(headers: &HeaderMap) -> Result<(), FilesError> {
    match header_str(headers, "tus-resumable") {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(FilesError::UnsupportedTusVersion),
    }
}

fn number_header(headers: &HeaderMap, name: &'static str) -> Result<u64, FilesError> {
    let value =
        header_str(headers, name).ok_or_else(|| FilesError::BadHeader(name, "missing".into()))?;
    value
        .parse::<u64>()
        .map_err(|_| FilesError::BadHeader(name, "not a non-negative integer".into()))
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_STREAM))
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs (the value may be absent).
fn parse_metadata(raw: &str) -> Result<Vec<(String, String)>, FilesError> {
    let bad = |why: &str| FilesError::BadHeader("Upload-Metadata", why.to_string());
    let mut pairs = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((key, value)) => (key, value.trim()),
            None => (pair, ""),
        };
        let value = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| bad("a value is not base64"))?;
        let value = String::from_utf8(value).map_err(|_| bad("a value is not UTF-8"))?;
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
fn parse_checksum(headers: &HeaderMap) -> Result<Option<ChunkChecksum>, FilesError> {
    let Some(raw) = header_str(headers, "upload-checksum") else {
        return Ok(None);
    };
    let bad = |why: &str| FilesError::BadHeader("Upload-Checksum", why.to_string());
    let (name, digest) = raw
        .split_once(' ')
        .ok_or_else(|| bad("not `algorithm digest`"))?;
    let algorithm = ChecksumAlgorithm::parse(name).ok_or(FilesError::UnsupportedChecksum)?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| bad("the digest is not base64"))?;
    Ok(Some(ChunkChecksum { algorithm, digest }))
}

/// Where the file goes, from the metadata: `spaceId` (the caller's personal space when
/// absent), `path` or `filename` (+ `folder`), `baseVersion`, `device`.
async fn target(
    files: &FilesService,
    by: &crate::contexts::auth::Principal,
    metadata: &[(String, String)],
) -> Result<(SpaceId, String, Option<VersionId>, Option<String>), FilesError> {
    let get = |key: &str| {
        metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let space = match get("spaceId") {
        Some(id) => SpaceId::from(id),
        None => files.personal_space(by).await?.id,
    };
    let path = match (get("path"), get("filename")) {
        (Some(path), _) => path,
        (None, Some(name)) => match get("folder") {
            Some(folder) => format!("{}/{name}", folder.trim_end_matches('/')),
            None => format!("/{name}"),
        },
        (None, None) => {
            return Err(FilesError::BadHeader(
                "Upload-Metadata",
                "needs `path`, or `filename` (and `folder`)".into(),
            ))
        }
    };
    Ok((
        space,
        path,
        get("baseVersion").map(VersionId::from),
        get("device"),
    ))
}

/// The headers saying where an upload stands.
fn state_headers(state: &TusState) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            HeaderName::from_static("upload-offset"),
            number(state.offset),
        ),
        (
            HeaderName::from_static("upload-expires"),
            http_date(state.expires_at),
        ),
    ];
    if let (Some(node), Some(version)) = (&state.node_id, &state.version_id) {
        for (name, value) in [
            (NODE_ID_HEADER, node.as_str()),
            (VERSION_ID_HEADER, version.as_str()),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((HeaderName::from_static(name), value));
            }
        }
    }
    headers
}

fn with_headers(
    status: StatusCode,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
) -> Response {
    let mut response = status.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// # `OPTIONS /api/files/tus/[{id}]`
/// Discovery, without authentication: version, extensions, the largest upload
/// (`media.max_upload_bytes`) and the checksum algorithms.
async fn discover(State(files): State<FilesService>) -> Response {
    let max = files.media().max_upload_bytes();
    respond(Ok(with_headers(
        StatusCode::NO_CONTENT,
        [
            static_header("tus-version", TUS_VERSION),
            static_header("tus-extension", TUS_EXTENSIONS),
            static_header("tus-checksum-algorithm", ChecksumAlgorithm::NAMES),
            (HeaderName::from_static("tus-max-size"), number(max)),
        ],
    )))
}

/// # `POST /api/files/tus/`
/// Creation: `Upload-Length` and `Upload-Metadata` → 201 with `Location`. Refused up front
/// with the API's errors: 413 `payload_too_large`, 507 `quota_exceeded`, 409
/// `parent_missing`, 403, 404. With `Content-Type: application/offset+octet-stream` the
/// body is the first chunk (creation-with-upload).
async fn create(
    State(files): State<FilesService>,
    by: Result<AuthUser, AppError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            check_version(&headers)?;
            let AuthUser(by) = by?;
            if headers.contains_key("upload-defer-length") {
                return Err(FilesError::BadHeader(
                    "Upload-Defer-Length",
                    "not supported: send Upload-Length".into(),
                )
                .into());
            }
            let length = number_header(&headers, "upload-length")?;
            let raw_metadata = header_str(&headers, "upload-metadata").unwrap_or("");
            let metadata = parse_metadata(raw_metadata)?;
            let (space_id, path, base_version, device) = target(&files, &by, &metadata).await?;
            let mut state = files
                .create_tus(
                    &by,
                    NewTusUpload {
                        space_id,
                        path,
                        base_version,
                        device,
                        length,
                        metadata: raw_metadata.to_string(),
                    },
                )
                .await?;
            if is_offset_stream(&headers) && state.offset < length {
                let checksum = parse_checksum(&headers)?;
                state = match files
                    .append_tus(&by, &state.id, 0, checksum, body.into_data_stream())
                    .await
                {
                    Ok(state) => state,
                    // The upload exists; the client learns from the offset what arrived.
                    Err(FilesError::Invalid(_)) => files.tus_upload(&by, &state.id).await?,
                    Err(e) => return Err(e.into()),
                };
            }
            let location = HeaderValue::from_str(&format!("{TUS_PATH}{}", state.id))
                .map_err(|e| FilesError::Invalid(e.to_string()))?;
            let mut response_headers = state_headers(&state);
            response_headers.push((header::LOCATION, location));
            Ok(with_headers(StatusCode::CREATED, response_headers))
        }
        .await,
    )
}

/// # `HEAD /api/files/tus/{id}`
/// Where the upload stands: `Upload-Offset`, `Upload-Length`, `Upload-Metadata`,
/// `Upload-Expires`, and the stored file's `Taina-Node-Id` once complete.
async fn status(
    State(files): State<FilesService>,
    by: Result<AuthUser, AppError>,
    Path(id): Path<TusUploadId>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            check_version(&headers)?;
            let AuthUser(by) = by?;
            let state = files.tus_upload(&by, &id).await?;
            let mut response_headers = state_headers(&state);
            response_headers.push((
                HeaderName::from_static("upload-length"),
                number(state.length),
            ));
            response_headers.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
            if let Ok(metadata) = HeaderValue::from_str(&state.metadata) {
                if !state.metadata.is_empty() {
                    response_headers.push((HeaderName::from_static("upload-metadata"), metadata));
                }
            }
            Ok(with_headers(StatusCode::OK, response_headers))
        }
        .await,
    )
}

/// # `PATCH /api/files/tus/{id}`
/// A chunk at `Upload-Offset` (`Content-Type: application/offset+octet-stream`, optionally
/// `Upload-Checksum`) → 204 with the new `Upload-Offset`; the last chunk also stores the file
/// (`Taina-Node-Id`, `Taina-Version-Id`). 409 `offset_mismatch`, 415, 460
/// `chunk_checksum_mismatch`, 404 (not yours, expired, terminated), 410 when complete.
async fn append(
    State(files): State<FilesService>,
    by: Result<AuthUser, AppError>,
    Path(id): Path<TusUploadId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            check_version(&headers)?;
            let AuthUser(by) = by?;
            if !is_offset_stream(&headers) {
                return Err(FilesError::NotOffsetOctetStream.into());
            }
            let offset = number_header(&headers, "upload-offset")?;
            let checksum = parse_checksum(&headers)?;
            let state = files
                .append_tus(&by, &id, offset, checksum, body.into_data_stream())
                .await?;
            Ok(with_headers(StatusCode::NO_CONTENT, state_headers(&state)))
        }
        .await,
    )
}

/// # `DELETE /api/files/tus/{id}`
/// Termination: 204, the partial bytes removed (a complete upload's file stays).
async fn terminate(
    State(files): State<FilesService>,
    by: Result<AuthUser, AppError>,
    Path(id): Path<TusUploadId>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            check_version(&headers)?;
            let AuthUser(by) = by?;
            files.terminate_tus(&by, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_are_base64_values() {
        let pairs = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("filename".into(), "world_domination_plan.pdf".into()),
                ("is_confidential".into(), String::new()),
            ]
        );
        assert!(parse_metadata("filename !!!").is_err());
    }

    #[test]
    fn checksums_name_a_supported_algorithm() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "upload-checksum",
            HeaderValue::from_static("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
        );
        let checksum = parse_checksum(&headers).unwrap().unwrap();
        assert_eq!(checksum.algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(checksum.digest.len(), 20);
        headers.insert("upload-checksum", HeaderValue::from_static("md5 AAAA"));
        assert!(matches!(
            parse_checksum(&headers),
            Err(FilesError::UnsupportedChecksum)
        ));
    }
}
