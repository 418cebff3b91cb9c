//! Auth's GraphQL part: `me`, `signIn`, `signOut`. Thin: the rules live in `AuthService`.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::{AuthError, AuthService, Role, SignIn, User};
use crate::graphql::{principal, Caller, GqlError};

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Role")]
pub enum GqlRole {
    Admin,
    Member,
    Guest,
}

impl From<Role> for GqlRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => GqlRole::Admin,
            Role::Member => GqlRole::Member,
            // Devices never reach GraphQL (`graphql::principal` refuses them).
            Role::Guest | Role::Device => GqlRole::Guest,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "User")]
pub struct GqlUser {
    id: String,
    email: String,
    role: GqlRole,
    community_id: String,
    display_name: Option<String>,
    totp_enabled: bool,
    created_at: DateTime<Utc>,
}

impl From<User> for GqlUser {
    fn from(user: User) -> Self {
        GqlUser {
            id: user.id.into(),
            email: user.email,
            role: user.role.into(),
            community_id: user.community_id.into(),
            display_name: user.display_name,
            totp_enabled: user.totp_enabled,
            created_at: user.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct SignInPayload {
    token: String,
    expires_at: DateTime<Utc>,
    user: GqlUser,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<GqlUser> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<AuthService>()
            .user(&principal.user_id)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Same rules as `POST /api/auth/signin` (rate limits, TOTP, the same error codes).
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        community: Option<String>,
        otp: Option<String>,
    ) -> Result<SignInPayload> {
        let client = ctx
            .data::<Caller>()
            .map(|c| c.client.clone())
            .unwrap_or_default();
        let signed_in = ctx
            .data_unchecked::<AuthService>()
            .sign_in(
                SignIn {
                    email,
                    password,
                    community,
                    otp,
                },
                &client,
            )
            .await?;
        Ok(SignInPayload {
            token: signed_in.token,
            expires_at: signed_in.expires_at,
            user: signed_in.user.into(),
        })
    }

    /// Over the socket: hands the socket a fresh token of the same user; the socket moves to
    /// that session and keeps its subscriptions (and joins, on a mux socket). Returns when the
    /// new session expires.
    async fn refresh_token(&self, ctx: &Context<'_>, token: String) -> Result<DateTime<Utc>> {
        let current = principal(ctx)?;
        let socket = ctx
            .data::<Caller>()
            .ok()
            .and_then(|c| c.socket.clone())
            .ok_or_else(|| AuthError::Invalid("refreshToken works over the socket only".into()))?;
        let fresh = ctx
            .data_unchecked::<AuthService>()
            .authenticate(&token)
            .await?;
        if fresh.user_id != current.user_id {
            return Err(AuthError::Forbidden.into());
        }
        socket.hub.move_session(&socket.conn, &fresh.session_id);
        let expires_at = fresh.expires_at;
        socket.refreshed.hand_over(fresh, token);
        Ok(expires_at)
    }

    /// Ends the caller's session; its token (and live sockets) stop working.
    async fn sign_out(&self, ctx: &Context<'_>) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<AuthService>()
            .sign_out(principal)
            .await?;
        Ok(true)
    }
}
