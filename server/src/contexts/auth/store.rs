//! All of auth's SQL, each statement next to its single caller. One dialect-neutral string per
//! statement, run on whichever backend is active ([`crate::db::query`]).

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use crate::db::{is_unique_violation, query, query_as, query_scalar, Db, Target};
use crate::ids::{CommunityId, InviteId, SessionId, UserId};

use super::{AuthError, Community, Role, User};

type Result<T, E = AuthError> = std::result::Result<T, E>;

#[derive(Debug, Clone, FromRow)]
pub(super) struct UserRow {
    pub id: UserId,
    pub community_id: CommunityId,
    pub email: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub role: String,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str = "id, community_id, email, password_hash, display_name, role, \
                            totp_secret, totp_enabled, created_at, disabled_at, \
                            email_confirmed_at, deleted_at";

impl UserRow {
    pub fn role(&self) -> Result<Role> {
        self.role.parse()
    }

    pub fn to_user(&self) -> Result<User> {
        Ok(User {
            id: self.id.clone(),
            email: self.email.clone(),
            role: self.role()?,
            community_id: self.community_id.clone(),
            display_name: self.display_name.clone(),
            totp_enabled: self.totp_enabled,
            created_at: self.created_at,
            disabled: self.disabled_at.is_some(),
            email_confirmed: self.email_confirmed_at.is_some(),
        })
    }
}

#[derive(Debug, Clone, FromRow)]
pub(super) struct CommunityRow {
    pub id: CommunityId,
    pub name: String,
    pub slug: String,
}

impl From<CommunityRow> for Community {
    fn from(row: CommunityRow) -> Self {
        Community {
            id: row.id,
            name: row.name,
            slug: row.slug,
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub(super) struct SessionRow {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub community_id: CommunityId,
    pub email: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A sign-in session as an admin sees it.
#[derive(Debug, FromRow)]
pub(super) struct DeviceSessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub email: String,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An invite as an admin sees it (never its code, which is stored hashed).
#[derive(Debug, FromRow)]
pub(super) struct InviteListRow {
    pub id: InviteId,
    pub role: String,
    pub uses: i32,
    pub max_uses: i32,
    pub expires_at: DateTime<Utc>,
    pub created_by_email: Option<String>,
}

/// A user about to be inserted (the password already hashed).
pub(super) struct NewUser<'a> {
    pub id: &'a UserId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub now: DateTime<Utc>,
}

pub(super) struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user_id: &'a UserId,
    pub token_hash: &'a str,
    pub user_agent: Option<&'a str>,
    pub ip_address: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub(super) struct NewInviteRow<'a> {
    pub id: &'a InviteId,
    pub community_id: &'a CommunityId,
    pub code_hash: &'a str,
    pub role: Role,
    pub created_by: &'a UserId,
    pub max_uses: i32,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[derive(FromRow)]
struct InviteState {
    uses: i32,
    max_uses: i32,
    expires_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ClaimedInvite {
    community_id: CommunityId,
    role: String,
}

#[derive(Clone)]
pub(super) struct AuthStore {
    db: Db,
}

impl AuthStore {
    /// The pool, for the account-state queries kept next to their service (`accounts.rs`).
    pub(super) fn db(&self) -> &Db {
        &self.db
    }
}

impl AuthStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates the instance's first community with `user` as its admin, unless a community
    /// already exists (then returns `None` and writes nothing).
    pub async fn create_first_community(
        &self,
        community: &Community,
        user: &NewUser<'_>,
    ) -> Result<Option<()>> {
        let mut tx = self.db.begin().await?;
        // SQLite serialises writers: the first write statement takes the lock. Under READ
        // COMMITTED two first sign-ups could both see an empty table; on PostgreSQL a
        // transaction-scoped advisory lock makes the check-and-insert atomic.
        if tx.is_postgres() {
            query("SELECT pg_advisory_xact_lock(7261001)")
                .execute(&mut tx)
                .await?;
        }
        let inserted = query(
            "INSERT INTO communities (id, name, slug, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM communities)",
        )
        .bind(&community.id)
        .bind(&community.name)
        .bind(&community.slug)
        .bind(user.now)
        .execute(&mut tx)
        .await?;
        if inserted == 0 {
            return Ok(None);
        }
        insert_user(&mut tx, &community.id, user).await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// Finds a community by name, or creates it (used by `taina user create`).
    pub async fn ensure_community(
        &self,
        community: &Community,
        now: DateTime<Utc>,
    ) -> Result<CommunityRow> {
        if let Some(found) = self.find_community(&community.name).await? {
            return Ok(found);
        }
        let inserted = query(
            "INSERT INTO communities (id, name, slug, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&community.id)
        .bind(&community.name)
        .bind(&community.slug)
        .bind(now)
        .execute(&self.db)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                // Lost a race on the name, or the slug is taken by a differently written name.
                return self
                    .find_community(&community.name)
                    .await?
                    .ok_or(AuthError::CommunityTaken);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(CommunityRow {
            id: community.id.clone(),
            name: community.name.clone(),
            slug: community.slug.clone(),
        })
    }

    pub async fn storage_quota_gb(&self, community_id: &CommunityId) -> Result<Option<i32>> {
        let quota = query_scalar("SELECT storage_quota_gb FROM communities WHERE id = $1")
            .bind(community_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(quota)
    }

    /// By id, or else by exact name.
    pub async fn find_community(&self, name_or_id: &str) -> Result<Option<CommunityRow>> {
        let row = query_as(
            "SELECT id, name, slug FROM communities WHERE id = $1 OR name = $1 \
             ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(name_or_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row)
    }

    /// At most two communities' ids (enough to tell whether there is exactly one).
    pub async fn first_two_communities(&self) -> Result<Vec<CommunityId>> {
        let ids = query_scalar("SELECT id FROM communities ORDER BY created_at, id LIMIT 2")
            .fetch_all(&self.db)
            .await?;
        Ok(ids)
    }

    pub async fn community_id_by_slug(&self, slug: &str) -> Result<Option<CommunityId>> {
        let id = query_scalar("SELECT id FROM communities WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.db)
            .await?;
        Ok(id)
    }

    pub async fn community(&self, id: &CommunityId) -> Result<Option<CommunityRow>> {
        let row = query_as("SELECT id, name, slug FROM communities WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row)
    }

    pub async fn insert_user(&self, community_id: &CommunityId, user: &NewUser<'_>) -> Result<()> {
        insert_user(&self.db, community_id, user).await
    }

    /// Consumes one use of the invite and creates the user in one transaction: if the user
    /// cannot be created (email taken) the invite keeps its use.
    pub async fn sign_up_with_invite(
        &self,
        code_hash: &str,
        user: &NewUser<'_>,
    ) -> Result<(CommunityId, Role)> {
        let mut tx = self.db.begin().await?;
        let claimed: Option<ClaimedInvite> = query_as(
            "UPDATE community_invites SET uses = uses + 1 \
             WHERE code_hash = $1 AND uses < max_uses AND expires_at > $2 \
             RETURNING community_id, role",
        )
        .bind(code_hash)
        .bind(user.now)
        .fetch_optional(&mut tx)
        .await?;
        let Some(claimed) = claimed else {
            let state: Option<InviteState> = query_as(
                "SELECT uses, max_uses, expires_at FROM community_invites WHERE code_hash = $1",
            )
            .bind(code_hash)
            .fetch_optional(&mut tx)
            .await?;
            return Err(match state {
                None => AuthError::InviteInvalid,
                Some(s) if s.expires_at <= user.now => AuthError::InviteExpired,
                Some(s) if s.uses >= s.max_uses => AuthError::InviteUsedUp,
                Some(_) => AuthError::InviteInvalid,
            });
        };
        let role: Role = claimed.role.parse()?;
        let user = NewUser { role, ..*user };
        insert_user(&mut tx, &claimed.community_id, &user).await?;
        tx.commit().await?;
        Ok((claimed.community_id, role))
    }

    pub async fn users_by_email(
        &self,
        email: &str,
        community_id: Option<&CommunityId>,
    ) -> Result<Vec<UserRow>> {
        let rows = match community_id {
            Some(cid) => {
                query_as(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND community_id = $2"
                )))
                .bind(email)
                .bind(cid)
                .fetch_all(&self.db)
                .await
            }
            None => {
                query_as(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = $1 ORDER BY created_at"
                )))
                .bind(email)
                .fetch_all(&self.db)
                .await
            }
        };
        Ok(rows?)
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<UserRow>> {
        let row = query_as(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row)
    }

    /// Users of one community, or of every community, oldest first.
    pub async fn list_users(&self, community_id: Option<&CommunityId>) -> Result<Vec<UserRow>> {
        let rows = match community_id {
            Some(cid) => {
                query_as(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE community_id = $1 \
                     AND deleted_at IS NULL ORDER BY created_at, id"
                )))
                .bind(cid)
                .fetch_all(&self.db)
                .await
            }
            None => {
                query_as(AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL \
                     ORDER BY community_id, created_at, id"
                )))
                .fetch_all(&self.db)
                .await
            }
        };
        Ok(rows?)
    }

    /// Changes a role, refusing to demote a community's last admin.
    pub async fn set_role(&self, user_id: &UserId, role: Role, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let current: Option<(String, CommunityId)> =
            query_as("SELECT role, community_id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut tx)
                .await?;
        let Some((current, community_id)) = current else {
            return Err(AuthError::NotFound("user"));
        };
        if current == Role::Admin.as_str() && role != Role::Admin {
            let admins: i64 = query_scalar(
                "SELECT COUNT(*) FROM users WHERE community_id = $1 AND role = 'admin'",
            )
            .bind(&community_id)
            .fetch_one(&mut tx)
            .await?;
            if admins <= 1 {
                return Err(AuthError::LastAdmin);
            }
        }
        query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn touch_login(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<()> {
        query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    pub async fn insert_session(&self, session: &NewSession<'_>) -> Result<()> {
        query(
            "INSERT INTO user_sessions \
             (id, user_id, token_hash, user_agent, ip_address, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.token_hash)
        .bind(session.user_agent)
        .bind(session.ip_address)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The session a token hash belongs to, with its user's current role.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        let row = query_as(
            "SELECT s.id AS session_id, u.id AS user_id, u.community_id, u.email, u.role, \
                    s.expires_at, s.revoked_at \
             FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(row)
    }

    pub async fn revoke_session(&self, session_id: &SessionId, now: DateTime<Utc>) -> Result<u64> {
        let done =
            query("UPDATE user_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(session_id)
                .bind(now)
                .execute(&self.db)
                .await?;
        Ok(done)
    }

    pub async fn revoke_user_sessions(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64> {
        let done = query(
            "UPDATE user_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(done)
    }

    /// Sessions revoked at or after `since`: (session id, user id, revoked at).
    pub async fn revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(SessionId, UserId, DateTime<Utc>)>> {
        let rows = query_as(
            "SELECT id, user_id, revoked_at FROM user_sessions \
             WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.db)
        .await?;
        Ok(rows)
    }

    /// The community's sessions, newest first: the live ones (`live_only`) or also the ended
    /// ones (recent sign-ins), at most `limit`.
    pub async fn community_sessions(
        &self,
        community_id: &CommunityId,
        live_only: bool,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DeviceSessionRow>> {
        let rows = query_as(
            "SELECT s.id, s.user_id, u.email, s.user_agent, s.ip_address, s.created_at, \
                    s.expires_at, s.revoked_at \
             FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE u.community_id = $1 \
               AND (NOT $2 OR (s.revoked_at IS NULL AND s.expires_at > $3)) \
             ORDER BY s.created_at DESC LIMIT $4",
        )
        .bind(community_id)
        .bind(live_only)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows)
    }

    /// Invites of the community still usable at `now`, newest first.
    pub async fn open_invites(
        &self,
        community_id: &CommunityId,
        now: DateTime<Utc>,
    ) -> Result<Vec<InviteListRow>> {
        let rows = query_as(
            "SELECT i.id, i.role, i.uses, i.max_uses, i.expires_at, u.email AS created_by_email \
             FROM community_invites i LEFT JOIN users u ON u.id = i.created_by \
             WHERE i.community_id = $1 AND i.expires_at > $2 AND i.uses < i.max_uses \
             ORDER BY i.created_at DESC",
        )
        .bind(community_id)
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        Ok(rows)
    }

    /// Ends an invite of the community now; false when there is no such invite.
    pub async fn expire_invite(
        &self,
        community_id: &CommunityId,
        invite_id: &InviteId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = query(
            "UPDATE community_invites SET expires_at = $3 \
             WHERE id = $1 AND community_id = $2 AND expires_at > $3",
        )
        .bind(invite_id)
        .bind(community_id)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(changed > 0)
    }

    pub async fn insert_invite(&self, invite: &NewInviteRow<'_>) -> Result<()> {
        query(
            "INSERT INTO community_invites \
             (id, community_id, code_hash, role, created_by, max_uses, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(invite.id)
        .bind(invite.community_id)
        .bind(invite.code_hash)
        .bind(invite.role.as_str())
        .bind(invite.created_by)
        .bind(invite.max_uses)
        .bind(invite.expires_at)
        .bind(invite.now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Stores a pending TOTP secret; it only counts once `enable_totp` runs.
    pub async fn set_totp_secret(
        &self,
        user_id: &UserId,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query(
            "UPDATE users SET totp_secret = $2, totp_enabled = FALSE, totp_last_step = NULL, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Users whose TOTP secret is stored as it was before secrets were sealed (no `v1:`
    /// prefix): (user id, plaintext secret).
    pub async fn unsealed_totp_secrets(&self) -> Result<Vec<(UserId, String)>> {
        let rows = query_as(
            "SELECT id, totp_secret FROM users \
             WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 'v1:%'",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows)
    }

    /// Replaces a stored TOTP secret by its sealed form, unless it changed meanwhile (a new
    /// setup by the running server wins); true when replaced.
    pub async fn replace_totp_secret(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let replaced =
            query("UPDATE users SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2")
                .bind(user_id)
                .bind(old)
                .bind(new)
                .execute(&self.db)
                .await?;
        Ok(replaced == 1)
    }

    /// Turns TOTP on, records the step just used, and replaces the recovery codes.
    pub async fn enable_totp(
        &self,
        user_id: &UserId,
        step: u64,
        code_hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query(
            "UPDATE users SET totp_enabled = TRUE, totp_last_step = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(step as i64)
        .bind(now)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM user_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        for hash in code_hashes {
            query(
                "INSERT INTO user_recovery_codes (id, user_id, code_hash, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(nanoid::nanoid!())
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records `step` as used; false when it (or a later one) was already used, so a code
    /// cannot be replayed.
    pub async fn claim_totp_step(&self, user_id: &UserId, step: u64) -> Result<bool> {
        let claimed = query(
            "UPDATE users SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user_id)
        .bind(step as i64)
        .execute(&self.db)
        .await?;
        Ok(claimed == 1)
    }

    /// Marks a recovery code used; false when it does not exist or was used before.
    pub async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let used = query(
            "UPDATE user_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(used >= 1)
    }
}

/// The one INSERT for users, shared by the first-community, invite and CLI paths, on the pool
/// or inside their transaction.
async fn insert_user<'c>(
    on: impl Into<Target<'c>>,
    community_id: &CommunityId,
    user: &NewUser<'_>,
) -> Result<()> {
    let result = query(
        "INSERT INTO users (id, community_id, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(user.id)
    .bind(community_id)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(user.now)
    .execute(on)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(AuthError::EmailTaken),
        Err(e) => Err(AuthError::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::contexts::auth::token::sha256_hex;
    use crate::db::testing::test_db;

    fn community(name: &str) -> Community {
        Community {
            id: CommunityId::new(),
            name: name.into(),
            slug: crate::contexts::auth::slugify(name),
        }
    }

    fn new_user<'a>(id: &'a UserId, email: &'a str, role: Role) -> NewUser<'a> {
        NewUser {
            id,
            email,
            password_hash: "not a real hash",
            role,
            now: Utc::now(),
        }
    }

    /// A store with a first community and its admin: (store, community id, admin id).
    async fn with_admin() -> (AuthStore, CommunityId, UserId) {
        let store = AuthStore::new(test_db().await);
        let home = community("Home");
        let admin = UserId::new();
        store
            .create_first_community(&home, &new_user(&admin, "admin@example.org", Role::Admin))
            .await
            .unwrap()
            .expect("the first community");
        (store, home.id, admin)
    }

    async fn invite(
        store: &AuthStore,
        community_id: &CommunityId,
        by: &UserId,
        max_uses: i32,
    ) -> String {
        invite_until(
            store,
            community_id,
            by,
            max_uses,
            Utc::now() + Duration::hours(1),
        )
        .await
    }

    /// Stores an invite; returns its code hash.
    async fn invite_until(
        store: &AuthStore,
        community_id: &CommunityId,
        by: &UserId,
        max_uses: i32,
        expires_at: DateTime<Utc>,
    ) -> String {
        let code_hash = nanoid::nanoid!(64);
        store
            .insert_invite(&NewInviteRow {
                id: &InviteId::new(),
                community_id,
                code_hash: &code_hash,
                role: Role::Guest,
                created_by: by,
                max_uses,
                expires_at,
                now: Utc::now(),
            })
            .await
            .unwrap();
        code_hash
    }

    async fn count(store: &AuthStore, table: &'static str) -> i64 {
        let sql = AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        query_scalar(sql).fetch_one(&store.db).await.unwrap()
    }

    #[tokio::test]
    async fn only_the_first_community_is_created_without_an_invite() {
        let store = AuthStore::new(test_db().await);
        let (a, b) = (UserId::new(), UserId::new());
        let (first, second) = (community("First"), community("Second"));
        let (user_a, user_b) = (
            new_user(&a, "a@example.org", Role::Admin),
            new_user(&b, "b@example.org", Role::Admin),
        );
        // Raced: exactly one wins, and the loser writes nothing.
        let (x, y) = tokio::join!(
            store.create_first_community(&first, &user_a),
            store.create_first_community(&second, &user_b),
        );
        let created = [x.unwrap(), y.unwrap()];
        assert_eq!(created.iter().flatten().count(), 1, "{created:?}");
        assert_eq!(count(&store, "communities").await, 1);
        assert_eq!(count(&store, "users").await, 1);
    }

    #[tokio::test]
    async fn an_invite_gives_its_community_and_role_until_used_up() {
        let (store, home, admin) = with_admin().await;
        let code = invite(&store, &home, &admin, 2).await;
        for email in ["one@example.org", "two@example.org"] {
            let id = UserId::new();
            // The role asked for is replaced by the invite's.
            let (community_id, role) = store
                .sign_up_with_invite(&code, &new_user(&id, email, Role::Admin))
                .await
                .unwrap();
            assert_eq!((community_id.as_str(), role), (home.as_str(), Role::Guest));
            assert_eq!(store.user(&id).await.unwrap().unwrap().role, "guest");
        }
        let id = UserId::new();
        let third = store
            .sign_up_with_invite(&code, &new_user(&id, "three@example.org", Role::Member))
            .await;
        assert!(matches!(third, Err(AuthError::InviteUsedUp)), "{third:?}");
        assert!(store.user(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_and_unknown_invites_are_refused() {
        let (store, home, admin) = with_admin().await;
        let past = Utc::now() - Duration::minutes(1);
        let expired = invite_until(&store, &home, &admin, 5, past).await;
        let id = UserId::new();
        let user = new_user(&id, "late@example.org", Role::Member);
        let late = store.sign_up_with_invite(&expired, &user).await;
        assert!(matches!(late, Err(AuthError::InviteExpired)), "{late:?}");
        let unknown = store.sign_up_with_invite("no such hash", &user).await;
        assert!(
            matches!(unknown, Err(AuthError::InviteInvalid)),
            "{unknown:?}"
        );
        assert_eq!(count(&store, "users").await, 1);
    }

    #[tokio::test]
    async fn a_taken_email_leaves_the_invite_unused() {
        let (store, home, admin) = with_admin().await;
        let code = invite(&store, &home, &admin, 1).await;
        let id = UserId::new();
        let taken = new_user(&id, "admin@example.org", Role::Member);
        let refused = store.sign_up_with_invite(&code, &taken).await;
        assert!(matches!(refused, Err(AuthError::EmailTaken)), "{refused:?}");
        // The one use is still there for someone else.
        let other = new_user(&id, "new@example.org", Role::Member);
        store.sign_up_with_invite(&code, &other).await.unwrap();
    }

    #[tokio::test]
    async fn the_last_admin_cannot_be_demoted() {
        let (store, home, admin) = with_admin().await;
        let refused = store.set_role(&admin, Role::Member, Utc::now()).await;
        assert!(matches!(refused, Err(AuthError::LastAdmin)), "{refused:?}");
        let second = UserId::new();
        store
            .insert_user(&home, &new_user(&second, "second@example.org", Role::Admin))
            .await
            .unwrap();
        store
            .set_role(&admin, Role::Member, Utc::now())
            .await
            .unwrap();
        assert_eq!(store.user(&admin).await.unwrap().unwrap().role, "member");
        // Now `second` is the last one.
        let refused = store.set_role(&second, Role::Guest, Utc::now()).await;
        assert!(matches!(refused, Err(AuthError::LastAdmin)), "{refused:?}");
        let missing = store
            .set_role(&UserId::new(), Role::Admin, Utc::now())
            .await;
        assert!(
            matches!(missing, Err(AuthError::NotFound("user"))),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn sessions_are_revoked_once_and_reported_since() {
        let (store, _, admin) = with_admin().await;
        let now = Utc::now();
        let ids: Vec<SessionId> = (0..3).map(|_| SessionId::new()).collect();
        for id in &ids {
            store
                .insert_session(&NewSession {
                    id,
                    user_id: &admin,
                    token_hash: &sha256_hex(id.as_str()),
                    user_agent: Some("tests"),
                    ip_address: None,
                    created_at: now,
                    expires_at: now + Duration::hours(1),
                })
                .await
                .unwrap();
        }
        assert_eq!(store.revoke_session(&ids[0], now).await.unwrap(), 1);
        assert_eq!(store.revoke_session(&ids[0], now).await.unwrap(), 0);
        // Only the two still live.
        assert_eq!(store.revoke_user_sessions(&admin, now).await.unwrap(), 2);
        let session = store
            .session(&sha256_hex(ids[1].as_str()))
            .await
            .unwrap()
            .unwrap();
        assert!(session.revoked_at.is_some());
        let mut revoked: Vec<SessionId> = store
            .revoked_since(now - Duration::seconds(1))
            .await
            .unwrap()
            .into_iter()
            .map(|(session, user, _)| {
                assert_eq!(user, admin);
                session
            })
            .collect();
        revoked.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(revoked, expected);
        let later = store
            .revoked_since(now + Duration::seconds(1))
            .await
            .unwrap();
        assert!(later.is_empty());
    }

    #[tokio::test]
    async fn totp_steps_and_recovery_codes_work_once() {
        let (store, _, admin) = with_admin().await;
        let codes = [sha256_hex("first"), sha256_hex("second")];
        store
            .enable_totp(&admin, 10, &codes, Utc::now())
            .await
            .unwrap();
        // Step 10 was used to enable; neither it nor an older one is accepted again.
        assert!(!store.claim_totp_step(&admin, 10).await.unwrap());
        assert!(!store.claim_totp_step(&admin, 9).await.unwrap());
        assert!(store.claim_totp_step(&admin, 11).await.unwrap());
        assert!(!store.claim_totp_step(&admin, 11).await.unwrap());
        for (code, accepted) in [
            ("first", true),
            ("first", false),
            ("third", false),
            ("second", true),
        ] {
            let used = store
                .use_recovery_code(&admin, &sha256_hex(code), Utc::now())
                .await
                .unwrap();
            assert_eq!(used, accepted, "{code}");
        }
    }
}
