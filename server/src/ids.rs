//! Typed identifiers: one newtype per kind of id, so a user id passed where a session id is
//! expected is a compile error rather than a silent bug.
//!
//! Each id wraps the same `String` it always was and is transparent on every wire: serde writes
//! the bare string (`#[serde(transparent)]`), sqlx binds and decodes it as `TEXT` on SQLite and
//! PostgreSQL (`#[sqlx(transparent)]`, which fits [`crate::db::query`]'s bounds), and GraphQL
//! types keep exposing `String`/`ID` (converted at the edge), so no schema changes.
//!
//! Ids live here, at the crate root, rather than in a context: the hub (`realtime`) and the
//! socket layer use them too, and they must not depend on a context's model.
//!
//! Where they reach: the domain types, rows, stores and services of auth (users, communities,
//! sessions, invites), chat (conversations, messages) and media (photos, albums, uploads); the
//! token claims; the event envelope ([`crate::events::Event`]) and every payload struct; topic
//! names ([`crate::realtime::Topic`], `TopicKind`), the hub and presence. Left as `String` on
//! purpose: GraphQL and HTTP types (the schema says `String`/`ID`), media's internal job ids,
//! a message's `client_id` (chosen by the client) and graphql-transport-ws operation ids.
//!
//! An id compares equal to a `str`/`String` holding the same text, for the rows and topic
//! names that still carry plain strings.
//!
//! A user id where a community id belongs does not compile:
//!
//! ```compile_fail
//! # use taina::contexts::auth::AuthService;
//! async fn storage_of(auth: &AuthService, user: &taina::ids::UserId) {
//!     auth.storage_quota_bytes(user).await.ok();
//! }
//! ```
//!
//! while the right kind does:
//!
//! ```no_run
//! # use taina::contexts::auth::AuthService;
//! async fn storage_of(auth: &AuthService, community: &taina::ids::CommunityId) {
//!     auth.storage_quota_bytes(community).await.ok();
//! }
//! ```
//!
//! There is deliberately no `Deref<Target = str>`: a function still taking `&str` needs an
//! explicit `.as_str()`, which keeps the remaining untyped call sites visible. `Borrow<str>`
//! is provided so maps keyed by an id can be looked up with a `&str`.

use std::borrow::Borrow;
use std::fmt;

/// Defines an id newtype over `String` with its conversions.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (nanoid, 21 characters), as ids have always been made.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(nanoid::nanoid!())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad` keeps width and alignment (`{:<21}`) working as for a `String`.
                f.pad(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id!(
    /// A user (`users.id`); the `sub` of a token.
    UserId
);
string_id!(
    /// A community (`communities.id`); the `cid` of a token.
    CommunityId
);
string_id!(
    /// A signed-in session (`sessions.id`); the `sid` of a token.
    SessionId
);
string_id!(
    /// A conversation (`chat.conversations.id`).
    ConversationId
);
string_id!(
    /// A chat message (`chat.messages.id`).
    MessageId
);
string_id!(
    /// An invite (`community_invites.id`); its code is a separate secret, never an id.
    InviteId
);
string_id!(
    /// A stored photo or video (`media.files.id`).
    PhotoId
);
string_id!(
    /// An album (`media.albums.id`).
    AlbumId
);
string_id!(
    /// A resumable upload (`media.uploads.id`).
    UploadId
);
string_id!(
    /// A files space, personal or a community's (`files.spaces.id`).
    SpaceId
);
string_id!(
    /// A folder or file in a space (`files.nodes.id`).
    NodeId
);
string_id!(
    /// One stored version of a file (`files.versions.id`).
    VersionId
);
string_id!(
    /// A tus upload of a file (`files.tus_uploads.id`), the last segment of its URL.
    TusUploadId
);
string_id!(
    /// A WebDAV app password (`files.app_passwords.id`); its secret is never an id.
    AppPasswordId
);
string_id!(
    /// A share of a folder or file (`files.shares.id`); a link's token is never an id.
    ShareId
);

string_id!(
    /// A streaming library root (`streaming.libraries.id`).
    LibraryId
);
string_id!(
    /// A movie, show, season, episode, album, track or video (`streaming.items.id`).
    ItemId
);

string_id!(
    /// A smart-home device (`automation.devices.id`).
    DeviceId
);
string_id!(
    /// An entity's row (`automation.entities.id`); clients name entities by their
    /// `entity_id` text (`sensor.kitchen_temperature`) instead.
    EntityRowId
);
string_id!(
    /// An automation rule (`automation.rules.id`).
    RuleId
);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::db::testing::test_db;
    use crate::db::{query, query_as, query_scalar};

    #[test]
    fn ids_are_bare_strings_in_json() {
        let id = UserId::from("u1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"u1\"");
        let back: UserId = serde_json::from_str("\"u1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string(), "u1");
        assert_eq!(format!("{id:<4}|{id:>3}"), "u1  | u1");
        assert_eq!(SessionId::new().as_str().len(), 21);
    }

    #[test]
    fn maps_keyed_by_an_id_look_up_by_str() {
        let mut map = HashMap::new();
        map.insert(SessionId::from("s1"), 1);
        assert_eq!(map.get("s1"), Some(&1));
    }

    #[tokio::test]
    async fn ids_bind_and_decode_as_text_through_the_query_builder() {
        let db = test_db().await;
        let id = ConversationId::new();
        query(
            "INSERT INTO monitoring.alerts (level, message, source, created_at) \
             VALUES ('info', $1, 'server', $2)",
        )
        .bind(&id)
        .bind(chrono::Utc::now())
        .execute(&db)
        .await
        .unwrap();
        let found: ConversationId =
            query_scalar("SELECT message FROM monitoring.alerts WHERE message = $1")
                .bind(id.clone())
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(found, id);
        let row: (ConversationId, String) =
            query_as("SELECT message, level FROM monitoring.alerts WHERE message = $1")
                .bind(id.as_str())
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(row, (id, "info".to_string()));
    }
}
