//! `upload:{upload_id}`: a resumable upload, joined by its owner only (opened with
//! `create_upload` on `user:`). Not a hub subscription: the join answers where the upload
//! stands `{offset, size, status, file_id}`, and the client pushes binary `chunk`s (MessagePack
//! `{offset, data}`), each answered `{next_offset, done, photo?, file?}` (`file` for an upload
//! opened into a files space: `{node, version, created, conflict}`) or `offset_mismatch`
//! `{expected}` — after a reconnect it rejoins and carries on from `offset`.

use serde_json::json;
use taina_protocol::chunk::Chunk;
use taina_protocol::phoenix::Payload;

use super::{Authorized, Channel, JoinRefusal, Opened, Reply, Transfer};
use crate::contexts::auth::Principal;
use crate::contexts::media::{Finished, MediaError, Upload};
use crate::ids::UploadId;
use crate::state::AppState;

/// A chunk of the file, client to server.
const CHUNK: &str = "chunk";

/// An upload its owner may write to.
pub struct Access(Upload);

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    upload_id: &UploadId,
) -> Result<Authorized, JoinRefusal> {
    match state.media.upload_for(principal, upload_id).await {
        Ok(upload) => Ok(Authorized::Transfer(Transfer::Upload(Access(upload)))),
        Err(MediaError::NotFound) => Err(JoinRefusal::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "join authorization failed");
            Err(JoinRefusal::Internal)
        }
    }
}

/// The join's answer: where the upload stands.
pub fn open(Access(upload): Access) -> Opened {
    Opened {
        reply: json!({
            "offset": upload.received_bytes,
            "size": upload.size_bytes,
            "status": upload.status,
            "file_id": upload.file_id,
        }),
        stream: None,
    }
}

pub async fn handle(
    channel: Channel<'_>,
    upload_id: &UploadId,
    event: &str,
    payload: &Payload,
) -> Reply {
    let chunk = match (event, payload) {
        (CHUNK, Payload::Binary(data)) => match Chunk::decode(data) {
            Ok(chunk) => chunk,
            Err(e) => return Reply::invalid(e),
        },
        _ => return Reply::unknown_event(),
    };
    match channel
        .state
        .media
        .write_chunk(channel.principal, upload_id, chunk.offset, &chunk.data)
        .await
    {
        Ok(outcome) => {
            let mut response = json!({
                "next_offset": outcome.next_offset,
                "done": outcome.done.is_some(),
            });
            match outcome.done {
                Some(Finished::Photo(photo)) => {
                    response["photo"] = serde_json::to_value(photo).unwrap_or_default();
                }
                Some(Finished::Placed(file)) => response["file"] = file,
                None => {}
            }
            Reply::Ok(response)
        }
        Err(MediaError::OffsetMismatch { expected }) => Reply::Error(json!({
            "reason": "offset_mismatch",
            "expected": expected,
        })),
        Err(e) => Reply::failed(e),
    }
}
