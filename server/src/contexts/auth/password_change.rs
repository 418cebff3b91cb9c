//! A signed-in person changes their password: the current one is required (checked under the
//! current-password limit; wrong → `wrong_password`), the new one meets the policy, and every
//! other session of theirs ends unless they ask to keep them (the session making the change
//! stays signed in either way).

use chrono::{DateTime, Utc};

use super::events::AuthEvent;
use super::security::{AuthSecurityKind, SecurityNote};
use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::{ClientInfo, Principal};
use crate::db::{query, query_as};
use crate::ids::{SessionId, UserId};

impl AuthService {
    /// Sets a new password after checking the current one; returns how many other sessions
    /// ended (0 with `keep_other_sessions`).
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        keep_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<u64> {
        let row = self
            .check_current_password(principal, current_password, client)
            .await?;
        let hash = self.hash_new_password(new_password).await?;
        let now = Utc::now();
        self.store()
            .set_password_hash(&principal.user_id, &hash, now)
            .await?;
        let ended = if keep_other_sessions {
            0
        } else {
            self.revoke_other_sessions(principal).await?
        };
        let user = row.to_user()?;
        let community = self.community(&user.community_id).await?;
        self.mail()
            .send_password_changed(&user.email, &community.name);
        self.bus()
            .publish(AuthEvent::password_changed(&user, false, ended));
        let note = SecurityNote::new(
            AuthSecurityKind::PasswordChanged,
            client,
            format!("by the user; {ended} other session(s) ended"),
        )
        .about(&user.id, &user.community_id);
        self.report(note);
        Ok(ended)
    }

    /// Ends every session of the principal's user but the principal's own; each ended one
    /// is published as `session.revoked`, which closes its sockets.
    pub(super) async fn revoke_other_sessions(&self, principal: &Principal) -> Result<u64> {
        let ended = self
            .store()
            .revoke_sessions_except(&principal.user_id, &principal.session_id, Utc::now())
            .await?;
        self.cache().forget_user(&principal.user_id);
        for session_id in &ended {
            self.bus()
                .publish(AuthEvent::session_revoked(&principal.user_id, session_id));
        }
        Ok(ended.len() as u64)
    }
}

impl AuthStore {
    pub async fn set_password_hash(
        &self,
        user_id: &UserId,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .bind(now)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Revokes the user's open sessions except `keep`; the ids revoked.
    pub async fn revoke_sessions_except(
        &self,
        user_id: &UserId,
        keep: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>> {
        let rows: Vec<(SessionId,)> = query_as(
            "UPDATE user_sessions SET revoked_at = $3 \
             WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .fetch_all(self.db())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{AuthError, SignIn};
    use crate::db::testing::{Fixture, PASSWORD};

    /// A new session's token.
    async fn session(fx: &Fixture, email: &str, password: &str) -> Result<String> {
        let signed = fx
            .auth
            .sign_in(
                SignIn {
                    email: email.into(),
                    password: password.into(),
                    community: None,
                    otp: None,
                },
                &ClientInfo::default(),
            )
            .await?;
        Ok(signed.token)
    }

    #[tokio::test]
    async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
        let fx = Fixture::new().await;
        fx.sign_up("ana@example.org", None).await;
        let mine = session(&fx, "ana@example.org", PASSWORD).await.unwrap();
        let me = fx.auth.authenticate(&mine).await.unwrap();
        let laptop = session(&fx, "ana@example.org", PASSWORD).await.unwrap();
        let client = ClientInfo::default();

        let wrong = fx
            .auth
            .change_password(&me, "not my password", "a new password", false, &client)
            .await;
        assert!(matches!(wrong, Err(AuthError::WrongPassword)), "{wrong:?}");
        let weak = fx
            .auth
            .change_password(&me, PASSWORD, "short", false, &client)
            .await;
        assert!(matches!(weak, Err(AuthError::PasswordTooShort)), "{weak:?}");
        // Neither attempt changed anything.
        fx.auth.authenticate(&laptop).await.unwrap();
        session(&fx, "ana@example.org", PASSWORD).await.unwrap();

        let ended = fx
            .auth
            .change_password(&me, PASSWORD, "a new password", false, &client)
            .await
            .unwrap();
        // The laptop, the session just above and the fixture's own.
        assert_eq!(ended, 3);
        fx.auth.authenticate(&mine).await.unwrap();
        let gone = fx.auth.authenticate(&laptop).await;
        assert!(matches!(gone, Err(AuthError::SessionRevoked)), "{gone:?}");
        assert!(matches!(
            session(&fx, "ana@example.org", PASSWORD).await,
            Err(AuthError::InvalidCredentials)
        ));
        let phone = session(&fx, "ana@example.org", "a new password")
            .await
            .unwrap();

        // Kept on purpose: the phone stays signed in.
        let ended = fx
            .auth
            .change_password(&me, "a new password", "a third password", true, &client)
            .await
            .unwrap();
        assert_eq!(ended, 0);
        fx.auth.authenticate(&phone).await.unwrap();
        fx.auth.authenticate(&mine).await.unwrap();
    }
}
