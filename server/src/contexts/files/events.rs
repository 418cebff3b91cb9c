//! What files publishes on the bus: one event per journal row. `user_id` is who acted,
//! `community_id` the space's community.

use super::Change;
use crate::events::Event;
use crate::ids::CommunityId;

/// A journal row was written; `data` is the [`Change`] (its `cursor` is the topic offset).
pub const FILE_CHANGED: &str = "file.changed";

/// Builds files' events.
pub struct FilesEvent;

impl FilesEvent {
    pub fn changed(community_id: &CommunityId, change: &Change) -> Event {
        Event::typed(
            FILE_CHANGED,
            Some(&change.user_id),
            Some(community_id),
            change,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::files::{ChangeAction, NodeKind};

    #[test]
    fn a_change_decodes_back() {
        let change = Change {
            space_id: "s".into(),
            epoch: "e".into(),
            cursor: 7,
            node_id: "n".into(),
            action: ChangeAction::Moved,
            path: "/b".into(),
            from_path: Some("/a".into()),
            kind: NodeKind::File,
            etag: "7".into(),
            size: 3,
            user_id: "u".into(),
            at: chrono::Utc::now(),
        };
        let event = FilesEvent::changed(&"c".into(), &change);
        assert_eq!(event.kind, FILE_CHANGED);
        assert_eq!(event.data["action"], "moved");
        assert_eq!(event.data_as::<Change>().unwrap(), change);
    }
}
