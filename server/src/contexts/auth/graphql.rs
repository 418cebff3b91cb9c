//! Auth's GraphQL part: `me`, `community`, `signIn`, `signOut`, `refreshToken`, and the
//! account mutations (`changePassword`, `changeEmail`, `confirmEmail`, `deleteAccount`,
//! `requestPasswordReset`; admins: `removeMember`, `updateCommunity`). Thin: the rules live in
//! `AuthService`.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::{
    AuthError, AuthService, ClientInfo, CommunityChanges, CommunitySettings, Registration, Role,
    SignIn, User,
};
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

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Registration")]
pub enum GqlRegistration {
    Open,
    InviteOnly,
}

impl From<Registration> for GqlRegistration {
    fn from(registration: Registration) -> Self {
        match registration {
            Registration::Open => GqlRegistration::Open,
            Registration::InviteOnly => GqlRegistration::InviteOnly,
        }
    }
}

impl From<GqlRegistration> for Registration {
    fn from(registration: GqlRegistration) -> Self {
        match registration {
            GqlRegistration::Open => Registration::Open,
            GqlRegistration::InviteOnly => Registration::InviteOnly,
        }
    }
}

/// A community's settings (`PATCH /api/auth/community`).
#[derive(SimpleObject)]
#[graphql(name = "Community")]
pub struct GqlCommunity {
    id: String,
    name: String,
    slug: String,
    default_language: String,
    registration: GqlRegistration,
}

impl From<CommunitySettings> for GqlCommunity {
    fn from(settings: CommunitySettings) -> Self {
        GqlCommunity {
            id: settings.id.into(),
            name: settings.name,
            slug: settings.slug,
            default_language: settings.default_language,
            registration: settings.registration.into(),
        }
    }
}

fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data::<Caller>()
        .map(|c| c.client.clone())
        .unwrap_or_default()
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

    /// The caller's community and its settings.
    async fn community(&self, ctx: &Context<'_>) -> Result<GqlCommunity> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<AuthService>()
            .community_settings(principal)
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

    /// Same rules as `POST /api/auth/password`; returns how many other sessions ended.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
        #[graphql(default = false)] keep_other_sessions: bool,
    ) -> Result<u64> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<AuthService>()
            .change_password(
                principal,
                &current_password,
                &new_password,
                keep_other_sessions,
                &client(ctx),
            )
            .await?)
    }

    /// Same as `POST /api/auth/password/reset`: always `true` (the link goes by mail).
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        ctx.data_unchecked::<AuthService>()
            .request_password_reset(&email, &client(ctx))
            .await?;
        Ok(true)
    }

    /// Same as `POST /api/auth/email`: a link goes to the new address.
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        new_email: String,
        current_password: String,
    ) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<AuthService>()
            .request_email_change(principal, &new_email, &current_password, &client(ctx))
            .await?;
        Ok(true)
    }

    /// Same as `POST /api/auth/email/confirm`.
    async fn confirm_email(&self, ctx: &Context<'_>, token: String) -> Result<GqlUser> {
        Ok(ctx
            .data_unchecked::<AuthService>()
            .confirm_email(&token)
            .await?
            .into())
    }

    /// Same as `DELETE /api/auth/account`: the caller's account is removed.
    async fn delete_account(&self, ctx: &Context<'_>, current_password: String) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<AuthService>()
            .delete_own_account(principal, &current_password, &client(ctx))
            .await?;
        Ok(true)
    }

    /// Admins: same as `DELETE /api/auth/users/{id}`.
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<AuthService>()
            .remove_member(principal, &user_id.to_string().into())
            .await?;
        Ok(true)
    }

    /// Admins: same as `PATCH /api/auth/community`; absent arguments stay as they are.
    async fn update_community(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        slug: Option<String>,
        default_language: Option<String>,
        registration: Option<GqlRegistration>,
    ) -> Result<GqlCommunity> {
        let principal = principal(ctx)?;
        let changes = CommunityChanges {
            name,
            slug,
            default_language,
            registration: registration.map(Into::into),
        };
        Ok(ctx
            .data_unchecked::<AuthService>()
            .update_community(principal, changes)
            .await?
            .into())
    }
}
