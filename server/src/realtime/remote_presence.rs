//! Presence held on the other nodes, as they tell it: every node relays its presence diffs as
//! they happen and a snapshot of all its presences every few seconds (its heartbeat). A
//! `presence_state` here lists the devices of every node; a node whose heartbeat stops is
//! forgotten after [`NODE_EXPIRY`], and leave diffs for its devices go to this node's
//! subscribers. Metas stay the JSON the owning node made (`phx_ref`, `online_at`, `device`):
//! they are matched by `phx_ref`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// A node silent this long (three missed heartbeats) is taken for dead.
pub const NODE_EXPIRY: Duration = Duration::from_secs(15);

/// Topic → user → metas.
pub type Snapshot = HashMap<String, HashMap<String, Vec<Value>>>;

#[derive(Default)]
pub struct RemotePresence {
    nodes: Mutex<HashMap<String, Node>>,
}

struct Node {
    last_seen: Instant,
    topics: Snapshot,
}

impl Node {
    fn new() -> Self {
        Self {
            last_seen: Instant::now(),
            topics: Snapshot::new(),
        }
    }
}

impl RemotePresence {
    /// A `presence_diff` `{joins, leaves}` another node broadcast on `topic`.
    pub fn apply_diff(&self, node: &str, topic: &str, diff: &Value) {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let entry = nodes.entry(node.to_owned()).or_insert_with(Node::new);
        entry.last_seen = Instant::now();
        let users = entry.topics.entry(topic.to_owned()).or_default();
        for (user, metas) in side(diff, "joins") {
            users.entry(user).or_default().extend(metas);
        }
        for (user, metas) in side(diff, "leaves") {
            if let Some(held) = users.get_mut(&user) {
                held.retain(|m| !metas.iter().any(|gone| gone["phx_ref"] == m["phx_ref"]));
                if held.is_empty() {
                    users.remove(&user);
                }
            }
        }
        if users.is_empty() {
            entry.topics.remove(topic);
        }
    }

    /// A node's heartbeat: everything it holds now, replacing what was known of it.
    pub fn replace(&self, node: &str, snapshot: Snapshot) {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let entry = nodes.entry(node.to_owned()).or_insert_with(Node::new);
        entry.last_seen = Instant::now();
        entry.topics = snapshot;
    }

    /// Adds the other nodes' metas on `topic` to a `presence_state` payload.
    pub fn merge_into(&self, topic: &str, state: &mut Map<String, Value>) {
        let nodes = self.nodes.lock().expect("presence lock");
        for node in nodes.values() {
            let Some(users) = node.topics.get(topic) else {
                continue;
            };
            for (user, metas) in users {
                let slot = state
                    .entry(user.clone())
                    .or_insert_with(|| json!({ "metas": [] }));
                if let Some(list) = slot["metas"].as_array_mut() {
                    list.extend(metas.iter().cloned());
                }
            }
        }
    }

    /// Forgets nodes silent for `expiry`; returns, per topic, the `presence_diff` of their
    /// devices leaving.
    pub fn expire(&self, expiry: Duration) -> Vec<(String, Value)> {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let dead: Vec<String> = nodes
            .iter()
            .filter(|(_, node)| node.last_seen.elapsed() >= expiry)
            .map(|(name, _)| name.clone())
            .collect();
        let mut leaves = Vec::new();
        for name in dead {
            let Some(node) = nodes.remove(&name) else {
                continue;
            };
            for (topic, users) in node.topics {
                let gone: Map<String, Value> = users
                    .into_iter()
                    .map(|(user, metas)| (user, json!({ "metas": metas })))
                    .collect();
                leaves.push((topic, json!({ "joins": {}, "leaves": gone })));
            }
        }
        leaves
    }
}

/// `diff[key]` as (user, metas) pairs.
fn side(diff: &Value, key: &str) -> Vec<(String, Vec<Value>)> {
    diff.get(key)
        .and_then(Value::as_object)
        .map(|users| {
            users
                .iter()
                .map(|(user, v)| {
                    let metas = v["metas"].as_array().cloned().unwrap_or_default();
                    (user.clone(), metas)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(r: &str) -> Value {
        json!({ "phx_ref": r, "online_at": "1", "device": "phone" })
    }

    #[test]
    fn diffs_and_snapshots_add_up_and_a_silent_node_leaves() {
        let remote = RemotePresence::default();
        let join = json!({ "joins": { "u1": { "metas": [meta("a")] } }, "leaves": {} });
        remote.apply_diff("n1", "community:c", &join);
        remote.apply_diff(
            "n1",
            "community:c",
            &json!({ "joins": { "u1": { "metas": [meta("b")] } }, "leaves": {} }),
        );
        let mut state = Map::new();
        state.insert("u2".into(), json!({ "metas": [meta("local")] }));
        remote.merge_into("community:c", &mut state);
        assert_eq!(state["u1"]["metas"].as_array().unwrap().len(), 2);
        assert_eq!(state["u2"]["metas"].as_array().unwrap().len(), 1);

        remote.apply_diff(
            "n1",
            "community:c",
            &json!({ "joins": {}, "leaves": { "u1": { "metas": [meta("a")] } } }),
        );
        let mut state = Map::new();
        remote.merge_into("community:c", &mut state);
        assert_eq!(state["u1"]["metas"], json!([meta("b")]));

        // A heartbeat replaces what was known; silence past the expiry makes the node leave.
        let mut snapshot = Snapshot::new();
        snapshot
            .entry("community:c".into())
            .or_default()
            .insert("u3".into(), vec![meta("c")]);
        remote.replace("n2", snapshot);
        assert!(remote.expire(Duration::from_secs(60)).is_empty());
        let mut left = remote.expire(Duration::ZERO);
        left.sort_by_key(|(_, diff)| diff.to_string());
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|(topic, _)| topic == "community:c"));
        assert!(left
            .iter()
            .any(|(_, diff)| diff["leaves"]["u3"]["metas"][0]["phx_ref"] == "c"));
        let mut state = Map::new();
        remote.merge_into("community:c", &mut state);
        assert!(state.is_empty());
    }
}
