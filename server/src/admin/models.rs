//! Builds the panel's view models (`taina_admin_ui::model`) from the server's services. The
//! views never see a server type; this is the one place that knows both sides.

use chrono::{DateTime, Utc};
use serde_json::Value;
use taina_admin_ui::model::{
    Activity, AlertRow, Alerts, AppPasswordRow, AuditRow, BackupRow, BanRow, CommunityActivity,
    CommunityRow, CommunitySettingsForm, InviteRow, Maintenance, MigrationRow, Overview, People,
    SecurityRow, Series, SessionRow, SignInRow, UserRow,
};

use super::error::AdminError;
use crate::contexts::auth::Principal;
use crate::contexts::monitoring::{SecurityEvent, SecurityEventKind, SecurityFilter};
use crate::metrics::Sample;
use crate::realtime::{Frame, Topic};
use crate::state::AppState;

/// Most sign-ins the activity page lists.
const RECENT_SIGN_INS: u32 = 50;
/// Security log entries the activity page reads (and shows as its live tail).
const SECURITY_TAIL: u32 = 200;
const SIGN_INS: [SecurityEventKind; 3] = [
    SecurityEventKind::SigninSucceeded,
    SecurityEventKind::SigninFailed,
    SecurityEventKind::OtpFailed,
];
const ADMIN_ACTIONS: [SecurityEventKind; 6] = [
    SecurityEventKind::RoleChanged,
    SecurityEventKind::SessionsRevoked,
    SecurityEventKind::InviteCreated,
    SecurityEventKind::BanIssued,
    SecurityEventKind::BanLifted,
    SecurityEventKind::BackupCreated,
];
const FAILURES: [SecurityEventKind; 7] = [
    SecurityEventKind::SigninFailed,
    SecurityEventKind::OtpFailed,
    SecurityEventKind::RateLimited,
    SecurityEventKind::TokenRefused,
    SecurityEventKind::UpgradeRefused,
    SecurityEventKind::BanIssued,
    SecurityEventKind::BackupFailed,
];

/// How the panel prints a time.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The overview from the sampler's history (empty until the first sample, a second after
/// start).
pub fn overview(state: &AppState) -> Overview {
    let history = state.metrics.samples.history();
    let Some(latest) = history.last().copied() else {
        return Overview {
            version: env!("CARGO_PKG_VERSION").into(),
            ..Overview::default()
        };
    };
    let previous = history.len().checked_sub(2).map(|i| history[i]);
    let rate = |now: u64, before: Option<u64>, seconds: f64| match before {
        Some(before) if seconds > 0.0 => now.saturating_sub(before) as f64 / seconds,
        _ => 0.0,
    };
    let seconds = previous.map_or(0.0, |p| (latest.taken - p.taken).as_secs_f64());
    let cpu_percent = match previous {
        Some(p) if seconds > 0.0 => {
            (latest.process.cpu_seconds - p.process.cpu_seconds).max(0.0) / seconds * 100.0
        }
        _ => 0.0,
    };
    Overview {
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: latest.uptime.as_secs(),
        sockets_by_mode: latest
            .sockets
            .iter()
            .map(|(mode, n)| (mode.as_str().to_owned(), *n))
            .collect(),
        users_online: latest.users_online,
        messages_per_second: rate(
            latest.hub.publications,
            previous.map(|p| p.hub.publications),
            seconds,
        ),
        deliveries_per_second: rate(
            latest.hub.deliveries,
            previous.map(|p| p.hub.deliveries),
            seconds,
        ),
        outbox_bytes: latest.outbox_bytes,
        slow_consumer_closes: latest.slow_consumer_closes,
        rate_limit_closes: latest.rate_limit_closes,
        resident_bytes: latest.process.resident_bytes,
        cpu_percent,
        open_files: latest.process.open_files,
        open_files_limit: latest.process.open_files_limit,
        database_bytes: latest.storage.database_bytes,
        wal_bytes: latest.storage.wal_bytes,
        disk_free_bytes: latest.disk.free_bytes,
        disk_total_bytes: latest.disk.total_bytes,
        jobs_queued: latest.storage.jobs_queued,
        jobs_failed: latest.storage.jobs_failed,
        history: sparklines(&history),
    }
}

/// Sockets, users online, publications per second and resident memory over the history.
fn sparklines(history: &[Sample]) -> Vec<Series> {
    let series = |key: &str, label: &str, points: Vec<f64>| Series {
        key: key.into(),
        label: label.into(),
        points,
    };
    let per_second: Vec<f64> = history
        .windows(2)
        .map(|w| {
            let seconds = (w[1].taken - w[0].taken).as_secs_f64().max(0.001);
            w[1].hub.publications.saturating_sub(w[0].hub.publications) as f64 / seconds
        })
        .collect();
    vec![
        series(
            "sockets",
            "Sockets open",
            history.iter().map(|s| s.sockets_total() as f64).collect(),
        ),
        series(
            "users",
            "Users online",
            history.iter().map(|s| s.users_online as f64).collect(),
        ),
        series("messages", "Messages / s", per_second),
        series(
            "memory",
            "Resident memory",
            history
                .iter()
                .map(|s| s.process.resident_bytes as f64)
                .collect(),
        ),
    ]
}

pub async fn people(
    state: &AppState,
    admin: &Principal,
    search: &str,
) -> Result<People, AdminError> {
    let community = state.auth.community_of(admin).await?;
    let settings = state.auth.community_settings(admin).await?;
    let users = state.auth.list_community_users(admin).await?;
    let sessions = state.auth.live_sessions(admin).await?;
    let invites = state.auth.open_invites(admin).await?;
    let online = state.hub.online_users(&admin.community_id);
    let mut app_passwords = std::collections::HashMap::new();
    for user in &users {
        let listed = state.files.app_passwords_of(admin, &user.id).await?;
        app_passwords.insert(user.id.clone(), listed);
    }
    let rows = users
        .into_iter()
        .map(|user| {
            let mine: Vec<_> = sessions.iter().filter(|s| s.user_id == user.id).collect();
            UserRow {
                is_you: user.id == admin.user_id,
                app_passwords: app_passwords
                    .remove(&user.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| AppPasswordRow {
                        id: p.id.into_string(),
                        name: p.name,
                        created: when(p.created_at),
                        last_used: p.last_used_at.map(when),
                    })
                    .collect(),
                disabled: user.disabled,
                unconfirmed: !user.email_confirmed,
                online_sockets: state.hub.connections_of(&user.id) as u64,
                last_seen: mine.iter().map(|s| s.created_at).max().map(when),
                sessions: mine
                    .iter()
                    .map(|s| SessionRow {
                        device: device(s.user_agent.as_deref()),
                        address: s.address.clone().unwrap_or_else(|| "—".into()),
                        signed_in: when(s.created_at),
                    })
                    .collect(),
                id: user.id.into_string(),
                email: user.email,
                display_name: user.display_name,
                role: user.role.to_string(),
            }
        })
        .collect::<Vec<_>>();
    Ok(People {
        settings: CommunitySettingsForm {
            name: settings.name,
            slug: settings.slug,
            default_language: settings.default_language,
            registration: settings.registration.as_str().into(),
        },
        communities: vec![CommunityRow {
            id: community.id.into_string(),
            name: community.name,
            slug: community.slug,
            members: rows.len() as u64,
            online: online.len() as u64,
        }],
        users: rows,
        invites: invites
            .into_iter()
            .map(|i| InviteRow {
                id: i.id.into_string(),
                role: i.role.to_string(),
                uses: i.uses,
                max_uses: i.max_uses,
                expires: when(i.expires_at),
                created_by: i.created_by,
            })
            .collect(),
        search: search.to_owned(),
    })
}

/// A short name for a device from its user agent.
fn device(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|a| !a.is_empty()) else {
        return "unknown device".into();
    };
    let known = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("HeadlessChrome", "headless Chrome"),
        ("Firefox", "Firefox"),
        ("Chrome", "Chrome"),
        ("Safari", "Safari"),
        ("curl", "curl"),
        ("node", "Node"),
    ];
    known
        .iter()
        .find(|(needle, _)| agent.contains(needle))
        .map_or_else(
            || agent.chars().take(40).collect(),
            |(_, name)| (*name).into(),
        )
}

pub async fn activity(state: &AppState, admin: &Principal) -> Result<Activity, AdminError> {
    let community = state.auth.community_of(admin).await?;
    let users = state.auth.list_community_users(admin).await?;
    let members = users.len() as u64;
    let email_of = |id: &Option<String>| -> String {
        id.as_deref()
            .and_then(|id| users.iter().find(|u| u.id.as_str() == id))
            .map_or_else(|| id.clone().unwrap_or_default(), |u| u.email.clone())
    };
    let (conversations, messages) = state.chat.community_totals(admin).await?;
    let (photos, photo_bytes, albums) = state.media.community_totals(admin).await?;
    let log = state
        .monitoring
        .recent_security_events(admin, &SecurityFilter::default(), Some(SECURITY_TAIL), None)
        .await?
        .events;
    let row = |e: &SecurityEvent| SecurityRow {
        at: when(e.at),
        kind: e.kind.as_str().to_owned(),
        who: email_of(&e.user_id),
        address: e.address.clone().unwrap_or_else(|| "—".into()),
        reason: e.reason.clone(),
        failure: FAILURES.contains(&e.kind),
    };
    let sign_ins = log
        .iter()
        .filter(|e| SIGN_INS.contains(&e.kind))
        .take(RECENT_SIGN_INS as usize)
        .map(|e| SignInRow {
            at: when(e.at),
            email: email_of(&e.user_id),
            address: e.address.clone().unwrap_or_else(|| "—".into()),
            device: device(e.user_agent.as_deref()),
            succeeded: e.kind == SecurityEventKind::SigninSucceeded,
            reason: (e.kind != SecurityEventKind::SigninSucceeded).then(|| e.reason.clone()),
        })
        .collect();
    let audit = log
        .iter()
        .filter(|e| ADMIN_ACTIONS.contains(&e.kind))
        .map(|e| AuditRow {
            at: when(e.at),
            actor: email_of(&e.user_id),
            action: format!("{}: {}", e.kind.as_str(), e.reason),
            address: e.address.clone().unwrap_or_else(|| "—".into()),
        })
        .collect();
    let security = log.iter().map(row).collect();
    Ok(Activity {
        communities: vec![CommunityActivity {
            name: community.name,
            members,
            conversations,
            messages,
            photos,
            photo_bytes,
            albums,
        }],
        sign_ins,
        audit,
        security,
    })
}

/// The alerts `system:alerts` still holds for the admin's community (its own and the
/// instance's), newest first.
pub fn alerts(state: &AppState, admin: &Principal) -> Alerts {
    let key = Topic::alerts_key(&admin.community_id);
    let mut recent: Vec<AlertRow> = state
        .hub
        .retained(&key)
        .iter()
        .filter_map(alert_row)
        .collect();
    recent.reverse();
    Alerts { recent }
}

/// An alert from its Phoenix frame `[null, null, topic, "alert", payload]`.
fn alert_row(frame: &Frame) -> Option<AlertRow> {
    let Frame::Text(text) = frame else {
        return None;
    };
    let parsed: Value = serde_json::from_str(text.as_str()).ok()?;
    let payload = parsed.get(4)?;
    let text_of = |key: &str| payload.get(key).and_then(Value::as_str);
    Some(AlertRow {
        at: text_of("at")
            .or_else(|| text_of("created_at"))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| when(t.with_timezone(&Utc)))
            .unwrap_or_default(),
        level: text_of("level").unwrap_or("info").to_owned(),
        text: text_of("message")
            .or_else(|| text_of("text"))
            .unwrap_or_default()
            .to_owned(),
        scope: text_of("scope")
            .or_else(|| text_of("source"))
            .unwrap_or("community")
            .to_owned(),
    })
}

pub async fn maintenance(state: &AppState, admin: &Principal) -> Result<Maintenance, AdminError> {
    let migrations = state.db.applied_migrations().await?;
    let jobs = state.media.job_counts(chrono::DateTime::UNIX_EPOCH).await?;
    let backups = state
        .monitoring
        .list_backups(admin, &state.config)
        .await?
        .into_iter()
        .map(|b| BackupRow {
            name: b
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            created: when(b.manifest.created_at),
            file_bytes: b.manifest.files.iter().map(|f| f.bytes).sum(),
            blobs: b.manifest.blobs.len() as u64,
            blob_bytes: b.manifest.blobs.iter().map(|f| f.bytes).sum(),
            seconds: b.manifest.seconds,
        })
        .collect();
    let bans = state
        .monitoring
        .list_bans(admin)
        .await?
        .into_iter()
        .map(|b| BanRow {
            address: b.address,
            until: when(b.banned_until),
            offences: b.offences,
            reason: b.reason,
            issued_by: b.issued_by,
        })
        .collect();
    Ok(Maintenance {
        backend: state.db.backend().into(),
        backups,
        backup_dir: state.config.backup.dir.display().to_string(),
        bans,
        config_toml: state.config.to_redacted_toml(),
        migrations: migrations
            .into_iter()
            .map(|m| MigrationRow {
                version: m.version,
                description: m.description,
                installed_on: when(m.installed_on),
            })
            .collect(),
        failed_jobs: jobs.failed_since,
        last_result: None,
    })
}
