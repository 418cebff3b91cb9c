//! Which topics have too many devices to list: past `realtime.presence_list_limit` devices a
//! topic's presence is summarized. Listing every device to every device costs N² metas in all
//! (5,000 devices joining one conversation: 12.5 million, over a gigabyte of JSON to encode
//! and to read); a summarized topic sends each device `presence_summary` `{devices, users}`
//! at most once per `realtime.presence_summary_interval_ms` instead, as Centrifugo's
//! `presence_stats` does, and lists again once it is back to three quarters of the limit, so
//! a topic near the limit does not switch at every join.
//!
//! A topic's entry here is also the lock under which everything that tells this node's
//! devices about the topic's presence is sent (a switch, a joining device's
//! `presence_state`, a diff, a summary), so none of it overtakes another.

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// A topic's presence counted across nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PresenceCount {
    pub devices: usize,
    pub users: usize,
}

/// A summarized topic.
#[derive(Default)]
pub struct Summary {
    /// A summary is waiting for its interval.
    pub due: bool,
    /// The counts the last summary sent.
    pub sent: Option<PresenceCount>,
}

/// Summarized topics; a topic not here is listed.
#[derive(Default)]
pub struct PresenceSummaries {
    topics: DashMap<String, Summary>,
}

impl PresenceSummaries {
    /// Runs `f` with the topic's summary (`None` while it is listed) under the topic's lock;
    /// what `f` leaves in it is the topic's mode afterwards.
    pub fn with<R>(&self, topic: &str, f: impl FnOnce(&mut Option<Summary>) -> R) -> R {
        match self.topics.entry(topic.to_owned()) {
            Entry::Occupied(mut entry) => {
                let mut summary = Some(std::mem::take(entry.get_mut()));
                let result = f(&mut summary);
                match summary {
                    Some(summary) => *entry.get_mut() = summary,
                    None => {
                        entry.remove();
                    }
                }
                result
            }
            Entry::Vacant(entry) => {
                let mut summary = None;
                let result = f(&mut summary);
                if let Some(summary) = summary {
                    entry.insert(summary);
                }
                result
            }
        }
    }

    #[cfg(test)]
    fn is_summarized(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }
}

/// Whether a topic of `devices` with the given limit (0: none) should be summarized, given
/// whether it is now.
pub fn should_summarize(devices: usize, limit: usize, summarized: bool) -> bool {
    if limit == 0 {
        false
    } else if summarized {
        devices > limit * 3 / 4
    } else {
        devices > limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_summarized_past_the_limit_and_listed_again_at_three_quarters() {
        assert!(!should_summarize(100, 100, false));
        assert!(should_summarize(101, 100, false));
        assert!(should_summarize(76, 100, true));
        assert!(!should_summarize(75, 100, true));
        assert!(!should_summarize(1_000_000, 0, false));
        assert!(!should_summarize(1_000_000, 0, true));
    }

    #[test]
    fn what_the_closure_leaves_is_the_mode() {
        let summaries = PresenceSummaries::default();
        summaries.with("t", |summary| {
            assert!(summary.is_none());
            *summary = Some(Summary::default());
        });
        assert!(summaries.is_summarized("t"));
        summaries.with("t", |summary| {
            let summary = summary.as_mut().unwrap();
            summary.due = true;
        });
        assert!(summaries.with("t", |summary| summary.as_ref().unwrap().due));
        summaries.with("t", |summary| *summary = None);
        assert!(!summaries.is_summarized("t"));
        // Looking at a listed topic leaves nothing behind.
        summaries.with("u", |_| ());
        assert!(!summaries.is_summarized("u"));
    }
}
