//! Serving stored bytes over HTTP, for every context that has some (media's renditions,
//! files' versions): `If-None-Match` (304), `Range: bytes=…` (206, or 416 with
//! `Content-Range: bytes */size`), `ETag`, `Accept-Ranges`, `Content-Length`, `nosniff`.

use std::future::Future;
use std::ops::Range;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use taina_protocol::http::parse_range;

use crate::contexts::media::{BlobRead, MediaError};
use crate::error::AppError;

/// What is about to be served.
pub struct Download {
    /// The quoted entity tag.
    pub etag: String,
    pub size: u64,
    pub content_type: HeaderValue,
    pub cache_control: &'static str,
    /// Sent as `Content-Disposition: attachment` when set.
    pub file_name: Option<String>,
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
}

/// Answers a GET for `download`, opening the bytes (all, or the requested range) with `read`.
pub async fn respond<F, Fut, E>(
    headers: &HeaderMap,
    download: Download,
    read: F,
) -> Result<Response, AppError>
where
    F: FnOnce(Option<Range<u64>>) -> Fut,
    Fut: Future<Output = Result<BlobRead, E>>,
    AppError: From<E>,
{
    let etag = HeaderValue::from_str(&download.etag).map_err(|_| {
        <AppError as From<MediaError>>::from(MediaError::Invalid("an unprintable ETag".into()))
    })?;
    if not_modified(headers, &download.etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let size = download.size;
    let requested = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match requested.map(|r| parse_range(r, size)) {
        None => None,
        Some(Some(range)) => Some(range),
        Some(None) => {
            let mut response =
                <AppError as From<MediaError>>::from(MediaError::RangeNotSatisfiable)
                    .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("a number"),
            );
            return Ok(response);
        }
    };
    // An empty file has no bytes to open a range of.
    let read = if size == 0 {
        BlobRead {
            size: 0,
            range: 0..0,
            stream: Box::pin(futures_util::stream::empty()),
        }
    } else {
        read(range.clone()).await?
    };
    let mut response = Response::new(Body::from_stream(read.stream));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, download.content_type);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, etag);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(download.cache_control),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(read.range.end - read.range.start),
    );
    if let Some(value) = download.file_name.as_deref().and_then(attachment) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                read.range.start,
                read.range.end.saturating_sub(1),
                read.size
            ))
            .expect("numbers"),
        );
    }
    Ok(response)
}

/// `Content-Disposition: attachment` with `name` made safe for a quoted ASCII header value.
pub fn attachment(name: &str) -> Option<HeaderValue> {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")).ok()
}
