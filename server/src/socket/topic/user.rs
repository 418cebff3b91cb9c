//! `user:{user_id}`: one user's own topic, joined by that user only. The server publishes
//! `photo_uploaded` (the processed photo), `watch_progress` (the user's position in a
//! streaming item moved, on any of their devices), and chat's `read`, `mention`,
//! `conversation_created`, `participant_added`, `participant_removed` and
//! `conversation_updated` (see the constants) on it. Clients push:
//! - `echo`: JSON → `ok` with the same payload; binary → a binary reply and a binary push
//!   `echo` with the same bytes;
//! - `refresh_token` `{token}`: live auth, answered by the session (`phoenix.rs`);
//! - `create_upload` `{filename?, size, sha256}` → `{upload_id, topic, offset, expires_at}`,
//!   a resumable upload to join as `upload:{id}`;
//! - `watch` `{item_id, position_ms, duration_ms?, state?, device?}` (`state`: `playing`,
//!   `paused` or `stopped`) → the stored progress `{item_id, position_ms, played, …}`, pushed
//!   as `watch_progress` to every device of the user.

use serde::Deserialize;
use serde_json::json;
use taina_protocol::phoenix::Payload;

use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use crate::contexts::streaming::watch::Report;
use crate::contexts::streaming::PlaybackState;
use crate::ids::{ItemId, UserId};
use crate::realtime::Topic;

/// A processed photo, to its owner.
pub const PHOTO_UPLOADED: &str = "photo_uploaded";
/// The user's position in a streaming item, to all their devices.
pub const WATCH_PROGRESS: &str = "watch_progress";
/// The user read a conversation up to an offset (on one of their devices): `{conversation_id,
/// user_id, offset}`, so the others clear their badge.
pub const READ: &str = "read";
/// A message names the user: `{conversation_id, message_id, sender_id, offset, preview}`.
pub const MENTION: &str = "mention";
/// A conversation the user takes part in was created: the conversation.
pub const CONVERSATION_CREATED: &str = "conversation_created";
/// The user was added to a group (to them), or someone was (to the others): the conversation
/// as it is now, with `user_id`, who was added.
pub const PARTICIPANT_ADDED: &str = "participant_added";
/// The user left or was removed: `{conversation_id, removed_by, user_id}`.
pub const PARTICIPANT_REMOVED: &str = "participant_removed";
/// A group the user takes part in was renamed or its roles changed: the conversation.
pub const CONVERSATION_UPDATED: &str = "conversation_updated";

pub fn authorize(principal: &Principal, user_id: &UserId) -> Result<Authorized, JoinRefusal> {
    if *user_id == principal.user_id {
        Ok(Authorized::Subscription(Subscription::default()))
    } else {
        Err(JoinRefusal::Unauthorized)
    }
}

#[derive(Deserialize)]
struct RefreshToken {
    token: String,
}

#[derive(Deserialize)]
struct CreateUpload {
    #[serde(default, deserialize_with = "super::lenient")]
    filename: Option<String>,
    size: u64,
    sha256: String,
}

#[derive(Deserialize)]
struct Watch {
    item_id: ItemId,
    position_ms: i64,
    #[serde(default, deserialize_with = "super::lenient")]
    duration_ms: Option<i64>,
    #[serde(default, deserialize_with = "super::lenient")]
    state: Option<PlaybackState>,
    #[serde(default, deserialize_with = "super::lenient")]
    device: Option<String>,
}

enum Push {
    Echo(Payload),
    RefreshToken(RefreshToken),
    CreateUpload(CreateUpload),
    Watch(Watch),
}

impl Push {
    fn parse(event: &str, payload: &Payload) -> Result<Push, Reply> {
        match (event, payload) {
            ("echo", payload) => Ok(Push::Echo(payload.clone())),
            ("refresh_token", Payload::Json(value)) => decode(value)
                .map(Push::RefreshToken)
                .map_err(|_| Reply::error("invalid_input")),
            ("create_upload", Payload::Json(value)) => decode(value)
                .map(Push::CreateUpload)
                .map_err(|_| Reply::invalid("send size and sha256")),
            ("watch", Payload::Json(value)) => decode(value)
                .map(Push::Watch)
                .map_err(|_| Reply::invalid("send item_id and position_ms")),
            _ => Err(Reply::unknown_event()),
        }
    }
}

pub async fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    let push = match Push::parse(event, payload) {
        Ok(push) => push,
        Err(reply) => return reply,
    };
    match push {
        Push::Echo(Payload::Binary(data)) => Reply::Binary { data, push: "echo" },
        Push::Echo(Payload::Json(payload)) => Reply::Ok(payload),
        Push::Echo(_) => Reply::error("invalid_input"),
        Push::RefreshToken(refresh) => Reply::RefreshToken(refresh.token),
        Push::CreateUpload(request) => {
            let filename = request.filename.as_deref().unwrap_or("upload");
            let media = &channel.state.media;
            match media
                .create_upload(channel.principal, filename, request.size, &request.sha256)
                .await
            {
                Ok(upload) => Reply::Ok(json!({
                    "upload_id": upload.id,
                    "topic": Topic::upload(&upload.id),
                    "offset": 0,
                    "expires_at": upload.expires_at,
                })),
                Err(e) => Reply::failed(e),
            }
        }
        Push::Watch(watch) => {
            let report = Report {
                position_ms: watch.position_ms,
                duration_ms: watch.duration_ms,
                state: watch.state.unwrap_or_default(),
                device: watch.device,
            };
            match channel
                .state
                .streaming
                .report_progress(channel.principal, &watch.item_id, &report)
                .await
            {
                Ok(progress) => Reply::Ok(serde_json::to_value(progress).unwrap_or_default()),
                Err(e) => Reply::failed(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event: &str, payload: serde_json::Value) -> Result<Push, Reply> {
        Push::parse(event, &Payload::Json(payload))
    }

    #[test]
    fn pushes_decode_with_the_replies_the_socket_always_gave() {
        let Ok(Push::CreateUpload(upload)) = parse(
            "create_upload",
            json!({ "filename": 7, "size": 3, "sha256": "ab" }),
        ) else {
            panic!("a create_upload with a numeric filename is valid");
        };
        assert_eq!(upload.filename, None);
        for bad in [
            json!({ "size": 3 }),
            json!({ "size": -1, "sha256": "ab" }),
            json!({ "size": 1.5, "sha256": "ab" }),
            json!({ "size": 3, "sha256": 1 }),
        ] {
            assert_eq!(
                parse("create_upload", bad).err(),
                Some(Reply::invalid("send size and sha256"))
            );
        }
        assert_eq!(
            parse("refresh_token", json!({ "token": 1 })).err(),
            Some(Reply::error("invalid_input"))
        );
        assert_eq!(parse("nope", json!({})).err(), Some(Reply::unknown_event()));
        assert_eq!(
            Push::parse("refresh_token", &Payload::Binary(Default::default())).err(),
            Some(Reply::unknown_event())
        );
    }
}
