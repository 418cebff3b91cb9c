//! View models: the plain data each page renders. The server fills them from its services;
//! the views never reach past them. Times are preformatted strings (the server picks the
//! format and time zone), sizes are bytes, rates are per second.

/// The panel's pages, in navigation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Overview,
    People,
    Activity,
    Alerts,
    Maintenance,
}

impl Page {
    pub const ALL: [Page; 5] = [
        Page::Overview,
        Page::People,
        Page::Activity,
        Page::Alerts,
        Page::Maintenance,
    ];

    /// The page's name in URLs and in the live socket's `?page=`.
    pub fn slug(self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::People => "people",
            Page::Activity => "activity",
            Page::Alerts => "alerts",
            Page::Maintenance => "maintenance",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|page| page.slug() == slug)
    }

    pub fn title(self) -> &'static str {
        match self {
            Page::Overview => "Overview",
            Page::People => "People",
            Page::Activity => "Activity",
            Page::Alerts => "Alerts",
            Page::Maintenance => "Maintenance",
        }
    }

    /// Where the page lives.
    pub fn path(self) -> String {
        match self {
            Page::Overview => "/admin".to_owned(),
            other => format!("/admin/{}", other.slug()),
        }
    }
}

/// What every signed-in page shares: who is signed in and the token its forms carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shell {
    pub admin_email: String,
    pub community_name: String,
    pub csrf_token: String,
    pub version: String,
    /// A message to show once, after a form posted without JavaScript redirected here.
    pub flash: Option<Flash>,
}

/// The outcome of an action, shown above the page's content.
#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
    /// Something to copy (an invite link), shown in full.
    pub detail: Option<String>,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
            detail: None,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
            detail: None,
        }
    }
}

/// The sign-in form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignIn {
    pub csrf_token: String,
    pub email: String,
    pub error: Option<String>,
}

/// The page an email confirmation link opens: one button, so that a mail scanner following
/// the link confirms nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfirmForm {
    pub csrf_token: String,
    pub error: Option<String>,
    /// The confirmed address, once confirmed.
    pub confirmed: Option<String>,
}

/// The page a password reset link opens (mailed, made by an admin, or printed by the CLI).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResetForm {
    pub csrf_token: String,
    pub error: Option<String>,
    /// The new password was set.
    pub done: bool,
}

/// The overview's figures, sampled by the server about once a second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    pub version: String,
    pub uptime_seconds: u64,
    /// Sockets open now per protocol mode (`phoenix`, `graphql`, `mux`).
    pub sockets_by_mode: Vec<(String, u64)>,
    pub users_online: u64,
    pub messages_per_second: f64,
    pub deliveries_per_second: f64,
    pub outbox_bytes: u64,
    pub slow_consumer_closes: u64,
    pub rate_limit_closes: u64,
    pub resident_bytes: u64,
    pub cpu_percent: f64,
    pub open_files: u64,
    pub open_files_limit: u64,
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub jobs_queued: u64,
    pub jobs_failed: u64,
    /// The last minutes of a few figures, oldest first, for sparklines.
    pub history: Vec<Series>,
}

impl Overview {
    pub fn sockets_total(&self) -> u64 {
        self.sockets_by_mode.iter().map(|(_, n)| n).sum()
    }
}

/// One figure over time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Stable, id-safe key (`sockets`, `messages`, …).
    pub key: String,
    pub label: String,
    pub points: Vec<f64>,
}

/// Communities, members and invites.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct People {
    pub communities: Vec<CommunityRow>,
    pub users: Vec<UserRow>,
    pub invites: Vec<InviteRow>,
    /// The search the user list is filtered by (email or name, case-insensitive).
    pub search: String,
    /// The admin's community's settings, for its form.
    pub settings: CommunitySettingsForm,
}

/// What the community settings form shows and posts (`/admin/community`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommunitySettingsForm {
    pub name: String,
    pub slug: String,
    /// A BCP 47 tag (`pt-BR`).
    pub default_language: String,
    /// `open` or `invite_only`.
    pub registration: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommunityRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub members: u64,
    pub online: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub last_seen: Option<String>,
    /// Sockets open now.
    pub online_sockets: u64,
    pub sessions: Vec<SessionRow>,
    /// The signed-in admin's own row (no revoking or demoting yourself from here).
    pub is_you: bool,
    /// Disabled by an admin: no sign-in until enabled again.
    pub disabled: bool,
    /// The address is not confirmed yet (its sign-up or change link was not opened).
    pub unconfirmed: bool,
    /// WebDAV app passwords (one per device), newest first.
    pub app_passwords: Vec<AppPasswordRow>,
}

/// An app password of a user: its name and when it was made and last used (never the secret).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppPasswordRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
}

/// A live sign-in session of a user (one per device that signed in).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionRow {
    pub device: String,
    pub address: String,
    pub signed_in: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct InviteRow {
    pub id: String,
    pub role: String,
    pub uses: u64,
    pub max_uses: u64,
    pub expires: String,
    pub created_by: Option<String>,
}

/// What happens in each community (counts and sizes, never content) and who signed in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    pub communities: Vec<CommunityActivity>,
    pub sign_ins: Vec<SignInRow>,
    pub audit: Vec<AuditRow>,
    /// The security log's latest entries, every kind (the live tail).
    pub security: Vec<SecurityRow>,
}

/// One security log entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecurityRow {
    pub at: String,
    /// `signin_failed`, `ban_issued`, …
    pub kind: String,
    /// The account concerned, when known.
    pub who: String,
    pub address: String,
    pub reason: String,
    /// A refusal or failure (shown as such).
    pub failure: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommunityActivity {
    pub name: String,
    pub members: u64,
    pub conversations: u64,
    pub messages: u64,
    pub photos: u64,
    pub photo_bytes: u64,
    pub albums: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignInRow {
    pub at: String,
    pub email: String,
    pub address: String,
    pub device: String,
    pub succeeded: bool,
    /// Why a failed one failed.
    pub reason: Option<String>,
}

/// One admin action: who did what, when, from where.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub address: String,
}

/// Alerts of the admin's community and of the whole instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerts {
    pub recent: Vec<AlertRow>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertRow {
    pub at: String,
    pub level: String,
    pub text: String,
    /// `community` (sent by an admin) or `server`/`operator` (instance-wide).
    pub scope: String,
}

/// Configuration, schema and upkeep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintenance {
    pub backend: String,
    /// Backups in `backup.dir`, newest first.
    pub backups: Vec<BackupRow>,
    pub backup_dir: String,
    /// Bans in force.
    pub bans: Vec<BanRow>,
    /// The effective configuration as TOML, secrets replaced by `"<redacted>"`.
    pub config_toml: String,
    pub migrations: Vec<MigrationRow>,
    pub failed_jobs: u64,
    /// What the last upkeep task reported, if one ran.
    pub last_result: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupRow {
    pub name: String,
    pub created: String,
    /// Bytes of its own files (databases, secret, configuration).
    pub file_bytes: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BanRow {
    pub address: String,
    pub until: String,
    pub offences: u32,
    pub reason: String,
    pub issued_by: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationRow {
    pub version: i64,
    pub description: String,
    pub installed_on: String,
}
