//! `files:{space_id}`: a files space's change feed, for whoever may read the space (and, for
//! a shared folder, whoever it is shared with). The server publishes `file_changed` with the
//! journal row ([`crate::contexts::files::Change`]); its `cursor` is the topic offset and the
//! space's journal epoch the topic epoch, so a rejoin with `since` recovers from the journal
//! what memory no longer holds, or answers `recovered: false` (resync with `fileChanges`).
//! Clients push nothing here.

use serde_json::Value;
use taina_protocol::phoenix::Payload;

use super::{Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::Principal;
use crate::contexts::files::{FilesError, Space};
use crate::ids::SpaceId;
use crate::realtime::Position;
use crate::state::AppState;

/// A journal row, server to client.
pub const FILE_CHANGED: &str = "file_changed";

pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    space_id: &SpaceId,
) -> Result<Authorized, JoinRefusal> {
    match state.files.space_feed(principal, space_id).await {
        Ok(space) => Ok(Authorized::Subscription(Subscription {
            storage: Some(Position {
                epoch: space.epoch.clone(),
                offset: space.last_cursor,
            }),
            presence: false,
            key: None,
            stored: Some(super::History::Files(Stored(space))),
        })),
        Err(FilesError::NotFound) => Err(JoinRefusal::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "join authorization failed");
            Err(JoinRefusal::Internal)
        }
    }
}

/// A space's journal, the topic's history.
pub struct Stored(Space);

impl Stored {
    /// Journal rows with cursors in `(after, up_to]` as `file_changed`, oldest first.
    pub async fn between(
        &self,
        state: &AppState,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Option<Vec<(&'static str, Value)>> {
        match state
            .files
            .changes_between(&self.0.id, after, up_to, limit)
            .await
        {
            Ok(changes) => Some(
                changes
                    .iter()
                    .map(|c| (FILE_CHANGED, serde_json::to_value(c).unwrap_or_default()))
                    .collect(),
            ),
            Err(e) => {
                tracing::error!(error = %e, "recovery from the files journal failed");
                None
            }
        }
    }
}

pub fn handle(_channel: Channel<'_>, _event: &str, _payload: &Payload) -> Reply {
    Reply::unknown_event()
}
