//! Streaming's HTTP routes, for players: the item's file (direct play) and its remux with
//! Range/ETag, the HLS master and variant playlists and their segments, subtitles as WebVTT,
//! and artwork. Each takes a bearer token or the signed `?t=` of a `playbackInfo` URL (a
//! player cannot send headers); playlists pass the `t` on to the URLs they list.

use std::path::Path;

use axum::extract::{FromRef, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::service::Viewer;
use super::urls::Grant;
use super::{StreamingError, StreamingService};
use crate::contexts::auth::{AuthError, AuthService};
use crate::contexts::media::read_file;
use crate::error::AppError;
use crate::http::{Download, MaybeAuthUser};
use crate::ids::ItemId;

type Result<T, E = AppError> = std::result::Result<T, E>;

/// Seconds a client waits after `transcode_busy`.
const BUSY_RETRY_SECONDS: &str = "5";

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    StreamingService: FromRef<S>,
    AuthService: FromRef<S>,
{
    Router::new()
        .route("/api/streaming/items/{id}/{file}", get(item_file))
        .route("/api/streaming/items/{id}/hls/{file}", get(hls_master))
        .route(
            "/api/streaming/items/{id}/hls/{variant}/{file}",
            get(hls_variant),
        )
        .route("/api/streaming/items/{id}/subtitles/{file}", get(subtitle))
}

/// The query every route takes: the signed token, and HLS's choices.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Access {
    t: Option<String>,
    max_height: Option<u32>,
    audio: Option<u32>,
    burn: Option<u32>,
}

impl Access {
    /// What the URLs a playlist lists carry on (`maxHeight` only matters to the master).
    fn passed_on(&self) -> String {
        let mut query = Vec::new();
        // Echoed into playlists: only the characters a token has (no line breaks, no `&`).
        let token_chars = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if let Some(t) = self.t.as_deref().filter(|t| token_chars(t)) {
            query.push(format!("t={t}"));
        }
        if let Some(audio) = self.audio {
            query.push(format!("audio={audio}"));
        }
        if let Some(burn) = self.burn {
            query.push(format!("burn={burn}"));
        }
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    }
}

/// The bearer's principal, else the grant of a signed `t` for this item.
enum Caller {
    Principal(crate::contexts::auth::Principal),
    Url(Grant),
}

impl Caller {
    fn viewer(&self) -> Viewer<'_> {
        match self {
            Caller::Principal(p) => Viewer::Principal(p),
            Caller::Url(grant) => Viewer::Url(grant),
        }
    }
}

fn caller(
    service: &StreamingService,
    principal: Option<crate::contexts::auth::Principal>,
    access: &Access,
    item: &ItemId,
) -> Result<Caller> {
    match (principal, access.t.as_deref()) {
        (Some(principal), _) => Ok(Caller::Principal(principal)),
        (None, Some(token)) => Ok(Caller::Url(service.verify_url(token, item)?)),
        (None, None) => Err(AuthError::MissingToken.into()),
    }
}

/// The error's response, with `Retry-After` when the transcode slots are full.
fn failed(error: StreamingError) -> Response {
    let busy = matches!(error, StreamingError::TranscodeBusy);
    let mut response = AppError::from(error).into_response();
    if busy {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(BUSY_RETRY_SECONDS),
        );
    }
    response
}

/// A file on disk with Range, ETag and its type.
async fn serve_file(
    headers: &HeaderMap,
    path: &Path,
    content_type: &'static str,
    etag: String,
    cache_control: &'static str,
) -> Result<Response> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|_| StreamingError::FileMissing)?
        .len();
    let path = path.to_path_buf();
    crate::http::download(
        headers,
        Download {
            etag,
            size,
            content_type: HeaderValue::from_static(content_type),
            cache_control,
            file_name: None,
        },
        |range| async move { read_file(&path, range).await },
    )
    .await
}

fn text(body: String, content_type: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        body,
    )
        .into_response()
}

/// # `GET /api/streaming/items/{id}/{file}`
/// `file` (the item's file as it is: direct play), `remux.{mp4,mkv,webm,ts}` (the streams
/// copied into that container, made on the first request), `poster.jpg`, `strip.jpg`.
async fn item_file(
    State(service): State<StreamingService>,
    MaybeAuthUser(principal): MaybeAuthUser,
    UrlPath((id, file)): UrlPath<(ItemId, String)>,
    Query(access): Query<Access>,
    headers: HeaderMap,
) -> Result<Response> {
    let caller = caller(&service, principal, &access, &id)?;
    let viewer = caller.viewer();
    if let Some(container) = file.strip_prefix("remux.") {
        let remux = match service.open_remux(&viewer, &id, container).await {
            Ok(remux) => remux,
            Err(e) => return Ok(failed(e)),
        };
        return serve_file(
            &headers,
            &remux.path,
            remux.mime,
            remux.etag,
            "private, max-age=3600",
        )
        .await;
    }
    match file.as_str() {
        "file" => {
            let open = service.open_file(&viewer, &id).await?;
            serve_file(
                &headers,
                &open.path,
                open.mime,
                open.etag,
                "private, max-age=3600",
            )
            .await
        }
        super::artwork::POSTER | super::artwork::STRIP => {
            let path = service.artwork(&viewer, &id, &file).await?;
            let etag = format!("\"{id}-{file}\"");
            serve_file(
                &headers,
                &path,
                "image/jpeg",
                etag,
                "private, max-age=86400",
            )
            .await
        }
        _ => Err(StreamingError::NotFound.into()),
    }
}

/// # `GET /api/streaming/items/{id}/hls/master.m3u8[?maxHeight=…&audio=…&burn=…]`
async fn hls_master(
    State(service): State<StreamingService>,
    MaybeAuthUser(principal): MaybeAuthUser,
    UrlPath((id, file)): UrlPath<(ItemId, String)>,
    Query(access): Query<Access>,
) -> Result<Response> {
    if file != "master.m3u8" {
        return Err(StreamingError::NotFound.into());
    }
    let caller = caller(&service, principal, &access, &id)?;
    let playlist = service
        .hls_master(
            &caller.viewer(),
            &id,
            access.max_height,
            &access.passed_on(),
        )
        .await?;
    Ok(text(playlist, "application/vnd.apple.mpegurl"))
}

/// # `GET /api/streaming/items/{id}/hls/{variant}/index.m3u8` and `…/{variant}/{n}.ts`
/// The variant's playlist, or its segment `n` (transcoded on demand: `transcode_busy` 503
/// with `Retry-After` while every slot is taken).
async fn hls_variant(
    State(service): State<StreamingService>,
    MaybeAuthUser(principal): MaybeAuthUser,
    UrlPath((id, variant, file)): UrlPath<(ItemId, String, String)>,
    Query(access): Query<Access>,
    headers: HeaderMap,
) -> Result<Response> {
    let caller = caller(&service, principal, &access, &id)?;
    let viewer = caller.viewer();
    if file == "index.m3u8" {
        let playlist = service
            .hls_variant(&viewer, &id, &variant, &access.passed_on())
            .await?;
        return Ok(text(playlist, "application/vnd.apple.mpegurl"));
    }
    let n: u32 = file
        .strip_suffix(".ts")
        .and_then(|n| n.parse().ok())
        .ok_or(StreamingError::NotFound)?;
    let path = match service
        .hls_segment(&viewer, &id, &variant, n, access.audio, access.burn)
        .await
    {
        Ok(path) => path,
        Err(e) => return Ok(failed(e)),
    };
    let etag = format!("\"{id}-{variant}-{n}\"");
    serve_file(&headers, &path, "video/mp2t", etag, "private, max-age=3600").await
}

/// # `GET /api/streaming/items/{id}/subtitles/{index}.vtt`
/// A text subtitle track (embedded, or an `.srt`/`.vtt` beside the file) as WebVTT; an image
/// track is 422 `invalid_input` (burn-in only).
async fn subtitle(
    State(service): State<StreamingService>,
    MaybeAuthUser(principal): MaybeAuthUser,
    UrlPath((id, file)): UrlPath<(ItemId, String)>,
    Query(access): Query<Access>,
    headers: HeaderMap,
) -> Result<Response> {
    let index: u32 = file
        .strip_suffix(".vtt")
        .and_then(|n| n.parse().ok())
        .ok_or(StreamingError::NotFound)?;
    let caller = caller(&service, principal, &access, &id)?;
    let path = match service.subtitle_vtt(&caller.viewer(), &id, index).await {
        Ok(path) => path,
        Err(e) => return Ok(failed(e)),
    };
    let etag = format!("\"{id}-subtitle-{index}\"");
    serve_file(
        &headers,
        &path,
        "text/vtt; charset=utf-8",
        etag,
        "private, max-age=3600",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_pass_on_only_what_a_token_can_be() {
        let access = |t: &str| Access {
            t: Some(t.into()),
            audio: Some(2),
            ..Access::default()
        };
        assert_eq!(
            access("v1.9.a-b_c.sig").passed_on(),
            "?t=v1.9.a-b_c.sig&audio=2"
        );
        assert_eq!(access("x\n#EXT-X-ENDLIST").passed_on(), "?audio=2");
        assert_eq!(access("a&burn=1").passed_on(), "?audio=2");
        assert_eq!(Access::default().passed_on(), "");
    }
}
