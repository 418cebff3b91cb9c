//! `item:{item_id}`: a streaming library item's bytes to a TV that prefers the socket to HTTP,
//! with the same credit-based flow as `stream:` (its pushes `credit`, `seek`, `pause`,
//! `resume` are `stream:`'s). The join `{rendition?, offset?, credit?}` picks what
//! `playbackInfo` chose: `original` (the file as it is, the default) or `remux` (with
//! `container`, default `mp4`: made on the first join and cached). It answers
//! `{size, offset, mime_type, chunk_bytes, rendition}`; a refused rendition is the join's
//! error (`invalid rendition`, `not_found`, `transcode_failed`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::stream::Pending;
use super::{decode, Authorized, JoinRefusal, Opened, Transfer};
use crate::contexts::auth::Principal;
use crate::contexts::streaming::{Item, StreamingError, Viewer};
use crate::ids::ItemId;
use crate::socket::stream::{Source, StreamRequest};
use crate::state::AppState;

/// A library item the joiner may play.
pub struct Access(Box<Item>);

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    item_id: &ItemId,
) -> Result<Authorized, JoinRefusal> {
    match state.streaming.item(principal, item_id).await {
        Ok(item) if item.kind.is_playable() => {
            Ok(Authorized::Transfer(Transfer::Item(Access(Box::new(item)))))
        }
        Ok(_) | Err(StreamingError::NotFound) => Err(JoinRefusal::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "join authorization failed");
            Err(JoinRefusal::Internal)
        }
    }
}

#[derive(Deserialize, Default)]
struct Join {
    #[serde(default, deserialize_with = "super::lenient")]
    rendition: Option<String>,
    #[serde(default, deserialize_with = "super::lenient")]
    container: Option<String>,
    #[serde(default, deserialize_with = "super::lenient")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient")]
    credit: Option<u64>,
}

pub async fn open(
    Access(item): Access,
    state: &AppState,
    principal: &Principal,
    payload: &Value,
) -> Result<Opened, &'static str> {
    let join: Join = decode(payload).unwrap_or_default();
    let viewer = Viewer::Principal(principal);
    let rendition = join.rendition.as_deref().unwrap_or("original");
    let opened = match rendition {
        "original" => state.streaming.open_file(&viewer, &item.id).await,
        "remux" => {
            let container = join.container.as_deref().unwrap_or("mp4");
            state
                .streaming
                .open_remux(&viewer, &item.id, container)
                .await
        }
        _ => return Err("invalid rendition"),
    };
    let file = opened.map_err(|e| match e {
        StreamingError::TranscodeFailed(_) | StreamingError::ToolsMissing => "transcode_failed",
        _ => "not_found",
    })?;
    let offset = join.offset.unwrap_or(0).min(file.size);
    Ok(Opened {
        reply: json!({
            "size": file.size,
            "offset": offset,
            "mime_type": file.mime,
            "chunk_bytes": state.media.stream_chunk_bytes(),
            "rendition": rendition,
        }),
        stream: Some(Pending(StreamRequest {
            source: Source::File(file.path),
            size: file.size,
            offset,
            credit: join.credit.unwrap_or(0),
        })),
    })
}
