//! Watch state: where each user is in each item, reported by players every few seconds and on
//! pause/stop, and pushed at once to the user's other devices (`watch.progress` → the
//! `watch_progress` push on `user:{id}`). An item counts as played past 90 % of its duration
//! (its position then goes back to 0 for the next time); stopping or finishing writes the
//! watch history. From these: `continueWatching` and `nextUp`.

use chrono::Utc;

use super::events::{StreamingEvent, WatchProgress, WatchState};
use super::service::{StreamingService, MAX_PAGE};
use super::{HistoryEntry, Item, ItemKind, PlaybackState, Progress, StreamingError};
use crate::contexts::auth::Principal;
use crate::ids::ItemId;

type Result<T, E = StreamingError> = std::result::Result<T, E>;

/// Share of the duration past which an item counts as played (percent).
const PLAYED_PERCENT: i64 = 90;
/// Longest device name kept.
const MAX_DEVICE_CHARS: usize = 64;

/// One report from a player.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub position_ms: i64,
    /// The player's idea of the duration, used when the scan did not learn it.
    pub duration_ms: Option<i64>,
    pub state: PlaybackState,
    pub device: Option<String>,
}

/// The progress after `report` on top of `before`.
fn advance(before: Option<&Progress>, item: &Item, by: &Principal, report: &Report) -> Progress {
    let duration = item.duration_ms.or(report.duration_ms).filter(|d| *d > 0);
    let position = match duration {
        Some(d) => report.position_ms.clamp(0, d),
        None => report.position_ms.max(0),
    };
    let was_played = before.is_some_and(|p| p.played);
    let finished = duration.is_some_and(|d| position * 100 >= d * PLAYED_PERCENT);
    let play_count = before.map_or(0, |p| p.play_count);
    Progress {
        user_id: by.user_id.clone(),
        item_id: item.id.clone(),
        position_ms: if finished { 0 } else { position },
        duration_ms: duration,
        played: was_played || finished,
        // A finish counts once per run through: the position went back to 0 at the last one.
        play_count: if finished && before.is_none_or(|p| p.position_ms > 0 || !p.played) {
            play_count + 1
        } else {
            play_count
        },
        device: report
            .device
            .as_deref()
            .map(|d| d.trim().chars().take(MAX_DEVICE_CHARS).collect::<String>())
            .filter(|d| !d.is_empty()),
        updated_at: Utc::now(),
    }
}

impl StreamingService {
    /// Records where `by` is in the item and pushes it to their other devices.
    pub async fn report_progress(
        &self,
        by: &Principal,
        item_id: &ItemId,
        report: &Report,
    ) -> Result<Progress> {
        if report.position_ms < 0 {
            return Err(StreamingError::Invalid("positionMs must be ≥ 0".into()));
        }
        let item = self.item(by, item_id).await?;
        if !item.kind.is_playable() {
            return Err(StreamingError::Invalid(
                "progress is kept for episodes, movies, tracks and videos".into(),
            ));
        }
        let before = self.inner.store.progress(&by.user_id, &item.id).await?;
        let progress = advance(before.as_ref(), &item, by, report);
        self.inner.store.save_progress(&progress).await?;
        let newly_played = progress.played
            && before
                .as_ref()
                .is_none_or(|b| !b.played || progress.play_count > b.play_count);
        if report.state == PlaybackState::Stopped || newly_played {
            self.inner.store.add_history(&progress).await?;
        }
        self.publish_progress(by, &progress, report.state.into());
        Ok(progress)
    }

    /// Marks an item (or every episode or track below a show, season or album) played or not.
    pub async fn mark_played(
        &self,
        by: &Principal,
        item_id: &ItemId,
        played: bool,
    ) -> Result<Vec<Progress>> {
        let item = self.item(by, item_id).await?;
        let mut marked = Vec::new();
        for id in self.inner.store.playable_below(&item.id).await? {
            let before = self.inner.store.progress(&by.user_id, &id).await?;
            let progress = Progress {
                user_id: by.user_id.clone(),
                item_id: id,
                position_ms: 0,
                duration_ms: before.as_ref().and_then(|p| p.duration_ms),
                played,
                play_count: before.as_ref().map_or(0, |p| p.play_count)
                    + u32::from(played && before.as_ref().is_none_or(|p| !p.played)),
                device: None,
                updated_at: Utc::now(),
            };
            self.inner.store.save_progress(&progress).await?;
            if played && before.as_ref().is_none_or(|p| !p.played) {
                self.inner.store.add_history(&progress).await?;
            }
            self.publish_progress(by, &progress, WatchState::Marked);
            marked.push(progress);
        }
        Ok(marked)
    }

    fn publish_progress(&self, by: &Principal, progress: &Progress, state: WatchState) {
        let pushed = WatchProgress {
            progress: progress.clone(),
            state,
            session_id: Some(by.session_id.clone()),
        };
        self.inner
            .bus
            .publish(StreamingEvent::watch(&by.community_id, &pushed));
    }

    pub async fn progress(&self, by: &Principal, item_id: &ItemId) -> Result<Option<Progress>> {
        let item = self.item(by, item_id).await?;
        self.inner.store.progress(&by.user_id, &item.id).await
    }

    /// Started and not finished, most recent first.
    pub async fn continue_watching(
        &self,
        by: &Principal,
        first: Option<u32>,
    ) -> Result<Vec<(Item, Progress)>> {
        let limit = first.unwrap_or(20).clamp(1, MAX_PAGE);
        self.inner
            .store
            .continue_watching(&by.user_id, &by.community_id, limit)
            .await
    }

    /// For each show the user is watching (most recent first): the first episode not played
    /// after the last one played, specials (season 0) left out.
    pub async fn next_up(&self, by: &Principal, first: Option<u32>) -> Result<Vec<Item>> {
        let limit = first.unwrap_or(20).clamp(1, MAX_PAGE) as usize;
        let mut next = Vec::new();
        for show in self
            .inner
            .store
            .shows_in_progress(&by.user_id, &by.community_id)
            .await?
        {
            if next.len() >= limit {
                break;
            }
            let episodes: Vec<(Item, bool)> = self
                .inner
                .store
                .episodes_of_show(&show, &by.user_id)
                .await?
                .into_iter()
                .filter(|(e, _)| e.season_number != Some(0) && e.kind == ItemKind::Episode)
                .collect();
            let after_last_played = episodes
                .iter()
                .rposition(|(_, played)| *played)
                .map_or(0, |i| i + 1);
            if let Some((episode, _)) = episodes[after_last_played..].iter().find(|(_, p)| !p) {
                next.push(episode.clone());
            }
        }
        Ok(next)
    }

    pub async fn history(&self, by: &Principal, first: Option<u32>) -> Result<Vec<HistoryEntry>> {
        let limit = first.unwrap_or(50).clamp(1, MAX_PAGE);
        self.inner
            .store
            .history(&by.user_id, &by.community_id, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::Role;

    fn item(duration: Option<i64>) -> Item {
        serde_json::from_value(serde_json::json!({
            "id": "item", "library_id": "lib", "parent_id": null, "kind": "movie",
            "title": "T", "year": null, "overview": null, "season_number": null,
            "episode_number": null, "episode_end": null, "disc_number": null,
            "track_number": null, "artist": null, "path": "t.mkv", "size_bytes": 1,
            "duration_ms": duration, "container": "mkv", "probe": null, "sidecars": [],
            "has_poster": false, "strip_interval_ms": null, "missing_since": null,
            "added_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn principal() -> Principal {
        Principal {
            user_id: "user".into(),
            community_id: "c".into(),
            role: Role::Member,
            session_id: "s".into(),
            email: "e@x".into(),
            expires_at: Utc::now(),
        }
    }

    fn report(position_ms: i64) -> Report {
        Report {
            position_ms,
            ..Report::default()
        }
    }

    #[test]
    fn past_ninety_percent_is_played_once_and_resumes_from_the_start() {
        let item = item(Some(100_000));
        let by = principal();
        let halfway = advance(None, &item, &by, &report(50_000));
        assert_eq!(
            (halfway.position_ms, halfway.played, halfway.play_count),
            (50_000, false, 0)
        );
        let finished = advance(Some(&halfway), &item, &by, &report(95_000));
        assert_eq!(
            (finished.position_ms, finished.played, finished.play_count),
            (0, true, 1)
        );
        // The same end reported twice counts once.
        let again = advance(Some(&finished), &item, &by, &report(99_000));
        assert_eq!(again.play_count, 1);
        // A rewatch past the end counts again.
        let rewatching = advance(Some(&again), &item, &by, &report(30_000));
        assert!(rewatching.played);
        let twice = advance(Some(&rewatching), &item, &by, &report(100_000));
        assert_eq!(twice.play_count, 2);
        // Positions past the end are clamped; without a duration nothing is finished.
        let unknown = advance(None, &self::item(None), &by, &report(10_000_000));
        assert_eq!((unknown.position_ms, unknown.played), (10_000_000, false));
    }
}
