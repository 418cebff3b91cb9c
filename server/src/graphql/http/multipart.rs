//! `POST /graphql` as a GraphQL multipart request (file uploads, the "GraphQL multipart
//! request" spec): `operations`, then `map`, then the file parts, in that order.
//!
//! Everything here is bounded before a byte is kept: the caller has already checked the
//! bearer token (an anonymous multipart request is refused before the body is read);
//! `operations` and `map` are held to `http.json_body_limit_bytes` (413 over it); file parts
//! stream to temporary files under the data directory, counted against the uploader's
//! community quota and `media.max_upload_bytes` as they arrive, so a refused upload stops
//! writing at once. Spooled files are unlinked as soon as they are opened: nothing stays on
//! disk when the request ends, however it ends.

use std::collections::HashMap;

use axum::body::Body;
use futures_util::TryStreamExt;
use taina_protocol::http::parse_upload_map;

use taina_protocol::ErrorCode;

use crate::contexts::auth::Principal;
use crate::contexts::media::{Budget, MediaError, MediaService};
use crate::error::AppError;

/// Most files one request may carry.
pub const MAX_FILES: usize = 16;

const OPERATIONS: &str = "operations";
const MAP: &str = "map";

fn invalid(message: impl Into<String>) -> AppError {
    AppError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        message: message.into(),
    }
}

fn multer_error(error: multer::Error) -> AppError {
    match error {
        multer::Error::FieldSizeExceeded { limit, .. } => AppError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        other => invalid(other.to_string()),
    }
}

/// Reads a multipart GraphQL request for `principal`; `operations` and `map` may each take up
/// to `json_limit` bytes.
pub async fn receive(
    media: &MediaService,
    json_limit: usize,
    principal: &Principal,
    content_type: &str,
    body: Body,
) -> Result<async_graphql::Request, AppError> {
    let boundary = multer::parse_boundary(content_type).map_err(multer_error)?;
    let json_limit = json_limit as u64;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .for_field(OPERATIONS, json_limit)
            .for_field(MAP, json_limit),
    );
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);

    let mut request: Option<async_graphql::Request> = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut budget: Option<Budget> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multer_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            OPERATIONS if request.is_none() => {
                let bytes = field.bytes().await.map_err(multer_error)?;
                let parsed: async_graphql::Request =
                    serde_json::from_slice(&bytes).map_err(|e| {
                        invalid(format!("`operations` is not one GraphQL request: {e}"))
                    })?;
                request = Some(parsed);
            }
            MAP if request.is_some() && map.is_none() => {
                let bytes = field.bytes().await.map_err(multer_error)?;
                map = Some(parse_map(&bytes)?);
            }
            _ => {
                let (Some(request), Some(map)) = (request.as_mut(), map.as_mut()) else {
                    return Err(invalid(
                        "send `operations`, then `map`, then the files (GraphQL multipart request spec)",
                    ));
                };
                let Some(paths) = map.remove(&name) else {
                    return Err(invalid(format!(
                        "part `{name}` is not in `map` (or came twice)"
                    )));
                };
                // Several files share one budget: each counts what the earlier ones took.
                let current = match budget {
                    Some(budget) => budget,
                    None => media.ingest_budget(principal).await?,
                };
                let filename = field.file_name().unwrap_or("upload").to_string();
                let content_type = field.content_type().map(|m| m.to_string());
                let mut ingest = media.begin_ingest_within(current).await?;
                while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                    ingest.write(&chunk).await?;
                }
                let ingested = ingest.finish().await?;
                let size = ingested.size;
                let content = std::fs::File::open(&ingested.path).map_err(MediaError::Io)?;
                // Unlinked while open: the bytes live as long as the handle, nothing longer.
                ingested.discard().await;
                for path in paths {
                    let content = content.try_clone().map_err(MediaError::Io)?;
                    request.set_upload(
                        &path,
                        async_graphql::UploadValue {
                            filename: filename.clone(),
                            content_type: content_type.clone(),
                            content,
                        },
                    );
                }
                budget = Some(current.after(size));
            }
        }
    }
    request.ok_or_else(|| invalid("missing the `operations` part"))
}

/// The `map` part: part name → the variable paths that file fills, e.g.
/// `{"0": ["variables.file"]}` (parsed by `taina_protocol::http::parse_upload_map`, which the
/// fuzzer exercises; this adds that no file part may be named like the two JSON parts).
fn parse_map(bytes: &[u8]) -> Result<HashMap<String, Vec<String>>, AppError> {
    let entries = parse_upload_map(bytes, MAX_FILES).map_err(|e| invalid(e.to_string()))?;
    if let Some((name, _)) = entries
        .iter()
        .find(|(name, _)| name == OPERATIONS || name == MAP)
    {
        return Err(invalid(format!("`{name}` cannot name a file part")));
    }
    Ok(entries.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_names_variables_only() {
        let map = parse_map(br#"{"0": ["variables.file"], "1": ["variables.files.0"]}"#).unwrap();
        assert_eq!(map["0"], ["variables.file"]);
        assert!(parse_map(br#"{"0": ["query"]}"#).is_err());
        assert!(parse_map(br#"{"0": []}"#).is_err());
        assert!(parse_map(br#"{"operations": ["variables.x"]}"#).is_err());
        assert!(parse_map(b"[1, 2]").is_err());
        let many: HashMap<String, Vec<String>> = (0..=MAX_FILES)
            .map(|i| (i.to_string(), vec!["variables.f".to_string()]))
            .collect();
        assert!(parse_map(&serde_json::to_vec(&many).unwrap()).is_err());
    }
}
