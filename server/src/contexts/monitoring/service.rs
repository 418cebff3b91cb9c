//! `MonitoringService`: raising instance-wide alerts and relaying them to the bus.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};

use crate::db::Db;
use crate::events::EventBus;

use super::store::MonitoringStore;
use super::{AlertLevel, AlertRaised, AlertSource, MonitoringError};

/// Longest alert message, in characters.
pub const MAX_ALERT_CHARS: usize = 2000;

#[derive(Clone)]
pub struct MonitoringService {
    inner: Arc<Inner>,
}

struct Inner {
    store: MonitoringStore,
    bus: Arc<dyn EventBus>,
}

impl MonitoringService {
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: MonitoringStore::new(db),
                bus,
            }),
        }
    }

    /// Stores an instance-wide alert; every running server relays it to every community
    /// within the relay interval. Returns its id.
    pub async fn raise(
        &self,
        level: AlertLevel,
        message: &str,
        source: AlertSource,
    ) -> Result<i64, MonitoringError> {
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
