//! What a community's admin reads about their community: its record, the sign-in sessions
//! of its members (live, and recent ones ended), and its open invites, plus ending an invite.
//! Every call takes the admin's principal and is scoped to their community.

use chrono::{DateTime, Utc};

use super::service::{AuthService, Result};
use super::store::{DeviceSessionRow, InviteListRow};
use super::{AuthError, Community, Principal, Role};
use crate::ids::{InviteId, SessionId, UserId};

/// A sign-in session: one device of one member.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub email: String,
    pub user_agent: Option<String>,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    /// False once signed out, revoked or expired.
    pub live: bool,
}

/// An invite still usable (its code is shown once, at creation, and never stored).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenInvite {
    pub id: InviteId,
    pub role: Role,
    pub uses: u64,
    pub max_uses: u64,
    pub expires_at: DateTime<Utc>,
    pub created_by: Option<String>,
}

/// Most sessions an admin's listing returns.
const MAX_SESSIONS: i64 = 1_000;

impl AuthService {
    /// The admin's community.
    pub async fn community_of(&self, admin: &Principal) -> Result<Community> {
        admin.require(&[Role::Admin])?;
        self.store()
            .community(&admin.community_id)
            .await?
            .map(Community::from)
            .ok_or(AuthError::NotFound("community"))
    }

    /// The community's live sessions, newest first.
    pub async fn live_sessions(&self, admin: &Principal) -> Result<Vec<DeviceSession>> {
        self.sessions(admin, true, MAX_SESSIONS).await
    }

    /// The community's latest sign-ins (live or not), newest first, at most `limit`.
    pub async fn recent_sign_ins(
        &self,
        admin: &Principal,
        limit: u32,
    ) -> Result<Vec<DeviceSession>> {
        self.sessions(admin, false, i64::from(limit)).await
    }

    async fn sessions(
        &self,
        admin: &Principal,
        live_only: bool,
        limit: i64,
    ) -> Result<Vec<DeviceSession>> {
        admin.require(&[Role::Admin])?;
        let now = Utc::now();
        let rows = self
            .store()
            .community_sessions(&admin.community_id, live_only, now, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| device_session(row, now))
            .collect())
    }

    /// The community's invites still usable, newest first.
    pub async fn open_invites(&self, admin: &Principal) -> Result<Vec<OpenInvite>> {
        admin.require(&[Role::Admin])?;
        let rows = self
            .store()
            .open_invites(&admin.community_id, Utc::now())
            .await?;
        rows.into_iter().map(open_invite).collect()
    }

    /// Ends one of the community's invites now.
    pub async fn revoke_invite(&self, admin: &Principal, invite_id: &InviteId) -> Result<()> {
        admin.require(&[Role::Admin])?;
        let ended = self
            .store()
            .expire_invite(&admin.community_id, invite_id, Utc::now())
            .await?;
        if ended {
            Ok(())
        } else {
            Err(AuthError::NotFound("invite"))
        }
    }
}

fn device_session(row: DeviceSessionRow, now: DateTime<Utc>) -> DeviceSession {
    DeviceSession {
        live: row.revoked_at.is_none() && row.expires_at > now,
        id: row.id,
        user_id: row.user_id,
        email: row.email,
        user_agent: row.user_agent,
        address: row.ip_address,
        created_at: row.created_at,
    }
}

fn open_invite(row: InviteListRow) -> Result<OpenInvite> {
    Ok(OpenInvite {
        id: row.id,
        role: row.role.parse()?,
        uses: row.uses.max(0) as u64,
        max_uses: row.max_uses.max(0) as u64,
        expires_at: row.expires_at,
        created_by: row.created_by_email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{ClientInfo, NewInvite, SignIn, SignUp};
    use crate::db::testing::Fixture;

    #[tokio::test]
    async fn an_admin_sees_sessions_and_invites_of_their_community_and_ends_an_invite() {
        let fixture = Fixture::new().await;
        let auth = fixture.auth.clone();
        let client = ClientInfo {
            ip: Some("10.0.0.7".into()),
            user_agent: Some("test-agent".into()),
        };
        auth.sign_up(
            SignUp {
                email: "admin@example.org".into(),
                password: "a long password".into(),
                community_name: Some("Aldeia".into()),
                invite_code: None,
            },
            &client,
        )
        .await
        .unwrap();
        let sign_in = || SignIn {
            email: "admin@example.org".into(),
            password: "a long password".into(),
            community: None,
            otp: None,
        };
        let first = auth.sign_in(sign_in(), &client).await.unwrap();
        let admin = auth.authenticate(&first.token).await.unwrap();
        auth.create_invite(
            &admin,
            NewInvite {
                role: Some(Role::Member),
                max_uses: Some(2),
                expires_in_hours: None,
            },
        )
        .await
        .unwrap();
        let sessions = auth.live_sessions(&admin).await.unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].address.as_deref(), Some("10.0.0.7"));
        assert!(sessions[0].live);
        let invites = auth.open_invites(&admin).await.unwrap();
        assert_eq!(invites.len(), 1);
        assert_eq!((invites[0].max_uses, invites[0].role), (2, Role::Member));
        let invite_id = invites[0].id.clone();
        auth.revoke_invite(&admin, &invite_id).await.unwrap();
        assert!(auth.open_invites(&admin).await.unwrap().is_empty());
        assert!(matches!(
            auth.revoke_invite(&admin, &invite_id).await,
            Err(AuthError::NotFound("invite"))
        ));
        // Signing in again adds a sign-in; signing out ends the session but keeps it listed.
        let again = auth.sign_in(sign_in(), &client).await.unwrap();
        let second = auth.authenticate(&again.token).await.unwrap();
        auth.sign_out(&second).await.unwrap();
        assert_eq!(auth.live_sessions(&admin).await.unwrap().len(), 1);
        let recent = auth.recent_sign_ins(&admin, 10).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.iter().filter(|s| s.live).count(), 1);
    }
}
