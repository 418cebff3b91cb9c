//! The statistics compiler: every minute it compiles the 5-minute periods that ended (and the
//! hours they complete) for every sensor with a `state_class`, and once an hour removes raw
//! states and 5-minute rows older than `automation.keep_days`. Compiling is idempotent (a row
//! once written stays), so a restart or a second node doing the same work changes nothing.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::service::AutomationService;
use super::statistics::{self, Carry, Meter, Period, Row, Sample};
use super::AutomationError;
use crate::ids::EntityRowId;

type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// States stored up to this long after their period ended still count in it.
const GRACE: Duration = Duration::seconds(10);
/// Periods compiled in one go when catching up (a day of 5-minute periods).
const MAX_PERIODS: i64 = 288;
const EVERY: StdDuration = StdDuration::from_secs(60);

impl AutomationService {
    /// Compiles and purges in the background until the service is dropped.
    pub(super) fn spawn_compiler(&self) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(EVERY);
            let mut last_purge: Option<DateTime<Utc>> = None;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let service = AutomationService { inner };
                let now = Utc::now();
                if !service.coordinates() {
                    continue;
                }
                if let Err(error) = service.compile_statistics(now).await {
                    tracing::warn!(%error, "automation statistics not compiled");
                }
                if last_purge.is_none_or(|at| now - at >= Duration::hours(1)) {
                    last_purge = Some(now);
                    if let Err(error) = service.purge_history(now).await {
                        tracing::warn!(%error, "automation history not purged");
                    }
                }
            }
        });
    }

    /// Compiles every 5-minute period that ended before `now` (at most a day of them per call),
    /// then the hours they complete. Returns how far 5-minute statistics reach.
    pub async fn compile_statistics(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let store = self.store();
        let ready = Period::FiveMinutes.floor(now - GRACE);
        let from = match store.compiled_up_to(Period::FiveMinutes).await? {
            Some(at) => at,
            None => match store.first_state_at().await? {
                Some(first) => Period::FiveMinutes.floor(first),
                None => return Ok(None),
            },
        };
        let count = ((ready - from).num_minutes() / 5).clamp(0, MAX_PERIODS);
        if count == 0 {
            return Ok(Some(from));
        }
        let to = from + Duration::minutes(5 * count);
        for (id, state_class) in store.meters().await? {
            let Some(meter) = Meter::of_state_class(&state_class) else {
                continue;
            };
            self.compile_entity(&id, meter, from, count as u32).await?;
        }
        store.set_compiled(Period::FiveMinutes, to).await?;
        self.compile_hours(to).await?;
        Ok(Some(to))
    }

    async fn compile_entity(
        &self,
        id: &EntityRowId,
        meter: Meter,
        from: DateTime<Utc>,
        count: u32,
    ) -> Result<()> {
        let store = self.store();
        let to = from + Duration::minutes(5 * i64::from(count));
        let value = store
            .state_before(id, from)
            .await?
            .and_then(|s| statistics::value_of(s.as_deref()));
        let previous = store
            .statistic_before(id, Period::FiveMinutes, from)
            .await?;
        let mut carry = Carry {
            value,
            reading: previous.as_ref().and_then(|r| r.state).or(value),
            sum: previous.and_then(|r| r.sum).unwrap_or(0.0),
        };
        let samples: Vec<Sample> = store
            .states_between(id, from, to)
            .await?
            .into_iter()
            .map(|(state, at)| Sample {
                at,
                value: statistics::value_of(state.as_deref()),
            })
            .collect();
        let rows = statistics::compile(meter, from, count, &samples, &mut carry);
        store
            .insert_statistics(id, Period::FiveMinutes, &rows)
            .await
    }

    /// Rolls the hours that 5-minute statistics up to `ready` complete into hourly rows.
    async fn compile_hours(&self, ready: DateTime<Utc>) -> Result<()> {
        let store = self.store();
        let until = Period::Hour.floor(ready);
        let from = match store.compiled_up_to(Period::Hour).await? {
            Some(at) => at,
            None => match store.first_state_at().await? {
                Some(first) => Period::Hour.floor(first),
                None => return Ok(()),
            },
        };
        if until <= from {
            return Ok(());
        }
        for (id, _) in store.meters().await? {
            let rows = store
                .statistics(&id, Period::FiveMinutes, from, until)
                .await?;
            let hours = group_by(|at| Period::Hour.floor(at), &rows);
            store.insert_statistics(&id, Period::Hour, &hours).await?;
        }
        store.set_compiled(Period::Hour, until).await
    }

    /// Removes raw states and 5-minute statistics older than `automation.keep_days`.
    pub async fn purge_history(&self, now: DateTime<Utc>) -> Result<(u64, u64)> {
        let keep = Duration::days(i64::from(self.inner.config.keep_days.max(1)));
        let removed = self.store().purge(now - keep).await?;
        if removed != (0, 0) {
            tracing::info!(
                states = removed.0,
                statistics = removed.1,
                "automation history purged"
            );
        }
        Ok(removed)
    }
}

/// Shorter rows (oldest first) rolled up into the periods `floor` maps their starts to.
pub(super) fn group_by(floor: impl Fn(DateTime<Utc>) -> DateTime<Utc>, rows: &[Row]) -> Vec<Row> {
    let mut grouped = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let begin = floor(rows[start].start);
        let end = rows[start..]
            .iter()
            .position(|r| floor(r.start) != begin)
            .map_or(rows.len(), |n| start + n);
        grouped.extend(statistics::roll_up(begin, &rows[start..end]));
        start = end;
    }
    grouped
}
