//! Email addresses people can prove are theirs. At sign-up a confirmation link goes to the
//! address (`auth.require_confirmed_email` decides whether sign-in waits for it); a change of
//! address (`POST /api/auth/email`, the current password required) mails a link to the NEW
//! address, and the account's email changes only when that link is opened; the old address is
//! told. Only a link's SHA-256 is stored; a link works once, for `auth.confirm_link_hours`.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;

use super::events::AuthEvent;
use super::model::normalize_email;
use super::security::{AuthSecurityKind, SecurityNote};
use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::token::sha256_hex;
use super::{AuthError, ClientInfo, Principal, Role, User};
use crate::db::{is_unique_violation, query, query_as, query_scalar};
use crate::ids::{CommunityId, UserId};

/// How an admin's confirmation link reached the member.
#[derive(Clone, Debug)]
pub enum ConfirmDelivery {
    /// Mailed to the member's address.
    Mailed {
        to: String,
        expires_at: DateTime<Utc>,
    },
    /// No mail configured: the admin hands the link over.
    Shown {
        link: String,
        expires_at: DateTime<Utc>,
    },
}

/// A confirmation token claimed: whose, and which address it confirms.
#[derive(FromRow)]
struct Claimed {
    user_id: UserId,
    email: String,
}

impl AuthService {
    /// Stores a confirmation token for `email` (the account's, or the one it changes to) and
    /// mails the link there; the token, for callers that show it (the CLI).
    pub(super) async fn mail_confirmation(
        &self,
        user: &User,
        email: &str,
        community_name: &str,
        change: bool,
    ) -> Result<()> {
        let (token, expires_at) = self.issue_confirmation(&user.id, email).await?;
        self.mail()
            .send_confirmation(email, community_name, &token, expires_at, change);
        Ok(())
    }

    async fn issue_confirmation(
        &self,
        user_id: &UserId,
        email: &str,
    ) -> Result<(String, DateTime<Utc>)> {
        let token = nanoid::nanoid!(32);
        let now = Utc::now();
        let expires_at = now + Duration::hours(self.config().confirm_link_hours.max(1) as i64);
        self.store()
            .insert_email_confirmation(user_id, email, &sha256_hex(&token), expires_at, now)
            .await?;
        Ok((token, expires_at))
    }

    /// A confirmation link for the account's own address, for an operator to pass on
    /// (`taina user confirm-link`): printed, not mailed.
    pub async fn confirm_link_for(&self, user_id: &UserId) -> Result<(String, DateTime<Utc>)> {
        let user = self.user(user_id).await?;
        let (token, expires_at) = self.issue_confirmation(&user.id, &user.email).await?;
        Ok((self.mail().confirm_link(&token), expires_at))
    }

    /// An admin sends a member whose address is unconfirmed a new confirmation link: mailed
    /// when mail is configured, else returned for the admin to hand over.
    pub async fn send_confirmation_link(
        &self,
        admin: &Principal,
        user_id: &UserId,
    ) -> Result<ConfirmDelivery> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        if target.email_confirmed {
            return Err(AuthError::Invalid(format!(
                "{} is confirmed already",
                target.email
            )));
        }
        let mail = self.mail();
        if mail.sends() {
            let community = self.community(&target.community_id).await?;
            let (token, expires_at) = self.issue_confirmation(&target.id, &target.email).await?;
            mail.send_confirmation(&target.email, &community.name, &token, expires_at, false);
            return Ok(ConfirmDelivery::Mailed {
                to: target.email,
                expires_at,
            });
        }
        let (link, expires_at) = self.confirm_link_for(&target.id).await?;
        Ok(ConfirmDelivery::Shown { link, expires_at })
    }

    /// `POST /api/auth/email/confirm/resend`: like a reset request (the same limits, the same
    /// answer whatever the address), a new confirmation link for each unconfirmed account of
    /// `email` that may sign in, mailed from a task of its own.
    pub async fn request_confirmation_resend(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let email: String = email.trim().to_lowercase().chars().take(256).collect();
        if let Err(e) = self.reset_limits().check(client.ip.as_deref(), &email) {
            let reason = format!("confirmation link requests for {email}");
            self.report(SecurityNote::new(
                AuthSecurityKind::RateLimited,
                client,
                reason,
            ));
            return Err(e);
        }
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.mail_confirmation_resends(&email).await {
                tracing::warn!(error = %e, "confirmation link request: no link sent");
            }
        });
        Ok(())
    }

    /// The work of [`request_confirmation_resend`](Self::request_confirmation_resend): how
    /// many links went out.
    pub(super) async fn mail_confirmation_resends(&self, email: &str) -> Result<usize> {
        let Ok(email) = normalize_email(email) else {
            return Ok(0);
        };
        let mut sent = 0;
        for row in self.store().users_by_email(&email, None).await? {
            if row.email_confirmed_at.is_some()
                || row.disabled_at.is_some()
                || row.deleted_at.is_some()
            {
                continue;
            }
            let user = row.to_user()?;
            let community = self.community(&user.community_id).await?;
            self.mail_confirmation(&user, &user.email, &community.name, false)
                .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// `POST /api/auth/email`: after the current password, mails a link to `new_email`; the
    /// address changes when it is opened. An address already used in the community is
    /// `email_taken` now (and again at confirmation, should it have been taken since).
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        current_password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let row = self
            .check_current_password(principal, current_password, client)
            .await?;
        let new_email = normalize_email(new_email)?;
        if new_email == row.email {
            return Err(AuthError::Invalid(
                "that is already the account's email address".into(),
            ));
        }
        if self
            .store()
            .email_in_use(&row.community_id, &new_email)
            .await?
        {
            return Err(AuthError::EmailTaken);
        }
        let user = row.to_user()?;
        let community = self.community(&user.community_id).await?;
        self.mail_confirmation(&user, &new_email, &community.name, true)
            .await?;
        self.mail()
            .send_change_notice(&user.email, &new_email, &community.name);
        Ok(())
    }

    /// `POST /api/auth/email/confirm`: confirms the address a token was mailed to; for a change,
    /// the account's email becomes that address. The account.
    pub async fn confirm_email(&self, token: &str) -> Result<User> {
        let before_hash = sha256_hex(token.trim());
        let (user_id, changed) = self
            .store()
            .use_email_confirmation(&before_hash, Utc::now())
            .await?
            .ok_or(AuthError::ConfirmationInvalid)?;
        // The principal (and its email) of every session is cached.
        self.cache().forget_user(&user_id);
        let user = self.user(&user_id).await?;
        self.bus()
            .publish(AuthEvent::email_confirmed(&user, changed));
        if changed {
            let note = SecurityNote::new(
                AuthSecurityKind::EmailChanged,
                &ClientInfo::default(),
                format!("now {}", user.email),
            )
            .about(&user.id, &user.community_id);
            self.report(note);
        }
        Ok(user)
    }
}

impl AuthStore {
    pub async fn insert_email_confirmation(
        &self,
        user_id: &UserId,
        email: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query(
            "INSERT INTO email_confirmations (id, user_id, email, token_hash, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(nanoid::nanoid!())
        .bind(user_id)
        .bind(email)
        .bind(token_hash)
        .bind(expires_at)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    pub async fn mark_email_confirmed(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<()> {
        query("UPDATE users SET email_confirmed_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Whether a live account of the community has this address.
    pub async fn email_in_use(&self, community_id: &CommunityId, email: &str) -> Result<bool> {
        let n: i64 =
            query_scalar("SELECT COUNT(*) FROM users WHERE community_id = $1 AND email = $2")
                .bind(community_id)
                .bind(email)
                .fetch_one(self.db())
                .await?;
        Ok(n > 0)
    }

    /// Claims the token and sets the account's email (confirmed), in one transaction: the
    /// user and whether the address changed, or `None` for an unknown, expired or used token
    /// (or a removed account). An address taken meanwhile is `email_taken`, and the token
    /// stays unused.
    pub async fn use_email_confirmation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, bool)>> {
        let mut tx = self.db().begin().await?;
        let claimed: Option<Claimed> = query_as(
            "UPDATE email_confirmations SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id, email",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut tx)
        .await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let current: Option<String> =
            query_scalar("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(&claimed.user_id)
                .fetch_optional(&mut tx)
                .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        let updated = query(
            "UPDATE users SET email = $2, email_confirmed_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(&claimed.user_id)
        .bind(&claimed.email)
        .bind(now)
        .execute(&mut tx)
        .await;
        match updated {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(AuthError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(Some((claimed.user_id, current != claimed.email)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;
    use crate::contexts::auth::{Role, SignIn, SignUp};
    use crate::db::testing::{Fixture, PASSWORD};
    use crate::mail::Mailer;

    /// The token at the end of the only link in a letter.
    fn token_in(text: &str) -> String {
        let start = text.find("/admin/confirm/").expect("a confirmation link") + 15;
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .collect()
    }

    fn sign_in(email: &str, password: &str) -> SignIn {
        SignIn {
            email: email.into(),
            password: password.into(),
            community: None,
            otp: None,
        }
    }

    #[tokio::test]
    async fn sign_up_mails_a_link_and_sign_in_waits_for_it_when_required() {
        let fx = Fixture::with_auth_config(AuthConfig {
            require_confirmed_email: true,
            ..Fixture::auth_config()
        })
        .await;
        let mailer = Mailer::recording();
        fx.auth
            .set_mail(mailer.clone(), "https://home.example.org/");
        let client = ClientInfo::default();
        let signed_up = fx
            .auth
            .sign_up(
                SignUp {
                    email: "ana@example.org".into(),
                    password: PASSWORD.into(),
                    community_name: Some("Aldeia".into()),
                    invite_code: None,
                },
                &client,
            )
            .await
            .unwrap();
        assert!(!signed_up.user.email_confirmed);
        let letters = mailer.recorded();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0].to, "ana@example.org");
        assert!(letters[0]
            .text
            .contains("https://home.example.org/admin/confirm/"));
        let refused = fx
            .auth
            .sign_in(sign_in("ana@example.org", PASSWORD), &client)
            .await;
        assert!(
            matches!(refused, Err(AuthError::EmailUnconfirmed)),
            "{refused:?}"
        );
        // A wrong password still says only that.
        let wrong = fx
            .auth
            .sign_in(sign_in("ana@example.org", "wrong password"), &client)
            .await;
        assert!(
            matches!(wrong, Err(AuthError::InvalidCredentials)),
            "{wrong:?}"
        );

        let token = token_in(&letters[0].text);
        let user = fx.auth.confirm_email(&token).await.unwrap();
        assert!(user.email_confirmed);
        assert_eq!(user.email, "ana@example.org");
        fx.auth
            .sign_in(sign_in("ana@example.org", PASSWORD), &client)
            .await
            .unwrap();
        assert!(matches!(
            fx.auth.confirm_email(&token).await,
            Err(AuthError::ConfirmationInvalid)
        ));
        assert!(matches!(
            fx.auth.confirm_email("no such token").await,
            Err(AuthError::ConfirmationInvalid)
        ));
    }

    #[tokio::test]
    async fn a_new_address_counts_only_once_its_link_is_opened() {
        let fx = Fixture::new().await;
        let mailer = Mailer::recording();
        fx.auth.set_mail(mailer.clone(), "https://home.example.org");
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        mailer.recorded();
        let client = ClientInfo::default();

        let wrong = fx
            .auth
            .request_email_change(&member, "new@example.org", "not it", &client)
            .await;
        assert!(matches!(wrong, Err(AuthError::WrongPassword)), "{wrong:?}");
        let taken = fx
            .auth
            .request_email_change(&member, "Admin@Example.org", PASSWORD, &client)
            .await;
        assert!(matches!(taken, Err(AuthError::EmailTaken)), "{taken:?}");
        assert!(mailer.recorded().is_empty());

        fx.auth
            .request_email_change(&member, "new@example.org", PASSWORD, &client)
            .await
            .unwrap();
        let letters = mailer.recorded();
        let to: Vec<&str> = letters.iter().map(|l| l.to.as_str()).collect();
        assert_eq!(
            to,
            ["new@example.org", "member@example.org"],
            "the link, then the notice"
        );
        assert!(
            !letters[1].text.contains("/admin/confirm/"),
            "no link to the old address"
        );
        // Nothing changed yet.
        assert_eq!(
            fx.auth.user(&member.user_id).await.unwrap().email,
            "member@example.org"
        );
        fx.auth
            .sign_in(sign_in("member@example.org", PASSWORD), &client)
            .await
            .unwrap();

        let user = fx
            .auth
            .confirm_email(&token_in(&letters[0].text))
            .await
            .unwrap();
        assert_eq!(user.email, "new@example.org");
        fx.auth
            .sign_in(sign_in("new@example.org", PASSWORD), &client)
            .await
            .unwrap();
        assert!(matches!(
            fx.auth
                .sign_in(sign_in("member@example.org", PASSWORD), &client)
                .await,
            Err(AuthError::InvalidCredentials)
        ));

        // Taken between the request and the click: refused, the link still unused.
        fx.auth
            .request_email_change(&member, "late@example.org", PASSWORD, &client)
            .await
            .unwrap();
        let token = token_in(&mailer.recorded()[0].text);
        fx.auth
            .request_email_change(&admin, "late@example.org", PASSWORD, &client)
            .await
            .unwrap();
        let admins = token_in(&mailer.recorded()[0].text);
        fx.auth.confirm_email(&admins).await.unwrap();
        assert!(matches!(
            fx.auth.confirm_email(&token).await,
            Err(AuthError::EmailTaken)
        ));
    }

    #[tokio::test]
    async fn a_new_link_goes_to_unconfirmed_accounts_only_and_an_admin_can_hand_one_over() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        // No mail attached yet: the admin gets the link to hand over.
        match fx
            .auth
            .send_confirmation_link(&admin, &member.user_id)
            .await
            .unwrap()
        {
            ConfirmDelivery::Shown { link, .. } => {
                let token = token_in(&link);
                assert!(fx.auth.confirm_email(&token).await.unwrap().email_confirmed);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fx.auth
                .send_confirmation_link(&admin, &member.user_id)
                .await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            fx.auth
                .send_confirmation_link(&member, &admin.user_id)
                .await,
            Err(AuthError::Forbidden)
        ));
        let mailer = Mailer::recording();
        fx.auth.set_mail(mailer.clone(), "https://home.example.org");
        assert_eq!(
            fx.auth
                .mail_confirmation_resends("member@example.org")
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.auth
                .mail_confirmation_resends("nobody@example.org")
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.auth
                .mail_confirmation_resends("Admin@example.org")
                .await
                .unwrap(),
            1
        );
        let letters = mailer.recorded();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].to, "admin@example.org");
        match fx
            .auth
            .send_confirmation_link(&admin, &admin.user_id)
            .await
            .unwrap()
        {
            ConfirmDelivery::Mailed { to, .. } => assert_eq!(to, "admin@example.org"),
            other => panic!("{other:?}"),
        }
        assert_eq!(mailer.recorded().len(), 1);
    }
}
