//! Account state an admin manages: disabling and enabling a member (a disabled account's
//! sessions end at once and sign-in is refused with `account_disabled`), and one-time password
//! reset links (the admin hands the link over; whoever opens it sets a new password, which ends
//! every session of the account). Only the reset token's SHA-256 is stored; a token works once,
//! for [`RESET_VALID_HOURS`].

use chrono::{DateTime, Duration, Utc};

use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::token::sha256_hex;
use super::{AuthError, Principal, Role, User};
use crate::db::{query, query_as, query_scalar};
use crate::ids::{CommunityId, UserId};

/// How long a password reset link works.
pub const RESET_VALID_HOURS: i64 = 24;

/// A reset link's secret, shown once.
#[derive(Clone, Debug)]
pub struct PasswordReset {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl AuthService {
    /// Disables (or enables again) a member of the admin's community. Disabling ends every
    /// session of theirs; an admin cannot disable themselves or the community's last enabled
    /// admin.
    pub async fn set_disabled(
        &self,
        admin: &Principal,
        user_id: &UserId,
        disabled: bool,
    ) -> Result<User> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        if disabled && target.id == admin.user_id {
            return Err(AuthError::Invalid(
                "you cannot disable your own account".into(),
            ));
        }
        let now = Utc::now();
        self.store()
            .set_disabled(user_id, &target.community_id, disabled.then_some(now), now)
            .await?;
        if disabled {
            self.revoke_all_sessions(user_id).await?;
        }
        self.user(user_id).await
    }

    /// A one-time link for a member of the admin's community to set a new password.
    pub async fn create_password_reset(
        &self,
        admin: &Principal,
        user_id: &UserId,
    ) -> Result<PasswordReset> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        let token = nanoid::nanoid!(32);
        let now = Utc::now();
        let expires_at = now + Duration::hours(RESET_VALID_HOURS);
        self.store()
            .insert_password_reset(
                user_id,
                &sha256_hex(&token),
                &admin.user_id,
                expires_at,
                now,
            )
            .await?;
        Ok(PasswordReset { token, expires_at })
    }

    /// Sets a new password with a reset token (once, before it expires) and ends every session
    /// of the account. Returns the account.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<User> {
        let hash = self.hash_new_password(new_password).await?;
        let now = Utc::now();
        let user_id = self
            .store()
            .use_password_reset(&sha256_hex(token.trim()), &hash, now)
            .await?
            .ok_or(AuthError::ResetInvalid)?;
        self.revoke_all_sessions(&user_id).await?;
        self.user(&user_id).await
    }
}

impl AuthStore {
    /// Sets or clears `disabled_at`; refuses to disable the community's last enabled admin.
    pub async fn set_disabled(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        disabled_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        if tx.is_postgres() {
            // Two admins disabling each other at once must not both succeed.
            query("SELECT pg_advisory_xact_lock(7261002)")
                .execute(&mut tx)
                .await?;
        }
        if disabled_at.is_some() {
            let other_admins: i64 = query_scalar(
                "SELECT COUNT(*) FROM users WHERE community_id = $1 AND role = 'admin' \
                 AND disabled_at IS NULL AND id <> $2",
            )
            .bind(community_id)
            .bind(user_id)
            .fetch_one(&mut tx)
            .await?;
            let is_admin: Option<String> = query_scalar("SELECT role FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut tx)
                .await?;
            if is_admin.as_deref() == Some("admin") && other_admins == 0 {
                return Err(AuthError::LastAdmin);
            }
        }
        query("UPDATE users SET disabled_at = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(disabled_at)
            .bind(now)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_password_reset(
        &self,
        user_id: &UserId,
        token_hash: &str,
        created_by: &UserId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query(
            "INSERT INTO password_resets (id, user_id, token_hash, created_by, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(nanoid::nanoid!())
        .bind(user_id)
        .bind(token_hash)
        .bind(created_by)
        .bind(expires_at)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Marks the token used and sets the password, in one transaction; the user's id, or
    /// `None` when the token is unknown, expired or already used.
    pub async fn use_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>> {
        let mut tx = self.db().begin().await?;
        let claimed: Option<(UserId,)> = query_as(
            "UPDATE password_resets SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut tx)
        .await?;
        let Some((user_id,)) = claimed else {
            return Ok(None);
        };
        query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(&user_id)
            .bind(password_hash)
            .bind(now)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{ClientInfo, SignIn, SignUp};
    use crate::db::testing::Fixture;

    async fn signed_in(auth: &AuthService, email: &str, password: &str) -> Result<Principal> {
        let client = ClientInfo::default();
        let signed = auth
            .sign_in(
                SignIn {
                    email: email.into(),
                    password: password.into(),
                    community: None,
                    otp: None,
                },
                &client,
            )
            .await?;
        auth.authenticate(&signed.token).await
    }

    async fn community_of_two(auth: &AuthService) -> (Principal, Principal) {
        let client = ClientInfo::default();
        auth.sign_up(
            SignUp {
                email: "admin@example.org".into(),
                password: "admin password".into(),
                community_name: Some("Aldeia".into()),
                invite_code: None,
            },
            &client,
        )
        .await
        .unwrap();
        let admin = signed_in(auth, "admin@example.org", "admin password")
            .await
            .unwrap();
        let invite = auth
            .create_invite(&admin, crate::contexts::auth::NewInvite::default())
            .await
            .unwrap();
        auth.sign_up(
            SignUp {
                email: "member@example.org".into(),
                password: "member password".into(),
                community_name: None,
                invite_code: Some(invite.code),
            },
            &client,
        )
        .await
        .unwrap();
        let member = signed_in(auth, "member@example.org", "member password")
            .await
            .unwrap();
        (admin, member)
    }

    #[tokio::test]
    async fn a_disabled_member_loses_their_sessions_and_cannot_sign_in_until_enabled() {
        let fixture = Fixture::new().await;
        let auth = &fixture.auth;
        let (admin, member) = community_of_two(auth).await;
        let user = auth
            .set_disabled(&admin, &member.user_id, true)
            .await
            .unwrap();
        assert!(user.disabled);
        assert!(auth.user(&member.user_id).await.unwrap().disabled);
        let refused = signed_in(auth, "member@example.org", "member password").await;
        assert!(
            matches!(refused, Err(AuthError::AccountDisabled)),
            "{refused:?}"
        );
        // A wrong password says nothing about the account's state.
        let wrong = signed_in(auth, "member@example.org", "not it at all").await;
        assert!(
            matches!(wrong, Err(AuthError::InvalidCredentials)),
            "{wrong:?}"
        );
        assert!(auth
            .live_sessions(&admin)
            .await
            .unwrap()
            .iter()
            .all(|s| s.user_id != member.user_id));
        auth.set_disabled(&admin, &member.user_id, false)
            .await
            .unwrap();
        signed_in(auth, "member@example.org", "member password")
            .await
            .unwrap();
        // Nobody disables themselves, nor the last admin; members disable no one.
        assert!(matches!(
            auth.set_disabled(&admin, &admin.user_id, true).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth.set_disabled(&member, &admin.user_id, true).await,
            Err(AuthError::Forbidden)
        ));
        auth.change_role(&admin, &member.user_id, Role::Admin)
            .await
            .unwrap();
        let second_admin = signed_in(auth, "member@example.org", "member password")
            .await
            .unwrap();
        auth.set_disabled(&admin, &second_admin.user_id, true)
            .await
            .unwrap();
        let last = auth.set_disabled(&second_admin, &admin.user_id, true).await;
        assert!(
            last.is_err(),
            "a disabled admin's session is gone: {last:?}"
        );
    }

    #[tokio::test]
    async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
        let fixture = Fixture::new().await;
        let auth = &fixture.auth;
        let (admin, member) = community_of_two(auth).await;
        let reset = auth
            .create_password_reset(&admin, &member.user_id)
            .await
            .unwrap();
        assert!(reset.expires_at > Utc::now() + Duration::hours(RESET_VALID_HOURS - 1));
        assert!(matches!(
            auth.reset_password(&reset.token, "short").await,
            Err(AuthError::PasswordTooShort)
        ));
        let user = auth
            .reset_password(&reset.token, "a brand new password")
            .await
            .unwrap();
        assert_eq!(user.id, member.user_id);
        assert!(matches!(
            auth.reset_password(&reset.token, "another new password")
                .await,
            Err(AuthError::ResetInvalid)
        ));
        assert!(matches!(
            auth.reset_password("no such token", "another new password")
                .await,
            Err(AuthError::ResetInvalid)
        ));
        let live = auth.live_sessions(&admin).await.unwrap();
        assert!(live.iter().all(|s| s.user_id != member.user_id), "{live:?}");
        signed_in(auth, "member@example.org", "a brand new password")
            .await
            .unwrap();
        assert!(matches!(
            signed_in(auth, "member@example.org", "member password").await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.create_password_reset(&member, &admin.user_id).await,
            Err(AuthError::Forbidden)
        ));
    }
}
