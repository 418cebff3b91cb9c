//! Accounts removed: by their owner (`DELETE /api/auth/account`, the current password
//! required) or by an admin of their community (`DELETE /api/auth/users/{id}`).
//!
//! The rule, one for both: the account is anonymised in place, never deleted, because other
//! contexts keep rows that name its id (chat messages, albums, files). Its email becomes
//! `deleted-{id}@deleted.invalid`, its password hash, TOTP secret and recovery codes are
//! cleared, its display name becomes "Deleted user", its role `guest`, and `deleted_at` (and
//! `disabled_at`) are set; its open reset and confirmation links are removed and every session
//! ends (its sockets close). What it wrote stays, attributed to a deleted user; the address is
//! free to sign up again. A community's last admin cannot be removed, nor remove themselves,
//! and an admin removes others, not themselves, this way.

use chrono::{DateTime, Utc};

use super::events::AuthEvent;
use super::security::{AuthSecurityKind, SecurityNote};
use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::{AuthError, ClientInfo, Principal, Role};
use crate::db::{query, query_scalar};
use crate::ids::{CommunityId, UserId};

/// The display name a removed account keeps.
pub const DELETED_NAME: &str = "Deleted user";

impl AuthService {
    /// Removes the principal's own account after checking the current password.
    pub async fn delete_own_account(
        &self,
        principal: &Principal,
        current_password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let row = self
            .check_current_password(principal, current_password, client)
            .await?;
        self.remove_account(&row.id, &row.community_id, false)
            .await?;
        let note = SecurityNote::new(AuthSecurityKind::AccountRemoved, client, "by its owner")
            .about(&row.id, &row.community_id);
        self.report(note);
        Ok(())
    }

    /// An admin removes a member of their community (not themselves).
    pub async fn remove_member(&self, admin: &Principal, user_id: &UserId) -> Result<()> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        if target.id == admin.user_id {
            return Err(AuthError::Invalid(
                "you cannot remove yourself: delete your own account instead".into(),
            ));
        }
        self.remove_account(user_id, &target.community_id, true)
            .await?;
        self.report_admin_action(
            admin,
            AuthSecurityKind::AccountRemoved,
            format!("{} ({}) removed", target.email, target.id),
        );
        Ok(())
    }

    async fn remove_account(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        by_admin: bool,
    ) -> Result<()> {
        self.store()
            .anonymise_user(user_id, community_id, Utc::now())
            .await?;
        self.revoke_all_sessions(user_id).await?;
        self.bus()
            .publish(AuthEvent::user_deleted(user_id, community_id, by_admin));
        Ok(())
    }
}

impl AuthStore {
    /// Anonymises the account (module docs) in one transaction; refuses the community's last
    /// admin who may sign in; `not_found` for an account already removed.
    pub async fn anonymise_user(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        if tx.is_postgres() {
            // The same lock as disabling: two admins removing each other must not both win.
            query("SELECT pg_advisory_xact_lock(7261002)")
                .execute(&mut tx)
                .await?;
        }
        let role: Option<String> =
            query_scalar("SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(&mut tx)
                .await?;
        let Some(role) = role else {
            return Err(AuthError::NotFound("user"));
        };
        if role == Role::Admin.as_str() {
            let other_admins: i64 = query_scalar(
                "SELECT COUNT(*) FROM users WHERE community_id = $1 AND role = 'admin' \
                 AND disabled_at IS NULL AND deleted_at IS NULL AND id <> $2",
            )
            .bind(community_id)
            .bind(user_id)
            .fetch_one(&mut tx)
            .await?;
            if other_admins == 0 {
                return Err(AuthError::LastAdmin);
            }
        }
        query(
            "UPDATE users SET email = $2, password_hash = '', display_name = $3, role = 'guest', \
             totp_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, \
             email_confirmed_at = NULL, disabled_at = $4, deleted_at = $4, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(format!("deleted-{user_id}@deleted.invalid"))
        .bind(DELETED_NAME)
        .bind(now)
        .execute(&mut tx)
        .await?;
        for statement in [
            "DELETE FROM user_recovery_codes WHERE user_id = $1",
            "DELETE FROM password_resets WHERE user_id = $1",
            "DELETE FROM email_confirmations WHERE user_id = $1",
        ] {
            query(statement).bind(user_id).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::SignIn;
    use crate::db::testing::{Fixture, PASSWORD};

    fn sign_in(email: &str) -> SignIn {
        SignIn {
            email: email.into(),
            password: PASSWORD.into(),
            community: None,
            otp: None,
        }
    }

    #[tokio::test]
    async fn deleting_my_account_anonymises_it_and_ends_my_sessions() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let mut events = fx.bus.subscribe();
        let client = ClientInfo::default();
        let wrong = fx.auth.delete_own_account(&member, "not it", &client).await;
        assert!(matches!(wrong, Err(AuthError::WrongPassword)), "{wrong:?}");

        fx.auth
            .delete_own_account(&member, PASSWORD, &client)
            .await
            .unwrap();
        let user = fx.auth.user(&member.user_id).await.unwrap();
        assert_eq!(
            user.email,
            format!("deleted-{}@deleted.invalid", member.user_id)
        );
        assert_eq!(user.display_name.as_deref(), Some(DELETED_NAME));
        assert_eq!(user.role, Role::Guest);
        assert!(user.disabled);
        let hash: String = query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(&member.user_id)
            .fetch_one(&fx.db)
            .await
            .unwrap();
        assert_eq!(hash, "");
        assert!(fx
            .auth
            .list_community_users(&admin)
            .await
            .unwrap()
            .iter()
            .all(|u| u.id != member.user_id));
        let gone = fx
            .auth
            .sign_in(sign_in("member@example.org"), &client)
            .await;
        assert!(
            matches!(gone, Err(AuthError::InvalidCredentials)),
            "{gone:?}"
        );
        let mut kinds = Vec::new();
        while let Ok(event) = events.try_recv() {
            kinds.push(event.kind.clone());
        }
        assert!(
            kinds.contains(&"user.sessions_revoked".to_string()),
            "{kinds:?}"
        );
        assert!(kinds.contains(&"user.deleted".to_string()), "{kinds:?}");
        // The address is free again.
        fx.invited(&admin, "member@example.org", Role::Member).await;
    }

    #[tokio::test]
    async fn admins_remove_members_but_never_the_last_admin() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let client = ClientInfo::default();
        assert!(matches!(
            fx.auth.remove_member(&member, &admin.user_id).await,
            Err(AuthError::Forbidden)
        ));
        assert!(matches!(
            fx.auth.remove_member(&admin, &admin.user_id).await,
            Err(AuthError::Invalid(_))
        ));
        let last = fx.auth.delete_own_account(&admin, PASSWORD, &client).await;
        assert!(matches!(last, Err(AuthError::LastAdmin)), "{last:?}");

        fx.auth
            .remove_member(&admin, &member.user_id)
            .await
            .unwrap();
        assert!(matches!(
            fx.auth
                .sign_in(sign_in("member@example.org"), &client)
                .await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            fx.auth.remove_member(&admin, &member.user_id).await,
            Err(AuthError::NotFound(_))
        ));

        // With a second admin, the first may go.
        let second = fx.invited(&admin, "second@example.org", Role::Admin).await;
        fx.auth
            .delete_own_account(&admin, PASSWORD, &client)
            .await
            .unwrap();
        let last = fx.auth.delete_own_account(&second, PASSWORD, &client).await;
        assert!(matches!(last, Err(AuthError::LastAdmin)), "{last:?}");
    }
}
