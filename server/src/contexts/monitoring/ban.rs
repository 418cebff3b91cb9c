//! Bans: the model, the policy (how many failures, how long), and [`BanBook`], the in-memory
//! view every request is checked against. The book counts failures per address and kind and
//! decides bans on the spot; the service persists what it decides and reloads the book from
//! the database, so bans survive a restart and bans by other processes (the CLI) arrive.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::SecurityEventKind;
use crate::cidr::Cidr;
use crate::config::MonitoringConfig;

/// A ban on one address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ban {
    /// The address, canonical (`::ffff:1.2.3.4` is `1.2.3.4`).
    pub address: String,
    pub banned_until: DateTime<Utc>,
    /// How many bans this address has had, this one included.
    pub offences: u32,
    pub reason: String,
    /// `server`, `operator`, or the id of the admin who banned.
    pub issued_by: String,
    pub created_at: DateTime<Utc>,
}

/// When failures turn into a ban, and for how long (from `monitoring.*`).
#[derive(Clone, Debug)]
pub struct BanPolicy {
    pub after: usize,
    pub window: Duration,
    pub first: Duration,
    pub max: Duration,
    pub counted: Vec<SecurityEventKind>,
    pub ignore: Vec<Cidr>,
}

impl BanPolicy {
    /// The policy of a validated configuration (entries that do not parse are skipped).
    pub fn from_config(config: &MonitoringConfig) -> Self {
        Self {
            after: config.ban_after.max(1) as usize,
            window: Duration::seconds(config.ban_window_seconds as i64),
            first: Duration::seconds(config.ban_seconds as i64),
            max: Duration::seconds(config.ban_max_seconds as i64),
            counted: config
                .ban_on
                .iter()
                .filter_map(|k| SecurityEventKind::parse(k))
                .collect(),
            ignore: config
                .ban_ignore
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        }
    }

    /// The length of an address's `offences`-th ban: the first ban, doubled for each earlier
    /// one, capped.
    pub fn length(&self, offences: u32) -> Duration {
        let doublings = offences.saturating_sub(1).min(30);
        let seconds = self.first.num_seconds().saturating_mul(1 << doublings);
        Duration::seconds(seconds).min(self.max)
    }

    /// True for addresses on the never-ban list.
    pub fn ignores(&self, ip: IpAddr) -> bool {
        Cidr::any_contains(&self.ignore, ip)
    }
}

/// Failures of one kind from one address, newest last.
type Failures = HashMap<(IpAddr, SecurityEventKind), VecDeque<DateTime<Utc>>>;

/// Failures counted above this many keys are swept of stale entries.
const SWEEP_ABOVE: usize = 10_000;

pub(super) struct BanBook {
    policy: BanPolicy,
    /// Address → banned until. Read on every request, written rarely.
    active: RwLock<HashMap<IpAddr, DateTime<Utc>>>,
    /// Address → bans so far (from the database, and those decided here since).
    offences: Mutex<HashMap<IpAddr, u32>>,
    failures: Mutex<Failures>,
}

impl BanBook {
    pub fn new(policy: BanPolicy) -> Self {
        Self {
            policy,
            active: RwLock::default(),
            offences: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    pub fn policy(&self) -> &BanPolicy {
        &self.policy
    }

    /// Until when `ip` is banned, if it is.
    pub fn banned_until(&self, ip: IpAddr, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let active = self.active.read().unwrap_or_else(|e| e.into_inner());
        active.get(&ip).copied().filter(|until| *until > now)
    }

    /// Counts one event; returns the ban it triggers, if it does: the `after`-th failure of
    /// a counted kind within the window, from an address not on the never-ban list.
    pub fn count(&self, ip: IpAddr, kind: SecurityEventKind, now: DateTime<Utc>) -> Option<Ban> {
        if !self.policy.counted.contains(&kind) || self.policy.ignores(ip) {
            return None;
        }
        if self.banned_until(ip, now).is_some() {
            return None;
        }
        {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() > SWEEP_ABOVE {
                let horizon = now - self.policy.window;
                failures.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
            }
            let times = failures.entry((ip, kind)).or_default();
            times.push_back(now);
            while times
                .front()
                .is_some_and(|t| *t <= now - self.policy.window)
            {
                times.pop_front();
            }
            if times.len() < self.policy.after {
                return None;
            }
            failures.remove(&(ip, kind));
        }
        let reason = format!(
            "{} {} within {} s",
            self.policy.after,
            kind.as_str(),
            self.policy.window.num_seconds()
        );
        Some(self.issue(ip, None, reason, "server", now))
    }

    /// Bans `ip` now, for `length` or (when `None`) by the policy's doubling; returns the ban.
    pub fn issue(
        &self,
        ip: IpAddr,
        length: Option<Duration>,
        reason: String,
        issued_by: &str,
        now: DateTime<Utc>,
    ) -> Ban {
        let offences = {
            let mut offences = self.offences.lock().unwrap_or_else(|e| e.into_inner());
            let count = offences.entry(ip).or_insert(0);
            *count += 1;
            *count
        };
        let banned_until = now + length.unwrap_or_else(|| self.policy.length(offences));
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ip, banned_until);
        Ban {
            address: ip.to_string(),
            banned_until,
            offences,
            reason,
            issued_by: issued_by.to_string(),
            created_at: now,
        }
    }

    /// Lifts the ban on `ip` and forgets its offences.
    pub fn lift(&self, ip: IpAddr) {
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ip);
        self.offences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ip);
    }

    /// Replaces the book's bans and offences with the stored ones (`bans`: every stored row).
    pub fn reload(&self, bans: &[Ban]) {
        let mut active = HashMap::new();
        let mut offences = HashMap::new();
        for ban in bans {
            if let Ok(ip) = ban.address.parse::<IpAddr>() {
                active.insert(ip, ban.banned_until);
                offences.insert(ip, ban.offences);
            }
        }
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = active;
        *self.offences.lock().unwrap_or_else(|e| e.into_inner()) = offences;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(ignore: &[&str]) -> BanBook {
        let config = MonitoringConfig {
            ban_ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ..MonitoringConfig::default()
        };
        BanBook::new(BanPolicy::from_config(&config))
    }

    #[test]
    fn the_fifth_failure_within_the_window_bans_and_bans_double() {
        let book = book(&[]);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let t0 = Utc::now();
        for n in 0..4 {
            let at = t0 + Duration::seconds(n);
            assert!(book
                .count(ip, SecurityEventKind::SigninFailed, at)
                .is_none());
        }
        // Other kinds and uncounted kinds do not add up.
        assert!(book.count(ip, SecurityEventKind::OtpFailed, t0).is_none());
        assert!(book
            .count(ip, SecurityEventKind::TokenRefused, t0)
            .is_none());
        let ban = book
            .count(
                ip,
                SecurityEventKind::SigninFailed,
                t0 + Duration::seconds(5),
            )
            .expect("the fifth failure bans");
        assert_eq!(ban.offences, 1);
        assert_eq!(ban.banned_until, t0 + Duration::seconds(5 + 600));
        assert_eq!(
            book.banned_until(ip, t0 + Duration::seconds(6)),
            Some(ban.banned_until)
        );
        assert_eq!(book.banned_until(ip, ban.banned_until), None);

        // After it ends, five more failures: twice as long.
        let later = ban.banned_until + Duration::seconds(1);
        let second = (0..5)
            .filter_map(|n| {
                book.count(
                    ip,
                    SecurityEventKind::SigninFailed,
                    later + Duration::seconds(n),
                )
            })
            .next()
            .expect("banned again");
        assert_eq!(second.offences, 2);
        assert_eq!(
            second.banned_until - (later + Duration::seconds(4)),
            Duration::seconds(1200)
        );
        // Capped.
        assert_eq!(book.policy().length(40), Duration::seconds(7 * 24 * 3600));
    }

    #[test]
    fn failures_outside_the_window_and_ignored_addresses_never_ban() {
        let book = book(&["127.0.0.0/8", "::1/128"]);
        let t0 = Utc::now();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        for n in 0..10 {
            let at = t0 + Duration::minutes(3 * n);
            assert!(book
                .count(ip, SecurityEventKind::SigninFailed, at)
                .is_none());
        }
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            for _ in 0..10 {
                assert!(book
                    .count(ip.to_canonical(), SecurityEventKind::SigninFailed, t0)
                    .is_none());
            }
        }
    }

    #[test]
    fn lifting_forgets_and_reloading_replaces() {
        let book = book(&[]);
        let now = Utc::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let ban = book.issue(
            ip,
            Some(Duration::hours(1)),
            "manual".into(),
            "operator",
            now,
        );
        assert!(book.banned_until(ip, now).is_some());
        book.lift(ip);
        assert!(book.banned_until(ip, now).is_none());
        book.reload(std::slice::from_ref(&ban));
        assert_eq!(book.banned_until(ip, now), Some(ban.banned_until));
        book.reload(&[]);
        assert!(book.banned_until(ip, now).is_none());
    }
}
