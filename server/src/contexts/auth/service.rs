//! `AuthService`: sign-up, sign-in, sessions, invites, TOTP and roles. The only way other code
//! (HTTP handlers, the CLI, later the socket) reaches auth.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::AuthConfig;
use crate::db::Db;
use crate::events::EventBus;
use crate::ids::{CommunityId, InviteId, SessionId, UserId};

use super::events::AuthEvent;
use super::mail::AccountMail;
use super::model::{normalize_email, slugify};
use super::rate_limit::AttemptLimiter;
use super::secret_cipher::SecretCipher;
use super::security::{AuthSecurityKind, SecurityLog, SecurityLogSlot, SecurityNote};
use super::session_cache::SessionCache;
use super::store::{AuthStore, NewInviteRow, NewSession, NewUser, UserRow};
use super::token::{sha256_hex, Claims, TokenKeys};
use super::{
    password, totp, AuthError, ClientInfo, Community, CreatedInvite, NewInvite, Principal, Role,
    SignIn, SignUp, SignedIn, SignedUp, TotpEnabled, TotpSetup, User,
};
use crate::mail::Mailer;

pub(super) type Result<T, E = AuthError> = std::result::Result<T, E>;

/// Cheap to clone; every clone shares the same cache, limiters and keys.
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    store: AuthStore,
    keys: TokenKeys,
    /// Seals TOTP secrets at rest; its key derives from the same server secret as `keys`.
    cipher: SecretCipher,
    cache: SessionCache,
    signin_limits: AttemptLimiter,
    signup_limits: AttemptLimiter,
    /// Password reset requests by email, per address and email.
    reset_limits: AttemptLimiter,
    /// Checks of the current password (changing it or the email, deleting the account), per
    /// address and account.
    password_limits: AttemptLimiter,
    /// Reset and confirmation letters, once attached ([`AuthService::set_mail`]); until then
    /// they go to the log.
    mail: std::sync::OnceLock<AccountMail>,
    bus: Arc<dyn EventBus>,
    config: AuthConfig,
    /// Hash verified against when the email is unknown, so both failures cost the same time.
    decoy_hash: String,
    hasher: password::Hasher,
    /// Where sign-ins, refused tokens and admin actions are reported, once attached.
    security: SecurityLogSlot,
}

impl AuthService {
    pub async fn new(
        db: Db,
        keys: TokenKeys,
        cipher: SecretCipher,
        bus: Arc<dyn EventBus>,
        config: AuthConfig,
    ) -> Result<Self> {
        // As many hashing threads as cores.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hasher = password::Hasher::new(threads)
            .map_err(|e| AuthError::Internal(format!("cannot start password hashing: {e}")))?;
        let decoy_hash = hasher.hash(nanoid::nanoid!(32)).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: AuthStore::new(db),
                keys,
                cipher,
                cache: SessionCache::new(Duration::from_secs(config.session_cache_seconds)),
                signin_limits: AttemptLimiter::per_minute(config.signin_per_minute),
                signup_limits: AttemptLimiter::per_minute(config.signup_per_minute),
                reset_limits: AttemptLimiter::per_hour(config.password_reset_per_hour),
                password_limits: AttemptLimiter::per_minute(config.signin_per_minute),
                mail: std::sync::OnceLock::new(),
                bus,
                config,
                decoy_hash,
                hasher,
                security: SecurityLogSlot::new(),
            }),
        })
    }

    /// Checks the password policy and hashes it (argon2, on the hasher's threads).
    pub(super) async fn hash_new_password(&self, password: &str) -> Result<String> {
        password::check_policy(password)?;
        self.inner.hasher.hash(password.to_owned()).await
    }

    pub(super) fn store(&self) -> &AuthStore {
        &self.inner.store
    }

    pub(super) fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    pub(super) fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }

    pub(super) fn cache(&self) -> &SessionCache {
        &self.inner.cache
    }

    pub(super) fn reset_limits(&self) -> &AttemptLimiter {
        &self.inner.reset_limits
    }

    /// Attaches outgoing mail and the base URL of the links in it (once; later calls are
    /// ignored). Until then letters are written to the log.
    pub fn set_mail(&self, mailer: Mailer, link_base_url: &str) {
        let _ = self.inner.mail.set(AccountMail::new(mailer, link_base_url));
    }

    /// The attached mail, or (until then) the log with links relative to `http://localhost`.
    pub(super) fn mail(&self) -> AccountMail {
        self.inner
            .mail
            .get()
            .cloned()
            .unwrap_or_else(|| AccountMail::new(Mailer::log_only(), "http://localhost"))
    }

    /// Checks `current` against the account's password, limited per client address and
    /// account; a wrong one is `wrong_password` and goes to the security log like a failed
    /// sign-in.
    pub(super) async fn check_current_password(
        &self,
        principal: &Principal,
        current: &str,
        client: &ClientInfo,
    ) -> Result<UserRow> {
        if let Err(e) = self
            .inner
            .password_limits
            .check(client.ip.as_deref(), principal.user_id.as_str())
        {
            let note = SecurityNote::new(
                AuthSecurityKind::RateLimited,
                client,
                "current password checks",
            )
            .about(&principal.user_id, &principal.community_id);
            self.report(note);
            return Err(e);
        }
        let row = self
            .store()
            .user(&principal.user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        let right = current.len() <= password::MAX_BYTES
            && self
                .inner
                .hasher
                .verify(current.to_owned(), row.password_hash.clone())
                .await;
        if !right {
            let note = SecurityNote::new(
                AuthSecurityKind::SigninFailed,
                client,
                format!("current password for {}", row.email),
            )
            .about(&row.id, &row.community_id);
            self.report(note);
            return Err(AuthError::WrongPassword);
        }
        Ok(row)
    }

    /// Attaches the security log (once; later calls are ignored). Until then nothing is
    /// reported: one-shot commands and unit tests run without one.
    pub fn set_security_log(&self, log: Arc<dyn SecurityLog>) {
        let _ = self.inner.security.set(log);
    }

    pub(super) fn report(&self, note: SecurityNote) {
        if let Some(log) = self.inner.security.get() {
            log.record(note);
        }
    }

    /// The first sign-up on an empty instance creates the community and becomes its admin;
    /// after that an invite code is required and decides the role.
    #[tracing::instrument(skip_all, fields(email = %request.email))]
    pub async fn sign_up(&self, request: SignUp, client: &ClientInfo) -> Result<SignedUp> {
        let email = normalize_email(&request.email)?;
        if let Err(e) = self.inner.signup_limits.check(client.ip.as_deref(), &email) {
            let reason = format!("sign-up attempts for {email}");
            self.report(SecurityNote::new(
                AuthSecurityKind::RateLimited,
                client,
                reason,
            ));
            return Err(e);
        }
        password::check_policy(&request.password)?;
        let password_hash = self.inner.hasher.hash(request.password).await?;
        let now = Utc::now();
        let user_id = UserId::new();
        let new_user = NewUser {
            id: &user_id,
            email: &email,
            password_hash: &password_hash,
            role: Role::Admin,
            now,
        };

        let invite_code = request
            .invite_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let community_id = match invite_code {
            Some(code) => {
                let (community_id, _role) = self
                    .store()
                    .sign_up_with_invite(&sha256_hex(code), &new_user)
                    .await?;
                community_id
            }
            None => {
                let name = request
                    .community_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&self.inner.config.default_community_name);
                let community = new_community(name)?;
                match self
                    .store()
                    .create_first_community(&community, &new_user)
                    .await?
                {
                    Some(()) => community.id,
                    None => {
                        let open = self
                            .open_community(request.community_name.as_deref())
                            .await?;
                        let community_id = open.ok_or(AuthError::InviteRequired)?;
                        let member = NewUser {
                            role: Role::Member,
                            ..new_user
                        };
                        self.store().insert_user(&community_id, &member).await?;
                        community_id
                    }
                }
            }
        };
        let user = self.user(&user_id).await?;
        let community = self
            .store()
            .community(&community_id)
            .await?
            .ok_or(AuthError::NotFound("community"))?;
        self.inner.bus.publish(AuthEvent::signed_up(&user));
        self.mail_confirmation(&user, &user.email, &community.name, false)
            .await?;
        Ok(SignedUp {
            user,
            community: community.into(),
        })
    }

    /// Checks the password (and the one-time code once TOTP is on) and opens a session.
    /// Successes and failures go to the security log.
    #[tracing::instrument(skip_all, fields(email = %request.email))]
    pub async fn sign_in(&self, request: SignIn, client: &ClientInfo) -> Result<SignedIn> {
        let email: String = request
            .email
            .trim()
            .to_lowercase()
            .chars()
            .take(256)
            .collect();
        let result = self.check_sign_in(request, client).await;
        let (kind, reason) = match &result {
            Ok(signed_in) => {
                let user = &signed_in.user;
                let note = SecurityNote::new(AuthSecurityKind::SigninSucceeded, client, "")
                    .about(&user.id, &user.community_id);
                self.report(note);
                return result;
            }
            Err(AuthError::InvalidCredentials) => (AuthSecurityKind::SigninFailed, "password"),
            Err(AuthError::InvalidOtp) => (AuthSecurityKind::OtpFailed, "one-time code"),
            Err(AuthError::RateLimited { .. }) => (AuthSecurityKind::RateLimited, "sign-in"),
            // Not failures of the client's (`otp_required` is the first step with TOTP).
            Err(_) => return result,
        };
        self.report(SecurityNote::new(
            kind,
            client,
            format!("{reason} for {email}"),
        ));
        result
    }

    async fn check_sign_in(&self, request: SignIn, client: &ClientInfo) -> Result<SignedIn> {
        // An invalid email is reported like any failed sign-in: no hint about accounts.
        let email =
            normalize_email(&request.email).unwrap_or_else(|_| request.email.trim().to_lowercase());
        self.inner
            .signin_limits
            .check(client.ip.as_deref(), &email)?;
        if request.password.len() > password::MAX_BYTES {
            return Err(AuthError::InvalidCredentials);
        }

        let community_id = match request
            .community
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(wanted) => match self.store().find_community(wanted).await? {
                Some(c) => Some(c.id),
                None => {
                    self.burn_decoy(&request.password).await;
                    return Err(AuthError::InvalidCredentials);
                }
            },
            None => None,
        };
        let candidates = self
            .store()
            .users_by_email(&email, community_id.as_ref())
            .await?;
        if candidates.is_empty() {
            self.burn_decoy(&request.password).await;
            return Err(AuthError::InvalidCredentials);
        }
        let mut matched: Vec<UserRow> = Vec::with_capacity(1);
        for row in candidates {
            if self
                .inner
                .hasher
                .verify(request.password.clone(), row.password_hash.clone())
                .await
            {
                matched.push(row);
            }
        }
        let row = match matched.len() {
            0 => return Err(AuthError::InvalidCredentials),
            1 => matched.remove(0),
            _ => return Err(AuthError::CommunityRequired),
        };
        // Only after the right password: a guesser learns nothing about the account.
        if row.deleted_at.is_some() {
            return Err(AuthError::InvalidCredentials);
        }
        if row.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        if self.inner.config.require_confirmed_email && row.email_confirmed_at.is_none() {
            return Err(AuthError::EmailUnconfirmed);
        }
        if row.totp_enabled {
            self.check_second_factor(&row, request.otp.as_deref())
                .await?;
        }
        self.open_session(&row, client).await
    }

    async fn burn_decoy(&self, password: &str) {
        let _ = self
            .inner
            .hasher
            .verify(password.to_string(), self.inner.decoy_hash.clone())
            .await;
    }

    async fn check_second_factor(&self, row: &UserRow, otp: Option<&str>) -> Result<()> {
        let otp = otp
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .ok_or(AuthError::OtpRequired)?;
        let now = Utc::now();
        if totp::is_recovery_code(otp) {
            let hash = sha256_hex(&otp.to_lowercase());
            return match self.store().use_recovery_code(&row.id, &hash, now).await? {
                true => Ok(()),
                false => Err(AuthError::InvalidOtp),
            };
        }
        let secret = row.totp_secret.as_deref().ok_or(AuthError::InvalidOtp)?;
        // A secret that no longer opens (the server secret was replaced) is the operator's
        // problem, not a wrong code: an internal error, logged with the user's id; recovery
        // codes (checked above) still work.
        let secret = self.inner.cipher.open(row.id.as_str(), secret)?;
        let generator = totp::build(&secret, &self.inner.config.totp_issuer, &row.email)?;
        let step = totp::matching_step(&generator, otp).ok_or(AuthError::InvalidOtp)?;
        match self.store().claim_totp_step(&row.id, step).await? {
            true => Ok(()),
            false => Err(AuthError::InvalidOtp),
        }
    }

    async fn open_session(&self, row: &UserRow, client: &ClientInfo) -> Result<SignedIn> {
        let user = row.to_user()?;
        let now = Utc::now();
        let expires_at = now + chrono::Duration::hours(self.inner.config.token_ttl_hours as i64);
        let session_id = SessionId::new();
        let token = self.inner.keys.issue(&Claims {
            sub: user.id.clone(),
            cid: user.community_id.clone(),
            role: user.role.as_str().to_string(),
            sid: session_id.clone(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        })?;
        self.store()
            .insert_session(&NewSession {
                id: &session_id,
                user_id: &user.id,
                token_hash: &sha256_hex(&token),
                user_agent: client.user_agent.as_deref(),
                ip_address: client.ip.as_deref(),
                created_at: now,
                expires_at,
            })
            .await?;
        self.store().touch_login(&user.id, now).await?;
        self.inner
            .bus
            .publish(AuthEvent::signed_in(&user, &session_id));
        Ok(SignedIn {
            token,
            // The JWT carries whole seconds; report exactly what it says.
            expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at),
            user,
        })
    }

    /// [`authenticate`](Self::authenticate) for a request from `client`: a refused token
    /// (expired, revoked, tampered) goes to the security log.
    pub async fn authenticate_from(&self, token: &str, client: &ClientInfo) -> Result<Principal> {
        let result = self.authenticate(token).await;
        if let Err(
            e @ (AuthError::InvalidToken | AuthError::TokenExpired | AuthError::SessionRevoked),
        ) = &result
        {
            let note = SecurityNote::new(AuthSecurityKind::TokenRefused, client, e.to_string());
            self.report(note);
        }
        result
    }

    /// Verifies a bearer token and its live session. Revoked, expired or forged tokens fail.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let claims = self.inner.keys.verify(token)?;
        let token_hash = sha256_hex(token);
        let now = Utc::now();
        if let Some(principal) = self.inner.cache.get(&token_hash, now) {
            return Ok(principal);
        }
        let session = self
            .store()
            .session(&token_hash)
            .await?
            .ok_or(AuthError::SessionRevoked)?;
        if session.revoked_at.is_some() {
            return Err(AuthError::SessionRevoked);
        }
        if session.expires_at <= now {
            return Err(AuthError::TokenExpired);
        }
        if session.session_id != claims.sid || session.user_id != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        let principal = Principal {
            user_id: session.user_id,
            community_id: session.community_id,
            role: session.role.parse()?,
            session_id: session.session_id,
            email: session.email,
            expires_at: session.expires_at,
        };
        self.inner
            .cache
            .insert(token_hash, principal.clone(), session.expires_at);
        Ok(principal)
    }

    /// Ends the principal's session: its token is refused from now on.
    pub async fn sign_out(&self, principal: &Principal) -> Result<()> {
        self.store()
            .revoke_session(&principal.session_id, Utc::now())
            .await?;
        self.inner.cache.forget_session(&principal.session_id);
        self.inner.bus.publish(AuthEvent::signed_out(principal));
        Ok(())
    }

    pub async fn user(&self, user_id: &UserId) -> Result<User> {
        self.store()
            .user(user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?
            .to_user()
    }

    /// Admins and members invite; only admins may hand out the admin role.
    pub async fn create_invite(&self, by: &Principal, request: NewInvite) -> Result<CreatedInvite> {
        by.require(&[Role::Admin, Role::Member])?;
        let role = request.role.unwrap_or(Role::Member);
        if role == Role::Admin {
            by.require(&[Role::Admin])?;
        }
        let max_uses = request.max_uses.unwrap_or(1);
        let reported = SecurityNote::new(
            AuthSecurityKind::InviteCreated,
            &ClientInfo::default(),
            format!("role {role}, up to {max_uses} use(s)"),
        )
        .about(&by.user_id, &by.community_id);
        if !(1..=10_000).contains(&max_uses) {
            return Err(AuthError::Invalid(
                "max_uses must be between 1 and 10000".into(),
            ));
        }
        let hours = request
            .expires_in_hours
            .unwrap_or(self.inner.config.invite_default_hours);
        if hours == 0 || hours > self.inner.config.invite_max_hours {
            return Err(AuthError::Invalid(format!(
                "expires_in_hours must be between 1 and {}",
                self.inner.config.invite_max_hours
            )));
        }
        let now = Utc::now();
        let expires_at = now + chrono::Duration::hours(hours as i64);
        let code = nanoid::nanoid!(24);
        self.store()
            .insert_invite(&NewInviteRow {
                id: &InviteId::new(),
                community_id: &by.community_id,
                code_hash: &sha256_hex(&code),
                role,
                created_by: &by.user_id,
                max_uses: max_uses as i32,
                expires_at,
                now,
            })
            .await?;
        self.report(reported);
        Ok(CreatedInvite {
            code,
            role,
            max_uses,
            expires_at,
        })
    }

    /// Starts (or restarts, while not yet enabled) TOTP enrolment.
    pub async fn totp_setup(&self, principal: &Principal) -> Result<TotpSetup> {
        let row = self
            .store()
            .user(&principal.user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        if row.totp_enabled {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let secret = totp::new_secret();
        let generator = totp::build(&secret, &self.inner.config.totp_issuer, &row.email)?;
        let sealed = self.inner.cipher.seal(row.id.as_str(), &secret)?;
        self.store()
            .set_totp_secret(&row.id, &sealed, Utc::now())
            .await?;
        Ok(TotpSetup {
            otpauth_uri: totp::uri(&generator)?,
            secret,
        })
    }

    /// Turns TOTP on once the user proves their app produces the right codes.
    pub async fn totp_enable(&self, principal: &Principal, code: &str) -> Result<TotpEnabled> {
        let row = self
            .store()
            .user(&principal.user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        if row.totp_enabled {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let secret = row.totp_secret.as_deref().ok_or(AuthError::TotpNotSetUp)?;
        let secret = self.inner.cipher.open(row.id.as_str(), secret)?;
        let generator = totp::build(&secret, &self.inner.config.totp_issuer, &row.email)?;
        let step = totp::matching_step(&generator, code).ok_or(AuthError::InvalidOtp)?;
        let recovery_codes = totp::new_recovery_codes();
        let hashes: Vec<String> = recovery_codes.iter().map(|c| sha256_hex(c)).collect();
        self.store()
            .enable_totp(&row.id, step, &hashes, Utc::now())
            .await?;
        Ok(TotpEnabled {
            enabled: true,
            recovery_codes,
        })
    }

    /// Seals the TOTP secrets still stored in plaintext (written before secrets were sealed);
    /// returns how many. Idempotent, and safe beside a running server.
    pub async fn seal_plaintext_totp_secrets(&self) -> Result<usize> {
        let mut sealed = 0;
        for (user_id, plain) in self.store().unsealed_totp_secrets().await? {
            let new = self.inner.cipher.seal(user_id.as_str(), &plain)?;
            if self
                .store()
                .replace_totp_secret(&user_id, &plain, &new)
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Users of the admin's own community.
    pub async fn list_community_users(&self, admin: &Principal) -> Result<Vec<User>> {
        admin.require(&[Role::Admin])?;
        self.list_users(Some(&admin.community_id)).await
    }

    /// Changes the role of a user of the admin's own community; takes effect on the next request.
    pub async fn change_role(
        &self,
        admin: &Principal,
        user_id: &UserId,
        role: Role,
    ) -> Result<User> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        let user = self.set_role(user_id, role).await?;
        self.report_admin_action(
            admin,
            AuthSecurityKind::RoleChanged,
            format!("{} ({}) is now {role}", user.email, user.id),
        );
        Ok(user)
    }

    pub(super) fn report_admin_action(
        &self,
        admin: &Principal,
        kind: AuthSecurityKind,
        reason: String,
    ) {
        let note = SecurityNote::new(kind, &ClientInfo::default(), reason)
            .about(&admin.user_id, &admin.community_id);
        self.report(note);
    }

    /// Revokes every session of a user of the admin's own community.
    pub async fn revoke_sessions_of(&self, admin: &Principal, user_id: &UserId) -> Result<u64> {
        admin.require(&[Role::Admin])?;
        let target = self.user(user_id).await?;
        if target.community_id != admin.community_id {
            return Err(AuthError::NotFound("user"));
        }
        let revoked = self.revoke_all_sessions(user_id).await?;
        self.report_admin_action(
            admin,
            AuthSecurityKind::SessionsRevoked,
            format!("{revoked} session(s) of {} ({})", target.email, target.id),
        );
        Ok(revoked)
    }

    // ---- operator operations (the CLI), not scoped to a principal ----

    /// Creates a user with a role directly, creating the community if it does not exist.
    pub async fn create_user(
        &self,
        email: &str,
        password: String,
        role: Role,
        community_name: &str,
    ) -> Result<User> {
        let email = normalize_email(email)?;
        password::check_policy(&password)?;
        let community_name = community_name.trim();
        if community_name.is_empty() {
            return Err(AuthError::Invalid(
                "community name must not be empty".into(),
            ));
        }
        let password_hash = self.inner.hasher.hash(password).await?;
        let now = Utc::now();
        let community = self
            .store()
            .ensure_community(&new_community(community_name)?, now)
            .await?;
        let user_id = UserId::new();
        self.store()
            .insert_user(
                &community.id,
                &NewUser {
                    id: &user_id,
                    email: &email,
                    password_hash: &password_hash,
                    role,
                    now,
                },
            )
            .await?;
        // An operator vouches for the address.
        self.store().mark_email_confirmed(&user_id, now).await?;
        self.user(&user_id).await
    }

    pub async fn list_users(&self, community_id: Option<&CommunityId>) -> Result<Vec<User>> {
        self.store()
            .list_users(community_id)
            .await?
            .iter()
            .map(UserRow::to_user)
            .collect()
    }

    /// Resolves `email` (optionally within a community given by name or id) to one user.
    pub async fn find_user(&self, email: &str, community: Option<&str>) -> Result<User> {
        let email = normalize_email(email)?;
        let community_id = match community {
            Some(c) => Some(
                self.store()
                    .find_community(c)
                    .await?
                    .ok_or(AuthError::NotFound("community"))?
                    .id,
            ),
            None => None,
        };
        let mut rows = self
            .store()
            .users_by_email(&email, community_id.as_ref())
            .await?;
        match rows.len() {
            0 => Err(AuthError::NotFound("user")),
            1 => rows.remove(0).to_user(),
            _ => Err(AuthError::CommunityRequired),
        }
    }

    /// The community's storage quota in bytes (`storage_quota_gb`).
    pub async fn storage_quota_bytes(&self, community_id: &CommunityId) -> Result<u64> {
        let gb = self
            .store()
            .storage_quota_gb(community_id)
            .await?
            .ok_or(AuthError::NotFound("community"))?;
        Ok(gb.max(0) as u64 * 1024 * 1024 * 1024)
    }

    /// A community by id (operator: export).
    pub async fn community(&self, id: &CommunityId) -> Result<Community> {
        Ok(self
            .store()
            .community(id)
            .await?
            .ok_or(AuthError::NotFound("community"))?
            .into())
    }

    /// The id of the community whose URL slug is `slug`.
    pub async fn community_id_by_slug(&self, slug: &str) -> Result<Option<CommunityId>> {
        self.store().community_id_by_slug(slug).await
    }

    /// The instance's community when it has exactly one (what a single-community server's
    /// devices belong to).
    pub async fn sole_community(&self) -> Result<Option<CommunityId>> {
        let mut ids = self.store().first_two_communities().await?;
        Ok((ids.len() == 1).then(|| ids.remove(0)))
    }

    /// The id of a community given by name or id.
    pub async fn find_community_id(&self, name_or_id: &str) -> Result<CommunityId> {
        Ok(self
            .store()
            .find_community(name_or_id)
            .await?
            .ok_or(AuthError::NotFound("community"))?
            .id)
    }

    pub async fn set_role(&self, user_id: &UserId, role: Role) -> Result<User> {
        self.store().set_role(user_id, role, Utc::now()).await?;
        self.inner.cache.forget_user(user_id);
        let user = self.user(user_id).await?;
        self.inner.bus.publish(AuthEvent::role_changed(&user, role));
        Ok(user)
    }

    pub async fn revoke_all_sessions(&self, user_id: &UserId) -> Result<u64> {
        let revoked = self
            .store()
            .revoke_user_sessions(user_id, Utc::now())
            .await?;
        self.inner.cache.forget_user(user_id);
        self.inner
            .bus
            .publish(AuthEvent::sessions_revoked(user_id, revoked));
        Ok(revoked)
    }

    /// Watches `user_sessions` for revocations made by other processes (the CLI, another
    /// node) and publishes `session.revoked` for each, so live sockets end within about
    /// `interval`. Runs until the service is dropped.
    pub fn spawn_revocation_watcher(&self, interval: Duration) {
        let service = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut since = Utc::now();
            let mut seen: std::collections::HashMap<SessionId, DateTime<Utc>> = Default::default();
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = service.upgrade() else {
                    return;
                };
                // Look back a little: a revocation committed just before the previous poll
                // may carry a slightly older timestamp.
                let window_start = since - chrono::Duration::seconds(5);
                let now = Utc::now();
                match inner.store.revoked_since(window_start).await {
                    Ok(revoked) => {
                        for (session_id, user_id, revoked_at) in revoked {
                            if seen.insert(session_id.clone(), revoked_at).is_none() {
                                inner.cache.forget_session(&session_id);
                                inner
                                    .bus
                                    .publish(AuthEvent::session_revoked(&user_id, &session_id));
                            }
                        }
                        since = now;
                        seen.retain(|_, at| *at >= window_start);
                    }
                    Err(e) => tracing::warn!(error = %e, "revocation watcher: query failed"),
                }
            }
        });
    }
}

fn new_community(name: &str) -> Result<Community> {
    if name.chars().count() > 100 {
        return Err(AuthError::Invalid(
            "community name must be at most 100 characters".into(),
        ));
    }
    Ok(Community {
        id: CommunityId::new(),
        name: name.to_string(),
        slug: slugify(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query;
    use crate::db::testing::{Fixture, PASSWORD};

    fn sign_up(email: &str, invite_code: Option<&str>) -> SignUp {
        SignUp {
            email: email.into(),
            password: PASSWORD.into(),
            community_name: None,
            invite_code: invite_code.map(Into::into),
        }
    }

    fn sign_in(email: &str, password: &str, community: Option<&str>) -> SignIn {
        SignIn {
            email: email.into(),
            password: password.into(),
            community: community.map(Into::into),
            otp: None,
        }
    }

    fn invite(role: Role) -> NewInvite {
        NewInvite {
            role: Some(role),
            ..NewInvite::default()
        }
    }

    #[tokio::test]
    async fn the_first_sign_up_creates_the_community_and_later_ones_need_an_invite() {
        let fx = Fixture::new().await;
        let client = ClientInfo::default();
        let first = fx
            .auth
            .sign_up(sign_up("Admin@Example.org ", None), &client)
            .await
            .unwrap();
        assert_eq!(first.user.role, Role::Admin);
        assert_eq!(first.user.email, "admin@example.org");
        assert_eq!(first.community.name, "Home");
        assert_eq!(first.user.community_id, first.community.id);

        let later = fx
            .auth
            .sign_up(sign_up("bob@example.org", None), &client)
            .await;
        assert!(matches!(later, Err(AuthError::InviteRequired)), "{later:?}");
        let unknown = fx
            .auth
            .sign_up(sign_up("bob@example.org", Some("no-such-code")), &client)
            .await;
        assert!(
            matches!(unknown, Err(AuthError::InviteInvalid)),
            "{unknown:?}"
        );
        assert_eq!(fx.auth.list_users(None).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_invite_decides_the_community_and_the_role() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let code = fx
            .auth
            .create_invite(&admin, invite(Role::Guest))
            .await
            .unwrap()
            .code;
        let guest = fx
            .auth
            .sign_up(
                sign_up("guest@example.org", Some(&code)),
                &ClientInfo::default(),
            )
            .await
            .unwrap();
        assert_eq!(guest.user.role, Role::Guest);
        assert_eq!(guest.community.id, admin.community_id);
        // Invites are single-use unless they say otherwise.
        let again = fx
            .auth
            .sign_up(
                sign_up("other@example.org", Some(&code)),
                &ClientInfo::default(),
            )
            .await;
        assert!(matches!(again, Err(AuthError::InviteUsedUp)), "{again:?}");
    }

    #[tokio::test]
    async fn only_admins_invite_admins_and_guests_invite_no_one() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let guest = fx.invited(&admin, "guest@example.org", Role::Guest).await;

        fx.auth
            .create_invite(&admin, invite(Role::Admin))
            .await
            .unwrap();
        fx.auth
            .create_invite(&member, invite(Role::Member))
            .await
            .unwrap();
        let by_member = fx.auth.create_invite(&member, invite(Role::Admin)).await;
        assert!(
            matches!(by_member, Err(AuthError::Forbidden)),
            "{by_member:?}"
        );
        let by_guest = fx.auth.create_invite(&guest, invite(Role::Guest)).await;
        assert!(
            matches!(by_guest, Err(AuthError::Forbidden)),
            "{by_guest:?}"
        );
        for (max_uses, expires_in_hours) in [(Some(0), None), (None, Some(0))] {
            let request = NewInvite {
                max_uses,
                expires_in_hours,
                ..NewInvite::default()
            };
            let refused = fx.auth.create_invite(&admin, request).await;
            assert!(matches!(refused, Err(AuthError::Invalid(_))), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_email_fail_alike() {
        let fx = Fixture::new().await;
        fx.sign_up("admin@example.org", None).await;
        let client = ClientInfo::default();
        for attempt in [
            sign_in("admin@example.org", "wrong password", None),
            sign_in("nobody@example.org", PASSWORD, None),
            sign_in("admin@example.org", PASSWORD, Some("No Such Community")),
        ] {
            let refused = fx.auth.sign_in(attempt, &client).await;
            assert!(
                matches!(refused, Err(AuthError::InvalidCredentials)),
                "{refused:?}"
            );
        }
        let signed_in = fx
            .auth
            .sign_in(
                sign_in(" ADMIN@example.org", PASSWORD, Some("Home")),
                &client,
            )
            .await
            .unwrap();
        assert_eq!(signed_in.user.role, Role::Admin);
    }

    #[tokio::test]
    async fn an_email_in_two_communities_needs_the_community() {
        let fx = Fixture::new().await;
        fx.sign_up("pat@example.org", None).await;
        fx.auth
            .create_user(
                "pat@example.org",
                PASSWORD.into(),
                Role::Member,
                "Elsewhere",
            )
            .await
            .unwrap();
        let client = ClientInfo::default();
        let ambiguous = fx
            .auth
            .sign_in(sign_in("pat@example.org", PASSWORD, None), &client)
            .await;
        assert!(
            matches!(ambiguous, Err(AuthError::CommunityRequired)),
            "{ambiguous:?}"
        );
        let chosen = fx
            .auth
            .sign_in(
                sign_in("pat@example.org", PASSWORD, Some("Elsewhere")),
                &client,
            )
            .await
            .unwrap();
        assert_eq!(chosen.user.role, Role::Member);
    }

    #[tokio::test]
    async fn roles_change_by_an_admin_of_the_same_community_keeping_one_admin() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let outsider_user = fx
            .auth
            .create_user(
                "boss@example.org",
                PASSWORD.into(),
                Role::Admin,
                "Elsewhere",
            )
            .await
            .unwrap();
        let outsider = fx.sign_in(&outsider_user.email).await;

        let last = fx
            .auth
            .change_role(&admin, &admin.user_id, Role::Member)
            .await;
        assert!(matches!(last, Err(AuthError::LastAdmin)), "{last:?}");
        let by_member = fx
            .auth
            .change_role(&member, &member.user_id, Role::Admin)
            .await;
        assert!(
            matches!(by_member, Err(AuthError::Forbidden)),
            "{by_member:?}"
        );
        let across = fx
            .auth
            .change_role(&outsider, &member.user_id, Role::Guest)
            .await;
        assert!(
            matches!(across, Err(AuthError::NotFound("user"))),
            "{across:?}"
        );

        let promoted = fx
            .auth
            .change_role(&admin, &member.user_id, Role::Admin)
            .await
            .unwrap();
        assert_eq!(promoted.role, Role::Admin);
        fx.auth
            .change_role(&admin, &admin.user_id, Role::Member)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn signing_out_and_revoking_end_sessions() {
        let fx = Fixture::new().await;
        fx.sign_up("admin@example.org", None).await;
        let client = ClientInfo::default();
        let mut tokens = Vec::new();
        for _ in 0..3 {
            let signed_in = fx
                .auth
                .sign_in(sign_in("admin@example.org", PASSWORD, None), &client)
                .await
                .unwrap();
            tokens.push(signed_in.token);
        }
        let first = fx.auth.authenticate(&tokens[0]).await.unwrap();
        fx.auth.sign_out(&first).await.unwrap();
        let out = fx.auth.authenticate(&tokens[0]).await;
        assert!(matches!(out, Err(AuthError::SessionRevoked)), "{out:?}");
        // The others still work (and are cached) until revoked all at once: these two and
        // the fixture's own.
        let second = fx.auth.authenticate(&tokens[1]).await.unwrap();
        assert_eq!(
            fx.auth.revoke_all_sessions(&second.user_id).await.unwrap(),
            3
        );
        for token in &tokens[1..] {
            let revoked = fx.auth.authenticate(token).await;
            assert!(
                matches!(revoked, Err(AuthError::SessionRevoked)),
                "{revoked:?}"
            );
        }
        let forged = fx.auth.authenticate("not.a.token").await;
        assert!(forged.is_err());
    }

    #[tokio::test]
    async fn an_expired_session_is_refused_and_revoking_is_scoped_to_the_community() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let signed_in = fx
            .auth
            .sign_in(
                sign_in("member@example.org", PASSWORD, None),
                &ClientInfo::default(),
            )
            .await
            .unwrap();
        query("UPDATE user_sessions SET expires_at = $1 WHERE token_hash = $2")
            .bind(Utc::now() - chrono::Duration::minutes(1))
            .bind(sha256_hex(&signed_in.token))
            .execute(&fx.db)
            .await
            .unwrap();
        let expired = fx.auth.authenticate(&signed_in.token).await;
        assert!(
            matches!(expired, Err(AuthError::TokenExpired)),
            "{expired:?}"
        );

        let by_member = fx.auth.revoke_sessions_of(&member, &admin.user_id).await;
        assert!(
            matches!(by_member, Err(AuthError::Forbidden)),
            "{by_member:?}"
        );
        let boss = fx
            .auth
            .create_user(
                "boss@example.org",
                PASSWORD.into(),
                Role::Admin,
                "Elsewhere",
            )
            .await
            .unwrap();
        let boss = fx.sign_in(&boss.email).await;
        let across = fx.auth.revoke_sessions_of(&boss, &member.user_id).await;
        assert!(
            matches!(across, Err(AuthError::NotFound("user"))),
            "{across:?}"
        );
        // The member's two sessions: the fixture's, and the expired one (not yet revoked).
        let revoked = fx
            .auth
            .revoke_sessions_of(&admin, &member.user_id)
            .await
            .unwrap();
        assert_eq!(revoked, 2);
    }
}
