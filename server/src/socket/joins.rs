//! The topics one Phoenix socket has joined, keyed by topic. A socket usually holds one to
//! a few joins (the limit is `max_channels_per_socket`), so a vector searched linearly and
//! grown one slot at a time costs less memory on every idle socket than a hash map's
//! minimum table.

/// Joined topics and their per-join state `J`.
pub struct Joins<J> {
    entries: Vec<(String, J)>,
}

impl<J> Default for Joins<J> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<J> Joins<J> {
    pub fn get(&self, topic: &str) -> Option<&J> {
        self.entries
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, j)| j)
    }

    /// Adds or replaces `topic`'s join; returns the replaced one.
    pub fn insert(&mut self, topic: String, join: J) -> Option<J> {
        match self.entries.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, existing)) => Some(std::mem::replace(existing, join)),
            None => {
                self.entries.reserve_exact(1);
                self.entries.push((topic, join));
                None
            }
        }
    }

    pub fn remove(&mut self, topic: &str) -> Option<J> {
        let at = self.entries.iter().position(|(t, _)| t == topic)?;
        let (_, join) = self.entries.swap_remove(at);
        self.entries.shrink_to_fit();
        Some(join)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &J)> {
        self.entries.iter().map(|(t, j)| (t, j))
    }

    pub fn drain(&mut self) -> impl Iterator<Item = (String, J)> + '_ {
        self.entries.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_behave_like_a_map() {
        let mut joins = Joins::default();
        assert_eq!(joins.insert("a".to_string(), 1), None);
        assert_eq!(joins.insert("b".to_string(), 2), None);
        assert_eq!(joins.insert("a".to_string(), 3), Some(1));
        assert_eq!(
            (joins.get("a"), joins.get("b"), joins.get("c")),
            (Some(&3), Some(&2), None)
        );
        assert_eq!(joins.len(), 2);
        assert_eq!(joins.remove("a"), Some(3));
        assert_eq!(joins.remove("a"), None);
        assert_eq!(
            joins
                .iter()
                .map(|(t, j)| (t.as_str(), *j))
                .collect::<Vec<_>>(),
            [("b", 2)]
        );
        assert_eq!(joins.drain().collect::<Vec<_>>(), [("b".to_string(), 2)]);
        assert_eq!(joins.len(), 0);
    }
}
