//! `stream:{file_id}`: a stored photo or video streamed to whoever may see it, over binary
//! pushes with credit-based flow control (the task is `socket::stream`). Not a hub
//! subscription: the join `{rendition?, offset?, credit?}` answers `{size, offset, mime_type,
//! chunk_bytes}` (`invalid rendition`, or `not_found` when the rendition is missing) and starts
//! the stream; the client then pushes `credit {bytes}`, `seek {offset}`, `pause` and `resume`,
//! each answered `{position}`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use taina_protocol::phoenix::Payload;

use super::{decode, Authorized, Channel, JoinRefusal, Opened, Reply, Transfer};
use crate::contexts::auth::Principal;
use crate::contexts::media::{MediaError, Photo, Rendition};
use crate::ids::PhotoId;
use crate::realtime::Conn;
use crate::socket::stream::{self as task, Source, StreamHandle, StreamRequest};
use crate::state::AppState;

/// A photo the joiner may see.
pub struct Access(Photo);

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    file_id: &PhotoId,
) -> Result<Authorized, JoinRefusal> {
    match state.media.photo_for(Some(principal), file_id).await {
        Ok(photo) => Ok(Authorized::Transfer(Transfer::Stream(Access(photo)))),
        Err(MediaError::NotFound) => Err(JoinRefusal::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "join authorization failed");
            Err(JoinRefusal::Internal)
        }
    }
}

/// The join's payload; fields of another type count as absent.
#[derive(Deserialize, Default)]
struct Join {
    #[serde(default, deserialize_with = "super::lenient")]
    rendition: Option<String>,
    /// Where to start (a resume after a reconnect).
    #[serde(default, deserialize_with = "super::lenient")]
    offset: Option<u64>,
    /// Bytes granted up front.
    #[serde(default, deserialize_with = "super::lenient")]
    credit: Option<u64>,
}

/// A stream answered, to start once its join reply is out.
pub struct Pending(pub(super) StreamRequest);

impl Pending {
    pub fn start(
        self,
        state: &AppState,
        conn: &Arc<Conn>,
        join_ref: &str,
        topic: &str,
    ) -> StreamHandle {
        task::start(
            conn.clone(),
            join_ref.to_string(),
            topic.to_string(),
            self.0,
            state.media.stream_chunk_bytes(),
            state.config.realtime.outbox_bytes,
        )
    }
}

pub async fn open(
    Access(photo): Access,
    state: &AppState,
    payload: &Value,
) -> Result<Opened, &'static str> {
    let join: Join = decode(payload).unwrap_or_default();
    let rendition = match join.rendition.as_deref() {
        None => Rendition::Original,
        Some(name) => Rendition::parse(name).ok_or("invalid rendition")?,
    };
    let size = state
        .media
        .size(&photo, rendition)
        .await
        .map_err(|_| "not_found")?;
    let offset = join.offset.unwrap_or(0).min(size);
    let mime_type = if rendition == Rendition::Original {
        photo.mime_type.clone()
    } else {
        "image/jpeg".to_string()
    };
    Ok(Opened {
        reply: json!({
            "size": size,
            "offset": offset,
            "mime_type": mime_type,
            "chunk_bytes": state.media.stream_chunk_bytes(),
        }),
        stream: Some(Pending(StreamRequest {
            source: Source::Photo {
                media: state.media.clone(),
                photo: Box::new(photo),
                rendition,
            },
            size,
            offset,
            credit: join.credit.unwrap_or(0),
        })),
    })
}

#[derive(Deserialize)]
struct Credit {
    bytes: u64,
}

#[derive(Deserialize)]
struct Seek {
    offset: u64,
}

enum Push {
    Credit(Credit),
    Seek(Seek),
    Pause,
    Resume,
}

impl Push {
    fn parse(event: &str, payload: &Payload) -> Result<Push, Reply> {
        let Payload::Json(value) = payload else {
            return Err(Reply::unknown_event());
        };
        let invalid = |_| Reply::error("invalid_input");
        match event {
            "credit" => decode(value).map(Push::Credit).map_err(invalid),
            "seek" => decode(value).map(Push::Seek).map_err(invalid),
            "pause" => Ok(Push::Pause),
            "resume" => Ok(Push::Resume),
            _ => Err(Reply::unknown_event()),
        }
    }
}

pub fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    let push = match Push::parse(event, payload) {
        Ok(push) => push,
        Err(reply) => return reply,
    };
    let Some(stream) = channel.stream else {
        return Reply::None;
    };
    let applied = match push {
        Push::Credit(Credit { bytes }) => {
            stream.grant(bytes);
            true
        }
        Push::Seek(Seek { offset }) => stream.seek(offset),
        Push::Pause => {
            stream.set_paused(true);
            true
        }
        Push::Resume => {
            stream.set_paused(false);
            true
        }
    };
    if applied {
        Reply::Ok(json!({ "position": stream.position() }))
    } else {
        Reply::error("invalid_input")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_joins_decode_as_the_socket_always_read_them() {
        let parse = |event: &str, payload: Value| Push::parse(event, &Payload::Json(payload));
        assert!(matches!(
            parse("credit", json!({ "bytes": 10 })),
            Ok(Push::Credit(Credit { bytes: 10 }))
        ));
        assert_eq!(
            parse("credit", json!({ "bytes": "10" })).err(),
            Some(Reply::error("invalid_input"))
        );
        assert_eq!(
            parse("seek", json!({})).err(),
            Some(Reply::error("invalid_input"))
        );
        assert!(matches!(parse("pause", json!({ "x": 1 })), Ok(Push::Pause)));
        assert_eq!(
            Push::parse("credit", &Payload::Binary(Default::default())).err(),
            Some(Reply::unknown_event())
        );
        // Join fields of another type count as absent.
        let join: Join =
            decode(&json!({ "rendition": 1, "offset": "9", "credit": 4 })).unwrap_or_default();
        assert_eq!(
            (join.rendition, join.offset, join.credit),
            (None, None, Some(4))
        );
    }
}
