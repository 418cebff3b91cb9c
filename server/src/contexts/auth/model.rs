//! Auth's domain types: roles, users, communities, the principal a request acts as.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::ids::{CommunityId, SessionId, UserId};

/// What a user may do in their community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Guest,
    /// Not a person: a smart-home device agent signed in with a device token
    /// (`contexts/automation`). It may join its own `device:{id}` and nothing else; no user
    /// has this role.
    Device,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
            Role::Device => "device",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "guest" => Ok(Role::Guest),
            other => Err(AuthError::Invalid(format!(
                "role `{other}` is not one of admin, member, guest"
            ))),
        }
    }
}

/// A user as other code and clients see it (never the password hash or TOTP secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub community_id: CommunityId,
    pub display_name: Option<String>,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    /// Disabled by an admin: sign-in is refused until they enable it again.
    #[serde(default)]
    pub disabled: bool,
    /// The address was confirmed by its link (or the account predates confirmation, or an
    /// operator made it).
    #[serde(default)]
    pub email_confirmed: bool,
}

impl User {
    /// The server acting as this user on its own (an operator's CLI command, a rule), named
    /// `on_behalf` where a session id would be: the services check roles and communities on a
    /// principal as for a signed-in request.
    pub fn acting_as(&self, on_behalf: &str) -> Principal {
        Principal {
            user_id: self.id.clone(),
            community_id: self.community_id.clone(),
            role: self.role,
            session_id: on_behalf.into(),
            email: self.email.clone(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub slug: String,
}

/// Who may sign up to a community without an invite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Anyone may sign up (naming the community, or on an instance with one community).
    Open,
    /// Sign-up needs an invite code (the default).
    #[default]
    InviteOnly,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::InviteOnly => "invite_only",
        }
    }
}

impl FromStr for Registration {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Registration::Open),
            "invite_only" => Ok(Registration::InviteOnly),
            other => Err(AuthError::Invalid(format!(
                "registration `{other}` is not one of open, invite_only"
            ))),
        }
    }
}

/// A community's settings as its admins edit them: the name and slug (columns of
/// `communities`) and what `communities.settings` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommunitySettings {
    pub id: CommunityId,
    pub name: String,
    pub slug: String,
    /// A BCP 47 language tag (`pt-BR`, `en`): what clients show by default.
    pub default_language: String,
    pub registration: Registration,
}

/// What an admin changes; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityChanges {
    pub name: Option<String>,
    /// Slugified before it is stored (`Aldeia Nova` → `aldeia-nova`).
    pub slug: Option<String>,
    pub default_language: Option<String>,
    pub registration: Option<Registration>,
}

/// The signed-in user a request acts as, established from a verified token and its live session.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    pub community_id: CommunityId,
    pub role: Role,
    pub session_id: SessionId,
    pub email: String,
    /// When the session (and its token) expires; live sockets close then.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// Refuses with `forbidden` unless the principal holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// Where a request came from; feeds rate limits and the session row.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub community_name: Option<String>,
    pub invite_code: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignedUp {
    pub user: User,
    pub community: Community,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// Community name or id; needed only when the email exists in several communities.
    pub community: Option<String>,
    /// A TOTP code or a recovery code, once two-factor is on.
    pub otp: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    pub role: Option<Role>,
    pub max_uses: Option<u32>,
    pub expires_in_hours: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CreatedInvite {
    /// Shown once: only its hash is stored.
    pub code: String,
    pub role: Role,
    pub max_uses: u32,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TotpEnabled {
    pub enabled: bool,
    /// Shown once; each works a single time in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// Lower-cases and trims an email and checks its rough shape.
pub fn normalize_email(raw: &str) -> Result<String, AuthError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(AuthError::Invalid("email is not a valid address".into()))
    }
}

/// Checks a BCP 47 language tag's shape (`pt`, `pt-BR`, `zh-Hant-TW`) and returns it trimmed.
pub fn language_tag(raw: &str) -> Result<String, AuthError> {
    let tag = raw.trim();
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let valid = tag.len() <= 35
        && (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if valid {
        Ok(tag.to_string())
    } else {
        Err(AuthError::Invalid(format!(
            "`{tag}` is not a language tag such as `en` or `pt-BR`"
        )))
    }
}

/// `Vacation 2025!` → `vacation-2025`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("community");
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ana@Example.ORG ").unwrap(),
            "ana@example.org"
        );
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("a@b@c").is_err());
        assert!(normalize_email("a b@c").is_err());
        assert!(normalize_email("@c").is_err());
    }

    #[test]
    fn language_tags_are_checked() {
        assert_eq!(language_tag(" pt-BR ").unwrap(), "pt-BR");
        assert_eq!(language_tag("zh-Hant-TW").unwrap(), "zh-Hant-TW");
        for bad in ["", "p", "portuguese", "pt_BR", "pt-", "12"] {
            assert!(language_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slugify("Vacation 2025!"), "vacation-2025");
        assert_eq!(slugify("  --  "), "community");
        assert_eq!(slugify("Aldeia Tainá"), "aldeia-tainá");
    }
}
