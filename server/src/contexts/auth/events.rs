//! What auth publishes on the bus: each event's name, the struct of its `data`, and a
//! constructor on [`AuthEvent`]. Every auth event carries the user it is about as `user_id`.

use serde::{Deserialize, Serialize};

use super::{CommunitySettings, Principal, Role, User};
use crate::events::Event;
use crate::ids::{CommunityId, SessionId, UserId};

/// A user signed up (`community_id` is theirs).
pub const USER_SIGNED_UP: &str = "user.signed_up";
/// A user opened a session.
pub const USER_SIGNED_IN: &str = "user.signed_in";
/// A user ended a session: its sockets end.
pub const USER_SIGNED_OUT: &str = "user.signed_out";
/// A user's role changed: their sockets re-check their joins.
pub const USER_ROLE_CHANGED: &str = "user.role_changed";
/// Every session of a user was revoked: all their sockets end (`community_id` is `None`).
pub const USER_SESSIONS_REVOKED: &str = "user.sessions_revoked";
/// Another process (the CLI, another node) revoked a session: its sockets end
/// (`community_id` is `None`).
pub const SESSION_REVOKED: &str = "session.revoked";
/// A user's password changed (by themselves, or through a reset link).
pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
/// A user confirmed an email address: at sign-up, or the new one of a change.
pub const USER_EMAIL_CONFIRMED: &str = "user.email_confirmed";
/// An account was removed (by its owner or an admin) and anonymised; its sessions ended.
pub const USER_DELETED: &str = "user.deleted";
/// An admin changed the community's name, slug, language or registration (`user_id` is the
/// admin).
pub const COMMUNITY_SETTINGS_CHANGED: &str = "community.settings_changed";

/// Auth's events no socket is told about (the bridge skips them; rules and logs may read them).
pub const NOT_FOR_SOCKETS: &[&str] = &[
    USER_PASSWORD_CHANGED,
    USER_EMAIL_CONFIRMED,
    USER_DELETED,
    COMMUNITY_SETTINGS_CHANGED,
];

/// The `data` of [`USER_SIGNED_UP`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedUp {
    pub role: Role,
}

/// The `data` of [`USER_SIGNED_IN`], [`USER_SIGNED_OUT`] and [`SESSION_REVOKED`]: the session
/// opened or ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionChanged {
    pub session_id: SessionId,
}

/// The `data` of [`USER_ROLE_CHANGED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleChanged {
    pub role: Role,
}

/// The `data` of [`USER_SESSIONS_REVOKED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionsRevoked {
    /// How many sessions were still open.
    pub revoked: u64,
}

/// The `data` of [`USER_PASSWORD_CHANGED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// Through a reset link (else by the user, with the current password).
    pub reset: bool,
    /// Sessions that ended with the change.
    pub sessions_ended: u64,
}

/// The `data` of [`USER_EMAIL_CONFIRMED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailConfirmed {
    /// The address changed to the confirmed one (else the sign-up address was confirmed).
    pub changed: bool,
}

/// The `data` of [`USER_DELETED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDeleted {
    /// Removed by an admin of the community (else by the user themselves).
    pub by_admin: bool,
}

/// Builds auth's events.
pub struct AuthEvent;

impl AuthEvent {
    fn about(kind: &str, user: &User, data: &impl Serialize) -> Event {
        Event::typed(kind, Some(&user.id), Some(&user.community_id), data)
    }

    pub fn signed_up(user: &User) -> Event {
        Self::about(USER_SIGNED_UP, user, &SignedUp { role: user.role })
    }

    pub fn signed_in(user: &User, session_id: &SessionId) -> Event {
        let data = SessionChanged {
            session_id: session_id.clone(),
        };
        Self::about(USER_SIGNED_IN, user, &data)
    }

    pub fn signed_out(principal: &Principal) -> Event {
        let data = SessionChanged {
            session_id: principal.session_id.clone(),
        };
        Event::typed(
            USER_SIGNED_OUT,
            Some(&principal.user_id),
            Some(&principal.community_id),
            &data,
        )
    }

    pub fn role_changed(user: &User, role: Role) -> Event {
        Self::about(USER_ROLE_CHANGED, user, &RoleChanged { role })
    }

    pub fn sessions_revoked(user_id: &UserId, revoked: u64) -> Event {
        let data = SessionsRevoked { revoked };
        Event::typed(USER_SESSIONS_REVOKED, Some(user_id), None, &data)
    }

    pub fn password_changed(user: &User, reset: bool, sessions_ended: u64) -> Event {
        let data = PasswordChanged {
            reset,
            sessions_ended,
        };
        Self::about(USER_PASSWORD_CHANGED, user, &data)
    }

    pub fn email_confirmed(user: &User, changed: bool) -> Event {
        Self::about(USER_EMAIL_CONFIRMED, user, &EmailConfirmed { changed })
    }

    pub fn user_deleted(user_id: &UserId, community_id: &CommunityId, by_admin: bool) -> Event {
        let data = UserDeleted { by_admin };
        Event::typed(USER_DELETED, Some(user_id), Some(community_id), &data)
    }

    pub fn community_settings_changed(admin: &Principal, settings: &CommunitySettings) -> Event {
        Event::typed(
            COMMUNITY_SETTINGS_CHANGED,
            Some(&admin.user_id),
            Some(&admin.community_id),
            settings,
        )
    }

    pub fn session_revoked(user_id: &UserId, session_id: &SessionId) -> Event {
        let data = SessionChanged {
            session_id: session_id.clone(),
        };
        Event::typed(SESSION_REVOKED, Some(user_id), None, &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "u1@example.org".into(),
            role: Role::Admin,
            community_id: "c1".into(),
            display_name: None,
            totp_enabled: false,
            disabled: false,
            email_confirmed: true,
            created_at: chrono::Utc::now(),
        }
    }

    /// The bus carries the same JSON as before the payloads were typed.
    #[test]
    fn data_keeps_its_json_shape_and_decodes_back() {
        let user = user();
        let cases = [
            (AuthEvent::signed_up(&user), json!({ "role": "admin" })),
            (
                AuthEvent::signed_in(&user, &"s1".into()),
                json!({ "session_id": "s1" }),
            ),
            (
                AuthEvent::role_changed(&user, Role::Member),
                json!({ "role": "member" }),
            ),
            (
                AuthEvent::sessions_revoked(&"u1".into(), 3),
                json!({ "revoked": 3 }),
            ),
            (
                AuthEvent::session_revoked(&"u1".into(), &"s2".into()),
                json!({ "session_id": "s2" }),
            ),
            (
                AuthEvent::password_changed(&user, true, 2),
                json!({ "reset": true, "sessions_ended": 2 }),
            ),
            (
                AuthEvent::email_confirmed(&user, false),
                json!({ "changed": false }),
            ),
            (
                AuthEvent::user_deleted(&"u1".into(), &"c1".into(), true),
                json!({ "by_admin": true }),
            ),
        ];
        for (event, data) in cases {
            assert_eq!(event.data, data, "{}", event.kind);
            assert_eq!(event.user_id, Some("u1".into()));
        }
        for kind in NOT_FOR_SOCKETS {
            assert!(
                kind.starts_with("user.") || kind.starts_with("community."),
                "{kind}"
            );
        }
        let revoked = AuthEvent::session_revoked(&"u1".into(), &"s2".into());
        assert_eq!(revoked.kind, SESSION_REVOKED);
        assert_eq!(revoked.community_id, None);
        assert_eq!(
            revoked.data_as::<SessionChanged>().unwrap().session_id,
            "s2"
        );
    }
}
