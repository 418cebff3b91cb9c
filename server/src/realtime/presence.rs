//! Who is on a topic: Phoenix.Presence-compatible state, one key per user and one meta per
//! connected device. The hub turns changes into `presence_diff` broadcasts.

use std::collections::HashMap;

use dashmap::DashMap;
use serde_json::{json, Map, Value};

use super::hub::ConnId;
use crate::ids::UserId;

/// One device on a topic. Numbers, not strings, until it is sent: a joined socket holds
/// one, and two small strings cost it two allocations.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// Random, unique per join, sent as hex: the JS `Presence` helper matches metas by it.
    pub phx_ref: u64,
    pub conn_id: ConnId,
    /// Unix seconds (sent as a string, like Phoenix does).
    pub online_at: i64,
    pub device: Option<String>,
}

impl Meta {
    pub fn to_json(&self) -> Value {
        let mut meta = json!({
            "phx_ref": format!("{:x}", self.phx_ref),
            "online_at": self.online_at.to_string(),
        });
        if let Some(device) = &self.device {
            meta["device"] = json!(device);
        }
        meta
    }
}

#[derive(Default)]
pub struct Presences {
    topics: DashMap<String, TopicPresence>,
}

#[derive(Default)]
struct TopicPresence {
    users: HashMap<UserId, Vec<Meta>>,
    /// Metas in all, kept so a topic's size is known without counting them.
    devices: usize,
}

impl Presences {
    pub fn track(&self, topic: &str, user_id: &UserId, meta: Meta) {
        let mut entry = self.topics.entry(topic.to_string()).or_default();
        let metas = entry.users.entry(user_id.clone()).or_default();
        // Exact: most users have one device on a topic, and a `Vec`'s first growth makes
        // room for four metas (240 bytes more on every joined socket, DHAT).
        metas.reserve_exact(1);
        metas.push(meta);
        entry.devices += 1;
    }

    /// Removes the connection's meta; returns it when there was one.
    pub fn untrack(&self, topic: &str, user_id: &UserId, conn_id: ConnId) -> Option<Meta> {
        let mut entry = self.topics.get_mut(topic)?;
        let metas = entry.users.get_mut(user_id)?;
        let position = metas.iter().position(|m| m.conn_id == conn_id)?;
        let meta = metas.remove(position);
        if metas.is_empty() {
            entry.users.remove(user_id);
        }
        entry.devices -= 1;
        let now_empty = entry.users.is_empty();
        drop(entry);
        if now_empty {
            self.topics
                .remove_if(topic, |_, presence| presence.users.is_empty());
        }
        Some(meta)
    }

    /// This node's devices on the topic.
    pub fn devices(&self, topic: &str) -> usize {
        self.topics
            .get(topic)
            .map_or(0, |presence| presence.devices)
    }

    /// This node's users on the topic.
    pub fn users(&self, topic: &str) -> Vec<UserId> {
        self.topics
            .get(topic)
            .map(|presence| presence.users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every topic's presences as JSON metas (what a node's heartbeat tells the others).
    pub fn snapshot(&self) -> HashMap<String, HashMap<String, Vec<Value>>> {
        self.topics
            .iter()
            .map(|entry| {
                let users = entry
                    .value()
                    .users
                    .iter()
                    .map(|(user, metas)| {
                        (user.to_string(), metas.iter().map(Meta::to_json).collect())
                    })
                    .collect();
                (entry.key().clone(), users)
            })
            .collect()
    }

    /// `{"<user>": {"metas": [...]}, …}`, the `presence_state` payload.
    pub fn state(&self, topic: &str) -> Value {
        let mut state = Map::new();
        if let Some(entry) = self.topics.get(topic) {
            for (user, metas) in entry.users.iter() {
                state.insert(
                    user.to_string(),
                    json!({ "metas": metas.iter().map(Meta::to_json).collect::<Vec<_>>() }),
                );
            }
        }
        Value::Object(state)
    }

    pub fn diff(joins: Option<(&UserId, &Meta)>, leaves: Option<(&UserId, &Meta)>) -> Value {
        let side = |change: Option<(&UserId, &Meta)>| match change {
            Some((user, meta)) => json!({ user.as_str(): { "metas": [meta.to_json()] } }),
            None => json!({}),
        };
        json!({ "joins": side(joins), "leaves": side(leaves) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(conn: ConnId) -> Meta {
        Meta {
            phx_ref: 0xa0 + conn,
            conn_id: conn,
            online_at: 1_700_000_000,
            device: Some("phone".into()),
        }
    }

    #[test]
    fn one_key_per_user_one_meta_per_device() {
        let presences = Presences::default();
        let (u1, u2) = (UserId::from("u1"), UserId::from("u2"));
        presences.track("community:c", &u1, meta(1));
        presences.track("community:c", &u1, meta(2));
        presences.track("community:c", &u2, meta(3));
        assert_eq!(presences.devices("community:c"), 3);
        assert_eq!(presences.users("community:c").len(), 2);
        let state = presences.state("community:c");
        assert_eq!(state["u1"]["metas"].as_array().unwrap().len(), 2);
        assert_eq!(state["u2"]["metas"][0]["device"], "phone");
        assert_eq!(
            presences.untrack("community:c", &u1, 1).unwrap().phx_ref,
            0xa1
        );
        assert!(presences.untrack("community:c", &u1, 1).is_none());
        presences.untrack("community:c", &u1, 2);
        presences.untrack("community:c", &u2, 3);
        assert_eq!(presences.state("community:c"), json!({}));
        assert_eq!(presences.devices("community:c"), 0);
    }
}
