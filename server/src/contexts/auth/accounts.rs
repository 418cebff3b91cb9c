//! Account state an admin manages: disabling and enabling a member (a disabled account's
//! sessions end at once and sign-in is refused with `account_disabled`), and one-time password
//! reset links, by one path whoever starts it: a person asks for one by email (mailed, valid
//! `auth.reset_link_minutes`), or an admin makes one (mailed when mail is configured, else
//! shown to the admin to hand over; valid [`RESET_VALID_HOURS`]). Whoever opens the link sets a
//! new password, which ends every session of the account. Only the reset token's SHA-256 is
//! stored; a token works once, and using one voids the account's other open links.

use chrono::{DateTime, Duration, Utc};

use super::events::AuthEvent;
use super::model::normalize_email;
use super::security::{AuthSecurityKind, SecurityNote};
use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::token::sha256_hex;
use super::{AuthError, ClientInfo, Principal, Role, User};
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

/// How an admin's reset link reached the member.
#[derive(Clone, Debug)]
pub enum ResetDelivery {
    /// Mailed to the member's address; the admin never sees the token.
    Mailed {
        to: String,
        expires_at: DateTime<Utc>,
    },
    /// No mail configured: the admin hands the link over.
    Shown { reset: PasswordReset, link: String },
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
        self.issue_reset(
            user_id,
            Some(&admin.user_id),
            Duration::hours(RESET_VALID_HOURS),
        )
        .await
    }

    /// The admin's "reset password": the same link as [`create_password_reset`], mailed to the
    /// member when mail is configured, else returned for the admin to hand over.
    ///
    /// [`create_password_reset`]: Self::create_password_reset
    pub async fn send_password_reset(
        &self,
        admin: &Principal,
        user_id: &UserId,
    ) -> Result<ResetDelivery> {
        let reset = self.create_password_reset(admin, user_id).await?;
        let target = self.user(user_id).await?;
        let mail = self.mail();
        if mail.sends() {
            let community = self.community(&target.community_id).await?;
            mail.send_reset(
                &target.email,
                &community.name,
                &reset.token,
                reset.expires_at,
            );
            return Ok(ResetDelivery::Mailed {
                to: target.email,
                expires_at: reset.expires_at,
            });
        }
        let link = mail.reset_link(&reset.token);
        Ok(ResetDelivery::Shown { reset, link })
    }

    /// A reset link for an operator (`taina user reset-link`): printed, never mailed.
    pub async fn reset_link_for(&self, user_id: &UserId) -> Result<(String, DateTime<Utc>)> {
        let reset = self
            .issue_reset(user_id, None, Duration::hours(RESET_VALID_HOURS))
            .await?;
        Ok((self.mail().reset_link(&reset.token), reset.expires_at))
    }

    /// `POST /api/auth/password/reset`: counts the request against the limits (per client
    /// address and per email; over them `rate_limited`), then looks the address up and mails
    /// the links in a task of its own, so the answer is the same, and as fast, whether the
    /// address has an account or not.
    pub async fn request_password_reset(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email: String = email.trim().to_lowercase().chars().take(256).collect();
        if let Err(e) = self.reset_limits().check(client.ip.as_deref(), &email) {
            let reason = format!("password reset requests for {email}");
            self.report(SecurityNote::new(
                AuthSecurityKind::RateLimited,
                client,
                reason,
            ));
            return Err(e);
        }
        self.report(SecurityNote::new(
            AuthSecurityKind::PasswordResetRequested,
            client,
            format!("for {email}"),
        ));
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.mail_reset_links(&email).await {
                tracing::warn!(error = %e, "password reset request: no link sent");
            }
        });
        Ok(())
    }

    /// Mails a reset link to every account of `email` that may sign in (none for a malformed,
    /// unknown, disabled or removed one); how many.
    pub(super) async fn mail_reset_links(&self, email: &str) -> Result<usize> {
        let Ok(email) = normalize_email(email) else {
            return Ok(0);
        };
        let valid = Duration::minutes(self.config().reset_link_minutes.max(1) as i64);
        let mut sent = 0;
        for row in self.store().users_by_email(&email, None).await? {
            if row.disabled_at.is_some() || row.deleted_at.is_some() {
                continue;
            }
            let reset = self.issue_reset(&row.id, None, valid).await?;
            let community = self.community(&row.community_id).await?;
            self.mail()
                .send_reset(&row.email, &community.name, &reset.token, reset.expires_at);
            sent += 1;
        }
        Ok(sent)
    }

    /// Stores a new reset token's hash for the account (`created_by`: the admin, or `None`
    /// when the person asked or an operator did).
    async fn issue_reset(
        &self,
        user_id: &UserId,
        created_by: Option<&UserId>,
        valid: Duration,
    ) -> Result<PasswordReset> {
        let token = nanoid::nanoid!(32);
        let now = Utc::now();
        let expires_at = now + valid;
        self.store()
            .insert_password_reset(user_id, &sha256_hex(&token), created_by, expires_at, now)
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
        let ended = self.revoke_all_sessions(&user_id).await?;
        let user = self.user(&user_id).await?;
        let community = self.community(&user.community_id).await?;
        self.mail()
            .send_password_changed(&user.email, &community.name);
        self.bus()
            .publish(AuthEvent::password_changed(&user, true, ended));
        let note = SecurityNote::new(
            AuthSecurityKind::PasswordChanged,
            &ClientInfo::default(),
            format!("through a reset link; {ended} session(s) ended"),
        )
        .about(&user.id, &user.community_id);
        self.report(note);
        Ok(user)
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
        created_by: Option<&UserId>,
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
        // The account's other open links are void once one is used.
        query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(&user_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
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

    #[tokio::test]
    async fn a_reset_asked_for_by_email_is_mailed_to_live_accounts_only() {
        let fixture = Fixture::new().await;
        let auth = &fixture.auth;
        let mailer = crate::mail::Mailer::recording();
        auth.set_mail(mailer.clone(), "https://home.example.org");
        let (admin, member) = community_of_two(auth).await;
        mailer.recorded();

        assert_eq!(
            auth.mail_reset_links("nobody@example.org").await.unwrap(),
            0
        );
        assert_eq!(auth.mail_reset_links("not an address").await.unwrap(), 0);
        assert!(mailer.recorded().is_empty());

        assert_eq!(
            auth.mail_reset_links(" Member@Example.org").await.unwrap(),
            1
        );
        let letters = mailer.recorded();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].to, "member@example.org");
        assert!(letters[0].subject.contains("Aldeia"), "{:?}", letters[0]);
        let start = letters[0]
            .text
            .find("https://home.example.org/admin/reset/")
            .unwrap()
            + 37;
        let token: String = letters[0].text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .collect();
        // Valid for `auth.reset_link_minutes` (an hour), not the admin's 24 hours.
        let expires: DateTime<Utc> = query_scalar(
            "SELECT expires_at FROM password_resets WHERE token_hash = $1 AND created_by IS NULL",
        )
        .bind(sha256_hex(&token))
        .fetch_one(&fixture.db)
        .await
        .unwrap();
        assert!(expires <= Utc::now() + Duration::minutes(60));
        assert!(expires > Utc::now() + Duration::minutes(55));

        // A second link, then the first used: the second is void too, and the address hears
        // that the password changed.
        auth.mail_reset_links("member@example.org").await.unwrap();
        auth.reset_password(&token, "a brand new password")
            .await
            .unwrap();
        let mut letters = mailer.recorded();
        assert_eq!(letters.len(), 2, "{letters:?}");
        assert!(
            letters[1].subject.ends_with("your password was changed"),
            "{letters:?}"
        );
        let second = letters.remove(0);
        let start = second.text.find("/admin/reset/").unwrap() + 13;
        let second: String = second.text[start..].chars().take(32).collect();
        assert!(matches!(
            auth.reset_password(&second, "another new password").await,
            Err(AuthError::ResetInvalid)
        ));

        // An expired link does not work.
        auth.mail_reset_links("member@example.org").await.unwrap();
        let third = mailer.recorded().remove(0);
        let start = third.text.find("/admin/reset/").unwrap() + 13;
        let third: String = third.text[start..].chars().take(32).collect();
        query("UPDATE password_resets SET expires_at = $1 WHERE token_hash = $2")
            .bind(Utc::now() - Duration::minutes(1))
            .bind(sha256_hex(&third))
            .execute(&fixture.db)
            .await
            .unwrap();
        assert!(matches!(
            auth.reset_password(&third, "another new password").await,
            Err(AuthError::ResetInvalid)
        ));

        // Disabled accounts get nothing.
        auth.set_disabled(&admin, &member.user_id, true)
            .await
            .unwrap();
        assert_eq!(
            auth.mail_reset_links("member@example.org").await.unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn an_admins_reset_is_mailed_when_mail_is_configured_else_shown() {
        let fixture = Fixture::new().await;
        let auth = &fixture.auth;
        let (admin, member) = community_of_two(auth).await;
        // No mail attached: the link is for the admin to hand over.
        match auth
            .send_password_reset(&admin, &member.user_id)
            .await
            .unwrap()
        {
            ResetDelivery::Shown { reset, link } => {
                assert!(
                    link.ends_with(&format!("/admin/reset/{}", reset.token)),
                    "{link}"
                )
            }
            other => panic!("{other:?}"),
        }
        let mailer = crate::mail::Mailer::recording();
        auth.set_mail(mailer.clone(), "https://home.example.org");
        match auth
            .send_password_reset(&admin, &member.user_id)
            .await
            .unwrap()
        {
            ResetDelivery::Mailed { to, .. } => assert_eq!(to, "member@example.org"),
            other => panic!("{other:?}"),
        }
        let letters = mailer.recorded();
        assert_eq!(letters.len(), 1);
        assert!(letters[0]
            .text
            .contains("https://home.example.org/admin/reset/"));
    }
}
