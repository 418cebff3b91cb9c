//! Presence held on the other nodes, as they tell it: every node relays its presence diffs as
//! they happen and a snapshot of all its presences every few seconds (its heartbeat). A
//! `presence_state` here lists the devices of every node; a node whose heartbeat stops is
//! forgotten after [`NODE_EXPIRY`], and leave diffs for its devices go to this node's
//! subscribers. Metas stay the JSON the owning node made (`phx_ref`, `online_at`, `device`):
//! they are matched by `phx_ref`.
//!
//! Nodes also tell each other which users they have connected (a user's first device arrived,
//! their last one left, and the whole list in the heartbeat), so `user.online` and
//! `user.offline` are emitted once per user, not once per node: online by the node where the
//! user's first device anywhere arrives, offline by the node whose leave was the last one
//! (ordered by the leaving node's clock, then node name, so every node agrees), and for the
//! users of a dead node by the live node with the smallest name.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ids::{CommunityId, UserId};

/// A node silent this long (three missed heartbeats) is taken for dead.
pub const NODE_EXPIRY: Duration = Duration::from_secs(15);

/// How long another node's leave is remembered (longer than any offline debounce).
const LEAVES_KEPT: Duration = Duration::from_secs(600);

/// Topic → user → metas.
pub type Snapshot = HashMap<String, HashMap<String, Vec<Value>>>;

/// A user connected to a node, with the community they belong to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OnlineUser {
    pub user_id: UserId,
    pub community_id: CommunityId,
}

/// When a user's last device left a node: the leaving node's clock (microseconds since the
/// Unix epoch) and its name, compared in that order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leave {
    pub at_micros: i64,
    pub node: String,
}

#[derive(Default)]
pub struct RemotePresence {
    nodes: Mutex<HashMap<String, Node>>,
}

struct Node {
    last_seen: Instant,
    topics: Snapshot,
    users: HashMap<UserId, CommunityId>,
    /// Users whose last device left this node, and when (kept for a while to order leaves).
    left: HashMap<UserId, (i64, Instant)>,
}

impl Node {
    fn new() -> Self {
        Self {
            last_seen: Instant::now(),
            topics: Snapshot::new(),
            users: HashMap::new(),
            left: HashMap::new(),
        }
    }
}

/// What a node that died leaves behind.
pub struct Expired {
    /// Per topic, the `presence_diff` of its devices leaving.
    pub leaves: Vec<(String, Value)>,
    /// Users connected only there, now offline everywhere else this node knows of.
    pub users: Vec<OnlineUser>,
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

    /// A node's heartbeat: everything it holds now, replacing what was known of it. Returns
    /// the topics where that node's devices are not as many as was known (diffs lost, or a
    /// node back after it was forgotten).
    pub fn replace(&self, node: &str, snapshot: Snapshot, users: Vec<OnlineUser>) -> Vec<String> {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let entry = nodes.entry(node.to_owned()).or_insert_with(Node::new);
        entry.last_seen = Instant::now();
        let devices = |topics: &Snapshot, topic: &str| -> usize {
            topics
                .get(topic)
                .map_or(0, |users| users.values().map(Vec::len).sum())
        };
        let recounted = entry
            .topics
            .keys()
            .chain(snapshot.keys())
            .filter(|topic| devices(&entry.topics, topic) != devices(&snapshot, topic))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        entry.topics = snapshot;
        entry.users = users
            .into_iter()
            .map(|u| (u.user_id, u.community_id))
            .collect();
        // Leaves are only needed while an offline decision may still be pending.
        entry
            .left
            .retain(|_, (_, received)| received.elapsed() < LEAVES_KEPT);
        recounted
    }

    /// A user's first device arrived on `node`.
    pub fn user_arrived(&self, node: &str, user: OnlineUser) {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let entry = nodes.entry(node.to_owned()).or_insert_with(Node::new);
        entry.last_seen = Instant::now();
        entry.left.remove(&user.user_id);
        entry.users.insert(user.user_id, user.community_id);
    }

    /// A user's last device left `node` at `at_micros` (that node's clock).
    pub fn user_left(&self, node: &str, user_id: &UserId, at_micros: i64) {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let entry = nodes.entry(node.to_owned()).or_insert_with(Node::new);
        entry.last_seen = Instant::now();
        entry.users.remove(user_id);
        entry
            .left
            .insert(user_id.clone(), (at_micros, Instant::now()));
    }

    /// Whether another node has a device of this user connected.
    pub fn is_online(&self, user_id: &UserId) -> bool {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes.values().any(|node| node.users.contains_key(user_id))
    }

    /// Whether the user's last device left another node less than `window` ago (a reconnect
    /// elsewhere inside the offline debounce is not a new arrival).
    pub fn left_within(&self, user_id: &UserId, window: Duration) -> bool {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes.values().any(|node| {
            node.left
                .get(user_id)
                .is_some_and(|(_, received)| received.elapsed() < window)
        })
    }

    /// The latest leave of this user another node reported.
    pub fn last_leave(&self, user_id: &UserId) -> Option<Leave> {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes
            .iter()
            .filter_map(|(name, node)| {
                node.left.get(user_id).map(|(at_micros, _)| Leave {
                    at_micros: *at_micros,
                    node: name.clone(),
                })
            })
            .max()
    }

    /// Users of `community_id` connected to other nodes.
    pub fn online_users(&self, community_id: &CommunityId) -> Vec<UserId> {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes
            .values()
            .flat_map(|node| node.users.iter())
            .filter(|(_, community)| *community == community_id)
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// The names of the other nodes heard from.
    pub fn node_names(&self) -> Vec<String> {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes.keys().cloned().collect()
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

    /// The other nodes' devices on `topic`, adding their users to `users`.
    pub fn count_into(&self, topic: &str, users: &mut HashSet<String>) -> usize {
        let nodes = self.nodes.lock().expect("presence lock");
        let mut devices = 0;
        for topic_users in nodes.values().filter_map(|node| node.topics.get(topic)) {
            for (user, metas) in topic_users {
                devices += metas.len();
                users.insert(user.clone());
            }
        }
        devices
    }

    /// The other nodes' devices on `topic`.
    pub fn devices(&self, topic: &str) -> usize {
        let nodes = self.nodes.lock().expect("presence lock");
        nodes
            .values()
            .filter_map(|node| node.topics.get(topic))
            .flat_map(|users| users.values())
            .map(Vec::len)
            .sum()
    }

    /// Forgets nodes silent for `expiry`; returns what they leave behind.
    pub fn expire(&self, expiry: Duration) -> Expired {
        let mut nodes = self.nodes.lock().expect("presence lock");
        let dead: Vec<String> = nodes
            .iter()
            .filter(|(_, node)| node.last_seen.elapsed() >= expiry)
            .map(|(name, _)| name.clone())
            .collect();
        let mut leaves = Vec::new();
        let mut users = Vec::new();
        for name in dead {
            let Some(node) = nodes.remove(&name) else {
                continue;
            };
            for (user_id, community_id) in node.users {
                if !nodes.values().any(|n| n.users.contains_key(&user_id)) {
                    users.push(OnlineUser {
                        user_id,
                        community_id,
                    });
                }
            }
            for (topic, users) in node.topics {
                let gone: Map<String, Value> = users
                    .into_iter()
                    .map(|(user, metas)| (user, json!({ "metas": metas })))
                    .collect();
                leaves.push((topic, json!({ "joins": {}, "leaves": gone })));
            }
        }
        Expired { leaves, users }
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
        remote.replace("n2", snapshot, Vec::new());
        assert!(remote.expire(Duration::from_secs(60)).leaves.is_empty());
        let mut left = remote.expire(Duration::ZERO).leaves;
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

    #[test]
    fn users_are_known_per_node_and_leaves_are_ordered() {
        let remote = RemotePresence::default();
        let user = |id: &str| OnlineUser {
            user_id: id.into(),
            community_id: "c".into(),
        };
        remote.user_arrived("n1", user("u1"));
        remote.user_arrived("n2", user("u1"));
        remote.user_arrived("n2", user("u2"));
        assert!(remote.is_online(&"u1".into()));
        let mut online = remote.online_users(&"c".into());
        online.sort();
        online.dedup();
        assert_eq!(online, [UserId::from("u1"), UserId::from("u2")]);
        assert!(remote.online_users(&"other".into()).is_empty());

        remote.user_left("n1", &"u1".into(), 100);
        assert!(remote.is_online(&"u1".into()), "still on n2");
        remote.user_left("n2", &"u1".into(), 100);
        assert!(!remote.is_online(&"u1".into()));
        assert!(remote.left_within(&"u1".into(), Duration::from_secs(5)));
        // Same clock reading: the node name decides, the same way on every node.
        assert_eq!(
            remote.last_leave(&"u1".into()),
            Some(Leave {
                at_micros: 100,
                node: "n2".into()
            })
        );
        // A heartbeat replaces a node's users; a dead node's users are offline unless
        // another node has them.
        remote.replace("n1", Snapshot::new(), vec![user("u3"), user("u4")]);
        remote.user_arrived("n2", user("u4"));
        remote
            .nodes
            .lock()
            .unwrap()
            .get_mut("n1")
            .unwrap()
            .last_seen = Instant::now() - Duration::from_secs(30);
        let expired = remote.expire(Duration::from_secs(15));
        assert_eq!(expired.users, [user("u3")]);
        assert_eq!(remote.node_names(), ["n2"]);
    }
}
