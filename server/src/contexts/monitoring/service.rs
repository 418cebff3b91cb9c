//! `MonitoringService`: instance-wide alerts and their relay, the security log, and bans.
//! The API the HTTP and GraphQL adapters, the CLI and the admin panel call.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{broadcast, mpsc};

use crate::config::{Config, MonitoringConfig};
use crate::contexts::auth::{Principal, Role};
use crate::db::Db;
use crate::events::EventBus;

use super::backup::{backups_in, create_backup, verify_backup, BackupSummary, Created};
use super::ban::{BanBook, BanPolicy};
use super::store::MonitoringStore;
use super::writer::Write;
use super::{
    AlertLevel, AlertRaised, AlertSource, Ban, MonitoringError, NewSecurityEvent, SecurityEvent,
    SecurityEventKind, SecurityFilter, MAX_PAGE,
};

/// Longest alert message, in characters.
pub const MAX_ALERT_CHARS: usize = 2000;
/// Security events queued for the writer before new ones are dropped (and logged).
const WRITE_QUEUE: usize = 16_384;
/// Stored events a slow live tail may fall behind by before it skips some.
const LIVE_CAPACITY: usize = 1024;
/// Events one page holds when the caller does not say.
const DEFAULT_PAGE: u32 = 50;

type Result<T, E = MonitoringError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct MonitoringService {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: MonitoringStore,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) config: MonitoringConfig,
    /// Bans in force and failures being counted, checked on every request.
    pub(super) book: BanBook,
    /// To the security writer; what is queued before it runs waits for it.
    pub(super) queue: mpsc::Sender<Write>,
    /// Taken by the writer when it starts (`spawn_security_writer`).
    pub(super) queued: Mutex<Option<mpsc::Receiver<Write>>>,
    /// Each event once stored, for live log tails (`securityEvent`).
    pub(super) live: broadcast::Sender<Arc<SecurityEvent>>,
}

impl Inner {
    /// A stored security event, to the live tail (no listener is fine) and to the bus as
    /// `security.<kind>` (rules react to it).
    pub(super) fn published(&self, event: super::SecurityEvent) {
        self.bus.publish(super::events::security_event(&event));
        let _ = self.live.send(Arc::new(event));
    }
}

/// One page of the security log, newest first.
#[derive(Clone, Debug)]
pub struct SecurityPage {
    pub events: Vec<SecurityEvent>,
    /// True when older events match too (ask again with `after` = the last id).
    pub has_more: bool,
}

impl MonitoringService {
    /// With the default `monitoring.*` settings (the CLI's alert path, tests).
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        Self::configured(db, bus, MonitoringConfig::default())
    }

    pub fn configured(db: Db, bus: Arc<dyn EventBus>, config: MonitoringConfig) -> Self {
        let (queue, queued) = mpsc::channel(WRITE_QUEUE);
        Self {
            inner: Arc::new(Inner {
                store: MonitoringStore::new(db),
                bus,
                book: BanBook::new(BanPolicy::from_config(&config)),
                config,
                queue,
                queued: Mutex::new(Some(queued)),
                live: broadcast::channel(LIVE_CAPACITY).0,
            }),
        }
    }

    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(super) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// A handle that does not keep the service alive (for background tasks).
    pub(super) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(super) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(Self::from_inner)
    }

    /// Loads the stored bans into the in-memory book: call once before serving, so bans
    /// issued before a restart hold from the first request.
    pub async fn load_bans(&self) -> Result<()> {
        let bans = self.inner.store.bans().await?;
        self.inner.book.reload(&bans);
        Ok(())
    }

    // ---- the hot path ----

    /// Until when `ip` is banned, if it is: a lookup in memory, no query.
    pub fn banned_until(&self, ip: IpAddr) -> Option<DateTime<Utc>> {
        self.inner.book.banned_until(ip.to_canonical(), Utc::now())
    }

    /// Refuses a banned address.
    pub fn check_address(&self, ip: IpAddr) -> Result<()> {
        match self.banned_until(ip) {
            Some(until) => Err(MonitoringError::Banned { until }),
            None => Ok(()),
        }
    }

    /// Logs `event` (written in the background; never blocks) and counts it towards a ban of
    /// its address, which takes effect at once.
    pub fn record(&self, event: NewSecurityEvent) {
        let ip = event
            .address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical());
        let ban = ip.and_then(|ip| self.inner.book.count(ip, event.kind, event.at));
        self.queue(Write::Event(event));
        if let Some(ban) = ban {
            tracing::warn!(address = %ban.address, until = %ban.banned_until, reason = %ban.reason, "address banned");
            self.queue(Write::Ban(ban));
        }
    }

    fn queue(&self, write: Write) {
        if let Err(e) = self.inner.queue.try_send(write) {
            tracing::warn!(error = %e, "security log: queue full, an event is dropped");
        }
    }

    // ---- the security log ----

    /// Every security event from now on, once stored (all communities: filter by
    /// `community_id`). A receiver that falls behind skips (`Lagged`).
    pub fn watch_security_events(&self) -> broadcast::Receiver<Arc<SecurityEvent>> {
        self.inner.live.subscribe()
    }

    /// The security log for an admin: their community's events and instance-wide ones,
    /// newest first, `first` at most (default 50, at most [`MAX_PAGE`]), older than the event
    /// `after` when given.
    pub async fn recent_security_events(
        &self,
        admin: &Principal,
        filter: &SecurityFilter,
        first: Option<u32>,
        after: Option<i64>,
    ) -> Result<SecurityPage> {
        admin.require(&[Role::Admin])?;
        self.security_events(filter, Some(admin.community_id.as_str()), first, after)
            .await
    }

    /// The security log of one community (and instance-wide events), or of the whole
    /// instance with `community_id = None` (the operator).
    pub async fn security_events(
        &self,
        filter: &SecurityFilter,
        community_id: Option<&str>,
        first: Option<u32>,
        after: Option<i64>,
    ) -> Result<SecurityPage> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(MonitoringError::Invalid(format!(
                "first must be between 1 and {MAX_PAGE}"
            )));
        }
        let mut events = self
            .inner
            .store
            .security_events(filter, community_id, after, first + 1)
            .await?;
        let has_more = events.len() > first as usize;
        events.truncate(first as usize);
        Ok(SecurityPage { events, has_more })
    }

    // ---- backups ----

    /// The finished backups in `config.backup.dir`, newest first (admins).
    pub async fn list_backups(
        &self,
        admin: &Principal,
        config: &Config,
    ) -> Result<Vec<BackupSummary>> {
        admin.require(&[Role::Admin])?;
        let dir = config.backup.dir.clone();
        let mut backups = tokio::task::spawn_blocking(move || backups_in(&dir))
            .await
            .map_err(|e| MonitoringError::Invalid(format!("listing backups panicked: {e}")))??;
        backups.reverse();
        Ok(backups)
    }

    /// Backs up now into `config.backup.dir` and verifies the backup (admins); recorded in
    /// the security log as `backup_created`.
    pub async fn backup_now(&self, admin: &Principal, db: &Db, config: &Config) -> Result<Created> {
        admin.require(&[Role::Admin])?;
        let created = create_backup(db, config, &config.backup.dir).await?;
        verify_backup(&created.path, &config.backup.pg_restore).await?;
        self.record(NewSecurityEvent {
            kind: SecurityEventKind::BackupCreated,
            at: Utc::now().trunc_subsecs(6),
            community_id: Some(admin.community_id.as_str().to_string()),
            user_id: Some(admin.user_id.as_str().to_string()),
            address: None,
            user_agent: None,
            reason: format!(
                "{} (asked for by an admin), verified",
                created.path.display()
            ),
        });
        Ok(created)
    }

    // ---- bans ----

    /// Bans in force, for an admin.
    pub async fn list_bans(&self, admin: &Principal) -> Result<Vec<Ban>> {
        admin.require(&[Role::Admin])?;
        self.bans().await
    }

    /// Bans in force, newest first.
    pub async fn bans(&self) -> Result<Vec<Ban>> {
        let now = Utc::now();
        let mut bans = self.inner.store.bans().await?;
        bans.retain(|ban| ban.banned_until > now);
        Ok(bans)
    }

    /// An admin bans `address` for `minutes` (default: the policy's doubling).
    pub async fn ban(
        &self,
        admin: &Principal,
        address: &str,
        minutes: Option<u64>,
        reason: Option<&str>,
    ) -> Result<Ban> {
        admin.require(&[Role::Admin])?;
        let ban = self
            .ban_address(address, minutes, reason, admin.user_id.as_str())
            .await?;
        Ok(ban)
    }

    /// Bans `address` for `minutes` (default: the policy's doubling), as `issued_by`
    /// (`operator` from the CLI, or an admin's id). Addresses on the never-ban list are refused.
    pub async fn ban_address(
        &self,
        address: &str,
        minutes: Option<u64>,
        reason: Option<&str>,
        issued_by: &str,
    ) -> Result<Ban> {
        let ip = parse_address(address)?;
        if self.inner.book.policy().ignores(ip) {
            return Err(MonitoringError::Invalid(format!(
                "{ip} is on the never-ban list (monitoring.ban_ignore)"
            )));
        }
        let length = match minutes {
            Some(0) => return Err(MonitoringError::Invalid("minutes must be ≥ 1".into())),
            Some(m) if m > 10 * 365 * 24 * 60 => {
                return Err(MonitoringError::Invalid(
                    "minutes must be at most ten years".into(),
                ))
            }
            Some(m) => Some(chrono::Duration::minutes(m as i64)),
            None => None,
        };
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or("banned by hand");
        let reason: String = reason.chars().take(500).collect();
        // Offences carry over through the book, which the writer reloads from the database
        // (the CLI loads it first).
        let now = Utc::now().trunc_subsecs(6);
        let ban = self.inner.book.issue(ip, length, reason, issued_by, now);
        self.inner.store.upsert_ban(&ban).await?;
        self.log_now(ban_event(&ban, SecurityEventKind::BanIssued))
            .await;
        alert_ban(&self.inner, &ban).await;
        Ok(ban)
    }

    /// An admin lifts the ban on `address` (and forgets its offences).
    pub async fn lift_ban(&self, admin: &Principal, address: &str) -> Result<()> {
        admin.require(&[Role::Admin])?;
        self.unban(address, admin.user_id.as_str()).await
    }

    /// Lifts the ban on `address`, as `by`; `NoSuchBan` when it has none stored.
    pub async fn unban(&self, address: &str, by: &str) -> Result<()> {
        let ip = parse_address(address)?;
        self.inner.book.lift(ip);
        if !self.inner.store.delete_ban(&ip.to_string()).await? {
            return Err(MonitoringError::NoSuchBan);
        }
        self.clear_condition(&format!("{BAN_CONDITION}{ip}"))
            .await?;
        let event = NewSecurityEvent {
            kind: SecurityEventKind::BanLifted,
            at: Utc::now().trunc_subsecs(6),
            community_id: None,
            user_id: None,
            address: Some(ip.to_string()),
            user_agent: None,
            reason: format!("lifted by {by}"),
        };
        self.log_now(event).await;
        Ok(())
    }

    /// Writes one event now (operator paths, which may run with no writer), and publishes it.
    async fn log_now(&self, event: NewSecurityEvent) {
        match self.inner.store.insert_security_events(vec![event]).await {
            Ok(stored) => {
                for event in stored {
                    self.inner.published(event);
                }
            }
            Err(e) => tracing::warn!(error = %e, "security log: cannot write an event"),
        }
    }

    // ---- alerts ----

    /// Raises a server alert for the condition `key` (its de-duplication key: `disk_low`,
    /// `ban:203.0.113.7`, …) unless that condition already alerted and has not cleared since.
    /// Returns the new alert's id, or `None` when it was a repeat.
    pub async fn raise_once(
        &self,
        key: &str,
        level: AlertLevel,
        message: &str,
    ) -> Result<Option<i64>> {
        let now = Utc::now().trunc_subsecs(6);
        let id = self
            .inner
            .store
            .raise_once(key, level, message, now)
            .await?;
        if id.is_some() {
            tracing::warn!(key, message, "alert raised");
        }
        Ok(id)
    }

    /// The condition `key` is over: the next time it holds, it alerts again. True when it held.
    pub async fn clear_condition(&self, key: &str) -> Result<bool> {
        let cleared = self.inner.store.end_condition(key).await?;
        if cleared {
            tracing::info!(key, "alert condition cleared");
        }
        Ok(cleared)
    }

    /// True while the condition `key` has alerted and not cleared.
    pub async fn condition_holds(&self, key: &str) -> Result<bool> {
        self.inner.store.condition_holds(key).await
    }
    /// Stores an instance-wide alert; every running server relays it to every community
    /// within the relay interval. Returns its id.
    pub async fn raise(
        &self,
        level: AlertLevel,
        message: &str,
        source: AlertSource,
    ) -> Result<i64> {
        let message = message.trim();
        if message.is_empty() {
            return Err(MonitoringError::Invalid(
                "the alert message is empty".into(),
            ));
        }
        if message.chars().count() > MAX_ALERT_CHARS {
            return Err(MonitoringError::Invalid(format!(
                "the alert message is longer than {MAX_ALERT_CHARS} characters"
            )));
        }
        let now = Utc::now().trunc_subsecs(6);
        self.inner
            .store
            .insert_alert(level, message, source, now)
            .await
    }

    /// Publishes `alert.raised` for every alert stored from now on (by this process or
    /// another: the operator's CLI, another node), polling every `interval`. Runs until the
    /// service is dropped.
    pub fn spawn_alert_relay(&self, interval: Duration) {
        let service = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last = None;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = service.upgrade() else {
                    return;
                };
                // Alerts raised before this server started are history, not news.
                let after = match last {
                    Some(id) => id,
                    None => match inner.store.last_alert_id().await {
                        Ok(id) => *last.insert(id),
                        Err(e) => {
                            tracing::warn!(error = %e, "alert relay: query failed");
                            continue;
                        }
                    },
                };
                match inner.store.alerts_after(after).await {
                    Ok(alerts) => {
                        for alert in alerts {
                            last = Some(alert.id);
                            inner.bus.publish(AlertRaised::event(&alert));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "alert relay: query failed"),
                }
            }
        });
    }
}

/// The alert a ban raises (once per ban: key `ban:ADDRESS`, cleared by the watchdog when the
/// ban ends).
pub(super) async fn alert_ban(inner: &Inner, ban: &Ban) {
    let message = format!(
        "address {} is banned until {} ({})",
        ban.address,
        ban.banned_until.format("%Y-%m-%d %H:%M UTC"),
        ban.reason
    );
    let key = format!("{BAN_CONDITION}{}", ban.address);
    let now = Utc::now().trunc_subsecs(6);
    if let Err(e) = inner
        .store
        .raise_once(&key, AlertLevel::Warning, &message, now)
        .await
    {
        tracing::warn!(error = %e, "cannot raise the alert of a ban");
    }
}

/// The prefix of ban alerts' de-duplication keys.
pub(super) const BAN_CONDITION: &str = "ban:";

/// The `ban_issued` event of `ban`.
pub(super) fn ban_event(ban: &Ban, kind: SecurityEventKind) -> NewSecurityEvent {
    NewSecurityEvent {
        kind,
        at: ban.created_at,
        community_id: None,
        user_id: None,
        address: Some(ban.address.clone()),
        user_agent: None,
        reason: format!(
            "{} (until {}, offence {}, by {})",
            ban.reason,
            ban.banned_until.to_rfc3339(),
            ban.offences,
            ban.issued_by
        ),
    }
}

fn parse_address(address: &str) -> Result<IpAddr> {
    address
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| MonitoringError::Invalid(format!("`{address}` is not an IP address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{AuthError, ClientInfo, SignIn};
    use crate::db::testing::Fixture;

    fn service(fx: &Fixture, ignore: &[&str]) -> MonitoringService {
        let config = MonitoringConfig {
            ban_ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ..MonitoringConfig::default()
        };
        let monitoring = MonitoringService::configured(fx.db.clone(), fx.bus.clone(), config);
        monitoring.spawn_security_writer();
        fx.auth.set_security_log(Arc::new(monitoring.clone()));
        monitoring
    }

    /// Waits until the writer has stored `n` events matching `filter` (seen by `admin`).
    async fn stored(
        monitoring: &MonitoringService,
        filter: &SecurityFilter,
        n: usize,
    ) -> Vec<SecurityEvent> {
        for _ in 0..200 {
            let page = monitoring
                .security_events(filter, None, Some(MAX_PAGE), None)
                .await
                .unwrap();
            if page.events.len() >= n {
                return page.events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} events stored for {filter:?}");
    }

    fn wrong_password(email: &str) -> SignIn {
        SignIn {
            email: email.into(),
            password: "not the password".into(),
            community: None,
            otp: None,
        }
    }

    #[tokio::test]
    async fn failed_sign_ins_are_logged_and_the_fifth_bans_the_address() {
        let fx = Fixture::new().await;
        let monitoring = service(&fx, &["127.0.0.0/8"]);
        let admin = fx.sign_up("admin@example.org", None).await;
        let attacker = ClientInfo {
            ip: Some("203.0.113.5".into()),
            user_agent: Some("hydra".into()),
        };
        for _ in 0..5 {
            let refused = fx
                .auth
                .sign_in(wrong_password("admin@example.org"), &attacker)
                .await;
            assert!(matches!(refused, Err(AuthError::InvalidCredentials)));
        }
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let until = monitoring.banned_until(ip).expect("banned at once");
        assert!(matches!(
            monitoring.check_address(ip),
            Err(MonitoringError::Banned { until: u }) if u == until
        ));
        // Loopback is on the never-ban list.
        let local = ClientInfo {
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        };
        for _ in 0..6 {
            let _ = fx
                .auth
                .sign_in(wrong_password("admin@example.org"), &local)
                .await;
        }
        assert!(monitoring
            .banned_until("127.0.0.1".parse().unwrap())
            .is_none());

        let failed = SecurityFilter {
            kind: Some(SecurityEventKind::SigninFailed),
            address: Some("203.0.113.5".into()),
            user_id: None,
        };
        let events = stored(&monitoring, &failed, 5).await;
        assert_eq!(events.len(), 5);
        assert_eq!(events[0].user_agent.as_deref(), Some("hydra"));
        assert!(
            events[0].reason.contains("admin@example.org"),
            "{}",
            events[0].reason
        );
        let issued = SecurityFilter {
            kind: Some(SecurityEventKind::BanIssued),
            ..SecurityFilter::default()
        };
        assert_eq!(stored(&monitoring, &issued, 1).await.len(), 1);
        // The successful sign-ins of the fixture are there too, with the user.
        let ok = SecurityFilter {
            kind: Some(SecurityEventKind::SigninSucceeded),
            ..SecurityFilter::default()
        };
        let ok = stored(&monitoring, &ok, 1).await;
        assert_eq!(ok[0].user_id.as_deref(), Some(admin.user_id.as_str()));
        assert_eq!(
            ok[0].community_id.as_deref(),
            Some(admin.community_id.as_str())
        );

        // Stored, so a new service (a restart) enforces it from the start.
        let restarted = MonitoringService::configured(
            fx.db.clone(),
            fx.bus.clone(),
            MonitoringConfig::default(),
        );
        restarted.load_bans().await.unwrap();
        assert_eq!(restarted.banned_until(ip), Some(until));
        let bans = restarted.list_bans(&admin).await.unwrap();
        assert_eq!(bans.len(), 1);
        assert_eq!(
            (bans[0].offences, bans[0].issued_by.as_str()),
            (1, "server")
        );
    }

    #[tokio::test]
    async fn admins_page_through_the_log_and_members_may_not() {
        let fx = Fixture::new().await;
        let monitoring = service(&fx, &[]);
        let admin = fx.sign_up("admin@example.org", None).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        for n in 0..5 {
            monitoring.record(NewSecurityEvent {
                kind: SecurityEventKind::TokenRefused,
                at: Utc::now(),
                community_id: None,
                user_id: None,
                address: Some(format!("198.51.100.{n}")),
                user_agent: None,
                reason: "the token has expired".into(),
            });
        }
        let refused = SecurityFilter {
            kind: Some(SecurityEventKind::TokenRefused),
            ..SecurityFilter::default()
        };
        stored(&monitoring, &refused, 5).await;
        let first = monitoring
            .recent_security_events(&admin, &refused, Some(2), None)
            .await
            .unwrap();
        assert_eq!(first.events.len(), 2);
        assert!(first.has_more);
        assert_eq!(first.events[0].address.as_deref(), Some("198.51.100.4"));
        let rest = monitoring
            .recent_security_events(&admin, &refused, Some(10), Some(first.events[1].id))
            .await
            .unwrap();
        assert_eq!(rest.events.len(), 3);
        assert!(!rest.has_more);

        let by_member = monitoring
            .recent_security_events(&member, &refused, None, None)
            .await;
        assert!(matches!(
            by_member,
            Err(MonitoringError::Auth(AuthError::Forbidden))
        ));
        assert!(matches!(
            monitoring.list_bans(&member).await,
            Err(MonitoringError::Auth(AuthError::Forbidden))
        ));
        let too_many = monitoring
            .recent_security_events(&admin, &refused, Some(MAX_PAGE + 1), None)
            .await;
        assert!(matches!(too_many, Err(MonitoringError::Invalid(_))));

        // The invite and the role change are admin actions in the log.
        fx.auth
            .change_role(&admin, &member.user_id, Role::Guest)
            .await
            .unwrap();
        let role = SecurityFilter {
            kind: Some(SecurityEventKind::RoleChanged),
            ..SecurityFilter::default()
        };
        let changed = stored(&monitoring, &role, 1).await;
        assert!(changed[0].reason.contains("member@example.org"));
        let invites = SecurityFilter {
            kind: Some(SecurityEventKind::InviteCreated),
            ..SecurityFilter::default()
        };
        stored(&monitoring, &invites, 1).await;
    }

    #[tokio::test]
    async fn stored_events_stream_to_live_tails_and_the_bus() {
        let fx = Fixture::new().await;
        let monitoring = service(&fx, &[]);
        let mut live = monitoring.watch_security_events();
        let mut bus = fx.bus.subscribe();
        monitoring.record(NewSecurityEvent {
            kind: SecurityEventKind::UpgradeRefused,
            at: Utc::now(),
            community_id: None,
            user_id: None,
            address: Some("192.0.2.3".into()),
            user_agent: None,
            reason: "missing_token".into(),
        });
        let event = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .expect("streamed in time")
            .unwrap();
        assert_eq!(event.kind, SecurityEventKind::UpgradeRefused);
        assert!(event.id > 0, "streamed once stored");
        let published = bus.recv().await.unwrap();
        assert_eq!(published.kind, "security.upgrade_refused");
        assert_eq!(published.data["address"], "192.0.2.3");
    }

    #[tokio::test]
    async fn admins_ban_and_lift_by_hand() {
        let fx = Fixture::new().await;
        let monitoring = service(&fx, &["10.0.0.0/8"]);
        let admin = fx.sign_up("admin@example.org", None).await;
        let ban = monitoring
            .ban(&admin, "2001:db8::1", Some(30), Some("scanner"))
            .await
            .unwrap();
        assert_eq!(ban.issued_by, admin.user_id.as_str());
        assert_eq!(
            ban.banned_until - ban.created_at,
            chrono::Duration::minutes(30)
        );
        assert!(monitoring
            .banned_until("2001:db8::1".parse().unwrap())
            .is_some());
        assert_eq!(monitoring.list_bans(&admin).await.unwrap().len(), 1);

        for (address, minutes) in [
            ("10.1.2.3", None),
            ("not an address", None),
            ("192.0.2.1", Some(0)),
        ] {
            let refused = monitoring.ban(&admin, address, minutes, None).await;
            assert!(
                matches!(refused, Err(MonitoringError::Invalid(_))),
                "{address}: {refused:?}"
            );
        }

        monitoring.lift_ban(&admin, "2001:db8::1").await.unwrap();
        assert!(monitoring
            .banned_until("2001:db8::1".parse().unwrap())
            .is_none());
        assert!(monitoring.list_bans(&admin).await.unwrap().is_empty());
        let again = monitoring.lift_ban(&admin, "2001:db8::1").await;
        assert!(
            matches!(again, Err(MonitoringError::NoSuchBan)),
            "{again:?}"
        );
        let lifted = SecurityFilter {
            kind: Some(SecurityEventKind::BanLifted),
            ..SecurityFilter::default()
        };
        stored(&monitoring, &lifted, 1).await;
    }

    #[tokio::test]
    async fn a_condition_alerts_once_until_it_clears() {
        let fx = Fixture::new().await;
        let monitoring = service(&fx, &[]);
        let first = monitoring
            .raise_once("disk_low", AlertLevel::Warning, "disk low")
            .await
            .unwrap();
        assert!(first.is_some());
        let again = monitoring
            .raise_once("disk_low", AlertLevel::Warning, "disk low")
            .await
            .unwrap();
        assert_eq!(again, None);
        assert!(monitoring.condition_holds("disk_low").await.unwrap());
        assert!(monitoring.clear_condition("disk_low").await.unwrap());
        assert!(!monitoring.clear_condition("disk_low").await.unwrap());
        let after = monitoring
            .raise_once("disk_low", AlertLevel::Warning, "disk low")
            .await
            .unwrap();
        assert!(after > first);
        let alerts = monitoring.inner.store.alerts_after(0).await.unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].source, AlertSource::Server);
    }

    #[tokio::test]
    async fn the_watchdog_alerts_on_low_disk_failing_jobs_and_bans() {
        let fx = Fixture::new().await;
        let config = MonitoringConfig {
            // Every disk is "low" and any number of failures is "repeated".
            disk_free_min_percent: 100.0,
            media_failures_per_hour: 0,
            ..MonitoringConfig::default()
        };
        let monitoring = MonitoringService::configured(fx.db.clone(), fx.bus.clone(), config);
        let admin = fx.sign_up("admin@example.org", None).await;
        monitoring
            .ban(&admin, "192.0.2.77", Some(5), None)
            .await
            .unwrap();
        let media = fx.media();
        monitoring
            .watch_once(&media, fx.data_dir.path())
            .await
            .unwrap();
        monitoring
            .watch_once(&media, fx.data_dir.path())
            .await
            .unwrap();
        let alerts = monitoring.inner.store.alerts_after(0).await.unwrap();
        let messages: Vec<&str> = alerts.iter().map(|a| a.message.as_str()).collect();
        assert_eq!(alerts.len(), 3, "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("192.0.2.77 is banned")));
        assert!(messages
            .iter()
            .any(|m| m.contains("disk under the data directory")));
        assert!(messages
            .iter()
            .any(|m| m.contains("media processing jobs failed")));
        // The ban ends: its condition clears, and a new ban alerts again.
        monitoring.lift_ban(&admin, "192.0.2.77").await.unwrap();
        assert!(!monitoring.condition_holds("ban:192.0.2.77").await.unwrap());
        monitoring
            .ban(&admin, "192.0.2.77", Some(5), None)
            .await
            .unwrap();
        assert_eq!(
            monitoring.inner.store.alerts_after(0).await.unwrap().len(),
            4
        );
    }

    #[tokio::test]
    async fn old_events_and_long_ended_bans_are_pruned() {
        let fx = Fixture::new().await;
        let monitoring = MonitoringService::configured(
            fx.db.clone(),
            fx.bus.clone(),
            MonitoringConfig::default(),
        );
        let long_ago = Utc::now() - chrono::Duration::days(100);
        let old = NewSecurityEvent {
            kind: SecurityEventKind::SigninFailed,
            at: long_ago,
            community_id: None,
            user_id: None,
            address: Some("192.0.2.9".into()),
            user_agent: None,
            reason: String::new(),
        };
        let new = NewSecurityEvent {
            at: Utc::now(),
            ..old.clone()
        };
        let store = &monitoring.inner.store;
        store.insert_security_events(vec![old, new]).await.unwrap();
        let ban = monitoring.inner.book.issue(
            "192.0.2.9".parse().unwrap(),
            None,
            "x".into(),
            "server",
            long_ago,
        );
        store.upsert_ban(&ban).await.unwrap();
        super::super::writer::prune_old(&monitoring.inner).await;
        let left = monitoring
            .security_events(&SecurityFilter::default(), None, None, None)
            .await
            .unwrap();
        assert_eq!(left.events.len(), 1);
        assert!(store.bans().await.unwrap().is_empty());
    }
}
