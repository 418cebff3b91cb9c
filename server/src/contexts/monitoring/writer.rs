//! The security writer: one background task that stores what [`MonitoringService::record`]
//! queued (events in batches, one transaction each; bans), streams each stored event, keeps
//! the ban book in step with the database, and prunes old events and long-expired bans.
//!
//! Recording never waits for the database: sign-in pays for a lookup and a channel send. The
//! ban itself is decided in memory at once; storing it follows within moments. Before each
//! reload the queue is drained, so a reload never forgets a ban decided here but not yet
//! stored.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use tokio::sync::mpsc;

use super::service::{alert_ban, ban_event, Inner};
use super::{Ban, MonitoringService, NewSecurityEvent, SecurityEventKind};
use crate::contexts::auth::{SecurityLog, SecurityNote};

/// What the writer stores.
pub(super) enum Write {
    Event(NewSecurityEvent),
    /// A ban decided by the book; stored with its `ban_issued` event.
    Ban(Ban),
}

/// Most writes stored in one transaction.
const BATCH: usize = 256;
/// How often stored bans are reloaded (bans and lifts by other processes take this long).
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl MonitoringService {
    /// Starts the security writer (once; later calls do nothing). Runs until the service is
    /// dropped.
    pub fn spawn_security_writer(&self) {
        let queued = self
            .inner()
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut queued) = queued else { return };
        let service = Arc::downgrade(self.inner());
        tokio::spawn(async move {
            let mut reload = tokio::time::interval(RELOAD_EVERY);
            reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut prune = tokio::time::interval(PRUNE_EVERY);
            prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    write = queued.recv() => {
                        // `None`: every sender is gone with the service.
                        let Some(write) = write else { return };
                        let mut batch = vec![write];
                        drain(&mut queued, &mut batch);
                        let Some(inner) = service.upgrade() else { return };
                        store(&inner, batch).await;
                    }
                    _ = reload.tick() => {
                        let Some(inner) = service.upgrade() else { return };
                        let mut batch = Vec::new();
                        drain(&mut queued, &mut batch);
                        if !batch.is_empty() {
                            store(&inner, batch).await;
                        }
                        match inner.store.bans().await {
                            Ok(bans) => inner.book.reload(&bans),
                            Err(e) => tracing::warn!(error = %e, "security log: cannot reload bans"),
                        }
                    }
                    _ = prune.tick() => {
                        let Some(inner) = service.upgrade() else { return };
                        prune_old(&inner).await;
                    }
                }
            }
        });
    }
}

fn drain(queued: &mut mpsc::Receiver<Write>, batch: &mut Vec<Write>) {
    while batch.len() < BATCH {
        match queued.try_recv() {
            Ok(write) => batch.push(write),
            Err(_) => break,
        }
    }
}

async fn store(inner: &Inner, batch: Vec<Write>) {
    let mut events = Vec::with_capacity(batch.len());
    for write in batch {
        match write {
            Write::Event(event) => events.push(event),
            Write::Ban(ban) => {
                if let Err(e) = inner.store.upsert_ban(&ban).await {
                    tracing::error!(error = %e, address = %ban.address, "cannot store a ban");
                }
                alert_ban(inner, &ban).await;
                events.push(ban_event(&ban, SecurityEventKind::BanIssued));
            }
        }
    }
    match inner.store.insert_security_events(events).await {
        Ok(stored) => {
            for event in stored {
                inner.published(event);
            }
        }
        Err(e) => tracing::warn!(error = %e, "security log: cannot write events"),
    }
}

pub(super) async fn prune_old(inner: &Inner) {
    let before = Utc::now() - chrono::Duration::days(i64::from(inner.config.retention_days));
    match inner.store.prune_security_events(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "security log: old events pruned"),
        Err(e) => tracing::warn!(error = %e, "security log: cannot prune"),
    }
}

/// Auth's port: what auth sees goes to the log (and counts towards bans).
impl SecurityLog for MonitoringService {
    fn record(&self, note: SecurityNote) {
        MonitoringService::record(
            self,
            NewSecurityEvent {
                kind: note.kind.into(),
                at: Utc::now().trunc_subsecs(6),
                community_id: note.community_id,
                user_id: note.user_id,
                address: note.address,
                user_agent: note.user_agent,
                reason: note.reason,
            },
        );
    }
}
