//! The connection hub: who is connected (per user, per session, per address) and who listens
//! on which topic. Sharded maps (`DashMap`); no lock is held across an `.await`.
//!
//! Publishing encodes a frame once and hands clones of the same bytes to every subscriber's
//! outbox with `try`-semantics: a full outbox disconnects that subscriber (slow consumer) and
//! nobody else waits. Per topic, publishing is serialised by the topic's map entry, which is
//! what makes offsets strictly increasing and recovery gap-free.
//!
//! Storage-backed publications (a conversation's messages) carry the offsets storage gave
//! them, but with several nodes (or several writers on one) they can arrive out of order: one
//! that comes ahead of a missing offset is held until the missing one arrives, and a gap that
//! lasts is filled from storage by the socket layer ([`Hub::gaps`]), so every subscriber gets
//! every offset once, in order. A subscriber never gets a publication at or before the
//! position its join answered.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::{Map, Value};
use taina_protocol::close;
use taina_protocol::phoenix;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

mod presence;

use super::events::UserPresence;
use super::history::{History, Position};
use super::log::{LogError, Logged, TopicLog, ALL_ALERTS_KEY};
use super::outbox::{Frame, Lane, Outbox, PushError};
use super::presence::Presences;
use super::presence_batch::PresenceBatches;
use super::presence_summary::PresenceSummaries;
use super::relay::{Relay, Relayed};
use super::remote_presence::{Leave, OnlineUser, RemotePresence, NODE_EXPIRY};
use super::stats::{HubCounts, HubStats};
use super::topic::Topic as TopicName;
use crate::config::RealtimeConfig;
use crate::events::EventBus;
use crate::ids::{CommunityId, SessionId, UserId};

pub type ConnId = u64;

/// A subscriber's `presence_seen` before its `presence_state`.
const NO_PRESENCE_STATE_YET: u64 = u64::MAX;

/// Frames a joining subscriber may collect while its join reply and recovery are sent.
const MAX_BUFFERED_WHILE_JOINING: usize = 10_000;

/// Instructions from the rest of the server to a connection's session task.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnCommand {
    /// End the connection: close every join with `phx_close`, then the socket with `code`.
    End { code: u16, reason: String },
    /// Check every joined topic again (a role or a membership changed).
    Reauthorize,
}

/// One live socket.
pub struct Conn {
    pub id: ConnId,
    /// The user, or for a device agent the device's id.
    pub user_id: UserId,
    /// A device agent's socket: not a person, so never online, never in presence.
    pub device: bool,
    pub community_id: CommunityId,
    pub address: Option<IpAddr>,
    session_id: Mutex<SessionId>,
    pub outbox: Arc<Outbox>,
    /// Commands for the session task. A small queue and a `Notify` rather than a channel:
    /// this sits in every idle connection.
    commands: Mutex<VecDeque<ConnCommand>>,
    command_signal: Notify,
    /// The topics it subscribed to: a few, so an exact-size vector (a hash set's smallest
    /// table cost ~120 bytes more on every joined socket, DHAT).
    topics: Mutex<Vec<String>>,
}

/// Commands queued for one connection beyond which an `End` closes it directly.
const MAX_QUEUED_COMMANDS: usize = 16;

/// The session task's end of a connection's command queue.
pub struct Commands {
    conn: Arc<Conn>,
}

impl Commands {
    /// The next command; waits until there is one.
    pub async fn recv(&mut self) -> Option<ConnCommand> {
        loop {
            if let Some(command) = self.conn.commands.lock().expect("conn lock").pop_front() {
                return Some(command);
            }
            self.conn.command_signal.notified().await;
        }
    }

    /// The next command if one is queued.
    pub fn try_recv(&mut self) -> Option<ConnCommand> {
        self.conn.commands.lock().expect("conn lock").pop_front()
    }
}

impl Conn {
    pub fn session_id(&self) -> SessionId {
        self.session_id.lock().expect("conn lock").clone()
    }

    /// Queues a frame; a full outbox disconnects this connection as a slow consumer.
    pub fn send(&self, lane: Lane, frame: Frame) -> bool {
        match self.outbox.push(lane, frame) {
            Ok(()) => true,
            Err(PushError::Full) => {
                tracing::info!(conn = self.id, user = %self.user_id, "slow consumer disconnected");
                self.outbox
                    .close_now(close::SLOW_CONSUMER, "slow consumer: outbox full");
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    fn command(&self, command: ConnCommand) {
        let mut queue = self.commands.lock().expect("conn lock");
        if queue.len() >= MAX_QUEUED_COMMANDS {
            drop(queue);
            if let ConnCommand::End { code, reason } = command {
                // The session is swamped; end without the courtesy of phx_close.
                self.outbox.close_now(code, &reason);
            }
            return;
        }
        queue.push_back(command);
        drop(queue);
        self.command_signal.notify_one();
    }
}

/// Frames held for a joining subscriber, with their offsets (`None`: not recoverable).
type HeldFrames = Vec<(Option<u64>, Frame)>;

/// A connection's membership of one topic.
pub struct Subscriber {
    conn: Arc<Conn>,
    join_ref: String,
    /// The position the join answered: publications up to it are not this subscriber's.
    after: u64,
    /// `Some` while the join reply and recovered publications are being sent: live frames
    /// wait here (with their offsets) so none overtakes them and none is lost.
    pending: Mutex<Option<HeldFrames>>,
    /// The last presence change its `presence_state` held (coalesced diffs up to it are
    /// not sent to it); [`NO_PRESENCE_STATE_YET`] until it is sent one, so no diff reaches
    /// it before its state (the JS helper would apply such a diff after the state, and a
    /// join held back that way would outlive its leave).
    presence_seen: AtomicU64,
}

impl Subscriber {
    fn deliver(&self, offset: Option<u64>, frame: &Frame) {
        if offset.is_some_and(|offset| offset <= self.after) {
            return;
        }
        let mut pending = self.pending.lock().expect("subscriber lock");
        if let Some(buffer) = pending.as_mut() {
            if buffer.len() >= MAX_BUFFERED_WHILE_JOINING {
                drop(pending);
                self.conn
                    .outbox
                    .close_now(close::SLOW_CONSUMER, "slow consumer: join backlog");
            } else {
                buffer.push((offset, frame.clone()));
            }
            return;
        }
        drop(pending);
        self.conn.send(Lane::Realtime, frame.clone());
    }

    /// Releases frames held during the join, skipping offsets already sent by recovery.
    pub fn go_live(&self, sent_up_to: Option<u64>) {
        let mut pending = self.pending.lock().expect("subscriber lock");
        if let Some(buffer) = pending.take() {
            for (offset, frame) in buffer {
                if matches!((offset, sent_up_to), (Some(o), Some(sent)) if o <= sent) {
                    continue;
                }
                self.conn.send(Lane::Realtime, frame);
            }
        }
    }

    pub fn join_ref(&self) -> &str {
        &self.join_ref
    }
}

struct Topic {
    subscribers: HashMap<ConnId, Arc<Subscriber>>,
    history: History,
    /// Storage-backed publications that arrived ahead of a missing offset, encoded.
    early: BTreeMap<u64, Frame>,
    /// The last offset storage is known to have reached (from a join's storage position).
    expected: u64,
    /// Since when publications are missing (held ones, or below `expected`).
    gap_since: Option<Instant>,
}

impl Topic {
    fn new(history: History) -> Self {
        Self {
            subscribers: HashMap::new(),
            history,
            early: BTreeMap::new(),
            expected: 0,
            gap_since: None,
        }
    }

    /// The last offset known to exist: delivered, held, or reported by storage.
    fn known_up_to(&self) -> u64 {
        let held = self.early.keys().next_back().copied().unwrap_or(0);
        self.history.offset().max(self.expected).max(held)
    }

    fn has_gap(&self) -> bool {
        self.known_up_to() > self.history.offset()
    }

    /// A new epoch (or a first one) for a storage-backed topic: start at `offset`.
    fn restart_at(&mut self, epoch: &str, offset: u64) {
        self.history.align(epoch, offset);
        self.early.clear();
        self.expected = offset;
        self.gap_since = None;
    }
}

/// Offsets missing from a storage-backed topic for a while: `(after, up_to]`, to be read from
/// storage and published with [`Sequence::At`].
#[derive(Clone, Debug, PartialEq)]
pub struct Gap {
    pub key: String,
    pub epoch: String,
    pub after: u64,
    pub up_to: u64,
    /// How long the gap has lasted.
    pub age: Duration,
}

/// How a publication gets its offset.
pub enum Sequence {
    /// The next in-memory offset of the topic.
    Next,
    /// A position assigned by storage (conversation messages): contiguous per topic.
    At(Position),
    /// A position in the shared topic log: increasing per topic, with gaps.
    Logged(Position),
}

/// The outcome of subscribing, for the join reply.
pub struct Subscribed {
    pub subscriber: Arc<Subscriber>,
    /// Where the topic stands now.
    pub position: Position,
    /// With `since`: the missed publications if memory holds all of them.
    pub missed: Option<Vec<(u64, Frame)>>,
}

/// Why a client's broadcast was not sent.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error(
        "the publication is {size} bytes, over the limit of {limit}; send bulk data as an upload"
    )]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Encode(#[from] phoenix::EncodeError),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refusal {
    #[error("too many connections for this user (limit {0})")]
    TooManyForUser(usize),
    #[error("too many connections from this address (limit {0})")]
    TooManyForAddress(usize),
}

pub struct Hub {
    conns: DashMap<ConnId, Arc<Conn>>,
    users: DashMap<UserId, Vec<ConnId>>,
    sessions: DashMap<SessionId, Vec<ConnId>>,
    addresses: DashMap<IpAddr, usize>,
    topics: DashMap<String, Topic>,
    presences: Presences,
    /// This node's presence changes waiting for their topic's window.
    presence_batches: PresenceBatches,
    /// Topics with too many devices to list, and the lock presence is sent under.
    presence_summaries: PresenceSummaries,
    next_id: AtomicU64,
    /// Bumped on every connect and disconnect of a user; a pending `user.offline` only fires
    /// if nothing changed while it waited.
    user_generation: DashMap<UserId, u64>,
    config: RealtimeConfig,
    bus: Arc<dyn EventBus>,
    stats: HubStats,
    closing: tokio::sync::watch::Sender<bool>,
    /// Other nodes, when there are (set once at start).
    relay: std::sync::OnceLock<Arc<dyn Relay>>,
    /// The other nodes' presences and users (empty alone).
    remote_presence: RemotePresence,
    /// The shared topic log, with several nodes (set once at start).
    log: std::sync::OnceLock<Arc<dyn TopicLog>>,
    /// The last log sequence this node has delivered: a topic first used here starts there.
    log_watermark: AtomicU64,
    /// When this node's last device of a user left (µs since the Unix epoch).
    local_leaves: DashMap<UserId, i64>,
}

impl Hub {
    pub fn new(config: RealtimeConfig, bus: Arc<dyn EventBus>) -> Self {
        Self {
            conns: DashMap::new(),
            users: DashMap::new(),
            sessions: DashMap::new(),
            addresses: DashMap::new(),
            topics: DashMap::new(),
            presences: Presences::default(),
            presence_batches: PresenceBatches::default(),
            presence_summaries: PresenceSummaries::default(),
            next_id: AtomicU64::new(1),
            user_generation: DashMap::new(),
            config,
            bus,
            stats: HubStats::default(),
            closing: tokio::sync::watch::channel(false).0,
            relay: std::sync::OnceLock::new(),
            remote_presence: RemotePresence::default(),
            log: std::sync::OnceLock::new(),
            log_watermark: AtomicU64::new(0),
            local_leaves: DashMap::new(),
        }
    }

    pub fn config(&self) -> &RealtimeConfig {
        &self.config
    }

    /// Users of a community with at least one connection now, on any node.
    pub fn online_users(&self, community_id: &CommunityId) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .conns
            .iter()
            .filter(|c| c.community_id == *community_id && !c.device)
            .map(|c| c.user_id.clone())
            .collect();
        users.extend(self.remote_presence.online_users(community_id));
        users.sort();
        users.dedup();
        users
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether the user has a connection (not a device agent's) on any node.
    pub fn is_user_online(&self, user_id: &UserId) -> bool {
        self.connections_of(user_id) > 0 || self.remote_presence.is_online(user_id)
    }

    /// Connections of one user now.
    pub fn connections_of(&self, user_id: &UserId) -> usize {
        self.users.get(user_id).map_or(0, |conns| conns.len())
    }

    /// Users with at least one connection now, across communities.
    pub fn users_online_count(&self) -> usize {
        self.users.len()
    }

    /// Bytes waiting in every connection's outbox now (a walk over the connections: for the
    /// metrics sampler, about once a second).
    pub fn queued_bytes(&self) -> u64 {
        self.conns
            .iter()
            .map(|c| c.outbox.queued_bytes() as u64)
            .sum()
    }

    /// Connects this hub to other nodes (once; later calls are ignored).
    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        let _ = self.relay.set(relay);
    }

    /// Connects this hub to the shared topic log (once; later calls are ignored). `delivered`
    /// is the log's last sequence now: the log's consumer delivers from the next one.
    pub fn set_log(&self, log: Arc<dyn TopicLog>, delivered: u64) {
        self.log_watermark.store(delivered, Ordering::SeqCst);
        let _ = self.log.set(log);
    }

    /// The shared topic log, with several nodes.
    pub fn log(&self) -> Option<&Arc<dyn TopicLog>> {
        self.log.get()
    }

    /// A publication from the shared log at `sequence` (every node's, this one's included):
    /// delivered to this node's subscribers of its key. Topics nobody here has used are left
    /// to the log: a join reads them back from there.
    pub fn apply_logged(&self, sequence: u64, entry: Logged) {
        let Some(log) = self.log.get() else {
            return;
        };
        // First the watermark, then the topic: a topic made in between starts at this
        // sequence and may also get the publication, which the join's position covers.
        self.log_watermark.fetch_max(sequence, Ordering::SeqCst);
        let position = Position {
            epoch: log.epoch().to_owned(),
            offset: sequence,
        };
        let keys = if entry.key == ALL_ALERTS_KEY {
            TopicName::all_alerts_keys(self)
        } else if self.topics.contains_key(&entry.key) {
            vec![entry.key]
        } else {
            return;
        };
        for key in keys {
            self.publish_on(
                &key,
                &entry.topic,
                &entry.event,
                entry.payload.clone(),
                Sequence::Logged(position.clone()),
            );
        }
    }

    /// A publication kept for recovery on a topic that storage does not back (`user:`,
    /// `community:`, `system:alerts` keys, or [`ALL_ALERTS_KEY`] for every community's).
    /// Alone, numbered here; with the shared log, appended there (only by the node where the
    /// event happened: `origin_here`) and delivered by every node from the log.
    pub fn publish_logged(&self, entry: Logged, origin_here: bool) {
        if let Some(log) = self.log.get() {
            if origin_here {
                log.append(entry);
            }
            return;
        }
        let keys = if entry.key == ALL_ALERTS_KEY {
            TopicName::all_alerts_keys(self)
        } else {
            vec![entry.key]
        };
        for key in keys {
            self.publish_on(
                &key,
                &entry.topic,
                &entry.event,
                entry.payload.clone(),
                Sequence::Next,
            );
        }
    }

    /// As [`Hub::publish_logged`] for a publication made here (an admin's community alert),
    /// resolving to its position once it is kept (on the log, once the log has stored it).
    pub async fn publish_logged_acked(&self, entry: Logged) -> Result<Position, LogError> {
        match self.log.get() {
            Some(log) => log.append_acked(entry).await,
            None => Ok(self.publish_on(
                &entry.key,
                &entry.topic,
                &entry.event,
                entry.payload,
                Sequence::Next,
            )),
        }
    }

    /// A publication another node (`node`) relayed, delivered to this node's subscribers only.
    pub fn apply_relayed(self: &Arc<Self>, node: &str, relayed: Relayed) {
        match relayed {
            Relayed::PresenceDiff { topic, diff } => {
                self.remote_presence.apply_diff(node, &topic, &diff);
                self.remote_presence_changed(&topic, &diff);
            }
            Relayed::PresenceSnapshot { topics, users } => {
                for topic in self.remote_presence.replace(node, topics, users) {
                    self.presence_changed(&topic);
                }
            }
            Relayed::UserArrived { user } => self.remote_presence.user_arrived(node, user),
            Relayed::UserLeft { user_id, at_micros } => {
                self.remote_presence.user_left(node, &user_id, at_micros)
            }
            Relayed::Ephemeral {
                topic,
                event,
                payload,
            } => self.broadcast_ephemeral(&topic, &event, &payload, None),
            Relayed::Binary { topic, event, data } => {
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(data) {
                    Ok(bytes) => {
                        if let Err(error) = self.broadcast_binary(&topic, &event, &bytes) {
                            tracing::warn!(%error, "a relayed binary broadcast was refused");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a relayed binary broadcast is not base64")
                    }
                }
            }
        }
    }

    /// [`Hub::broadcast_ephemeral`] here and on every other node (a client's typing).
    pub fn broadcast_ephemeral_everywhere(
        &self,
        topic: &str,
        event: &str,
        payload: &Value,
        except: Option<ConnId>,
    ) {
        self.broadcast_ephemeral(topic, event, payload, except);
        if let Some(relay) = self.relay.get() {
            relay.forward(Relayed::Ephemeral {
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: payload.clone(),
            });
        }
    }

    /// [`Hub::broadcast_binary`] here and on every other node (a client's binary push).
    pub fn broadcast_binary_everywhere(
        &self,
        topic: &str,
        event: &str,
        data: &[u8],
    ) -> Result<(), BroadcastError> {
        self.broadcast_binary(topic, event, data)?;
        if let Some(relay) = self.relay.get() {
            use base64::Engine as _;
            relay.forward(Relayed::Binary {
                topic: topic.to_owned(),
                event: event.to_owned(),
                data: base64::engine::general_purpose::STANDARD.encode(data),
            });
        }
        Ok(())
    }

    /// The publications the topic under `key` still holds for recovery, oldest first.
    pub fn retained(&self, key: &str) -> Vec<Frame> {
        self.topics
            .get_mut(key)
            .map(|mut topic| topic.history.retained())
            .unwrap_or_default()
    }

    /// Publications and deliveries since start.
    pub fn counts(&self) -> HubCounts {
        self.stats.read()
    }

    /// Admits a connection within the per-user and per-address limits. Dropping the returned
    /// [`Registration`] removes it from every index.
    pub fn register(
        self: &Arc<Self>,
        user_id: &UserId,
        community_id: &CommunityId,
        session_id: &SessionId,
        address: Option<IpAddr>,
    ) -> Result<(Registration, Commands), Refusal> {
        let outbox = Arc::new(Outbox::new(self.config.outbox_bytes));
        self.register_with_outbox(user_id, community_id, session_id, address, outbox)
    }

    /// As [`Hub::register`], for a socket that already has its outbox (it authenticated
    /// after the upgrade, with graphql-transport-ws `connection_init`).
    pub fn register_with_outbox(
        self: &Arc<Self>,
        user_id: &UserId,
        community_id: &CommunityId,
        session_id: &SessionId,
        address: Option<IpAddr>,
        outbox: Arc<Outbox>,
    ) -> Result<(Registration, Commands), Refusal> {
        self.admit(user_id, community_id, session_id, address, outbox, false)
    }

    /// Admits a device agent's socket (`device_id` in place of a user): within the per-address
    /// limit, ended with its session (a revoked token), but never a user coming online.
    pub fn register_device(
        self: &Arc<Self>,
        device_id: &UserId,
        community_id: &CommunityId,
        session_id: &SessionId,
        address: Option<IpAddr>,
    ) -> Result<(Registration, Commands), Refusal> {
        let outbox = Arc::new(Outbox::new(self.config.outbox_bytes));
        self.admit(device_id, community_id, session_id, address, outbox, true)
    }

    fn admit(
        self: &Arc<Self>,
        user_id: &UserId,
        community_id: &CommunityId,
        session_id: &SessionId,
        address: Option<IpAddr>,
        outbox: Arc<Outbox>,
        device: bool,
    ) -> Result<(Registration, Commands), Refusal> {
        if let Some(ip) = address {
            let mut count = self.addresses.entry(ip).or_insert(0);
            if *count >= self.config.max_connections_per_address {
                return Err(Refusal::TooManyForAddress(
                    self.config.max_connections_per_address,
                ));
            }
            *count += 1;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let first_device = if device {
            false
        } else {
            let mut conns = self.users.entry(user_id.clone()).or_default();
            if conns.len() >= self.config.max_connections_per_user {
                drop(conns);
                self.release_address(address);
                return Err(Refusal::TooManyForUser(
                    self.config.max_connections_per_user,
                ));
            }
            conns.push(id);
            conns.len() == 1
        };
        let conn = Arc::new(Conn {
            id,
            user_id: user_id.clone(),
            device,
            community_id: community_id.clone(),
            address,
            session_id: Mutex::new(session_id.clone()),
            outbox,
            commands: Mutex::new(VecDeque::new()),
            command_signal: Notify::new(),
            topics: Mutex::new(Vec::new()),
        });
        let receiver = Commands { conn: conn.clone() };
        self.sessions
            .entry(session_id.clone())
            .or_default()
            .push(id);
        self.conns.insert(id, conn.clone());
        if device {
            return Ok((
                Registration {
                    hub: self.clone(),
                    conn,
                },
                receiver,
            ));
        }
        let was_pending_offline = {
            let mut generation = self.user_generation.entry(user_id.clone()).or_insert(0);
            *generation += 1;
            *generation > 1
        };
        if first_device {
            self.local_leaves.remove(user_id);
            if let Some(relay) = self.relay.get() {
                relay.forward(Relayed::UserArrived {
                    user: OnlineUser {
                        user_id: user_id.clone(),
                        community_id: community_id.clone(),
                    },
                });
            }
        }
        // A reconnect inside the debounce window is silent, here or on another node: the user
        // never went offline. Nor is a device arriving while another node has one.
        let debounce = Duration::from_secs(self.config.offline_debounce_seconds);
        if first_device
            && !was_pending_offline
            && !self.remote_presence.is_online(user_id)
            && !self.remote_presence.left_within(user_id, debounce)
        {
            self.bus
                .publish(UserPresence::online(user_id, community_id));
        }
        Ok((
            Registration {
                hub: self.clone(),
                conn,
            },
            receiver,
        ))
    }

    fn release_address(&self, address: Option<IpAddr>) {
        if let Some(ip) = address {
            if let Some(mut count) = self.addresses.get_mut(&ip) {
                *count = count.saturating_sub(1);
            }
            self.addresses.remove_if(&ip, |_, count| *count == 0);
        }
    }

    fn unregister(self: &Arc<Self>, conn: &Arc<Conn>) {
        let topics = std::mem::take(&mut *conn.topics.lock().expect("conn lock"));
        for topic in topics {
            self.remove_subscriber(&topic, conn);
        }
        self.conns.remove(&conn.id);
        self.release_address(conn.address);
        let session = conn.session_id();
        if let Some(mut ids) = self.sessions.get_mut(&session) {
            ids.retain(|id| *id != conn.id);
        }
        self.sessions.remove_if(&session, |_, ids| ids.is_empty());
        if conn.device {
            return;
        }
        let last_device = {
            match self.users.get_mut(&conn.user_id) {
                Some(mut ids) => {
                    ids.retain(|id| *id != conn.id);
                    ids.is_empty()
                }
                None => true,
            }
        };
        if last_device {
            self.users.remove_if(&conn.user_id, |_, ids| ids.is_empty());
            let at_micros = chrono::Utc::now().timestamp_micros();
            self.local_leaves.insert(conn.user_id.clone(), at_micros);
            if let Some(relay) = self.relay.get() {
                relay.forward(Relayed::UserLeft {
                    user_id: conn.user_id.clone(),
                    at_micros,
                });
            }
            self.schedule_offline(conn);
        }
    }

    /// Whether this node announces that `user_id` went offline: nobody has a device of theirs
    /// any more, and this node's leave is the last one (the same answer on every node).
    fn announces_offline(&self, user_id: &UserId) -> bool {
        if self.users.contains_key(user_id) || self.remote_presence.is_online(user_id) {
            return false;
        }
        let Some(relay) = self.relay.get() else {
            return true;
        };
        let Some(mine) = self.local_leaves.get(user_id).map(|at| *at) else {
            return true;
        };
        let mine = Leave {
            at_micros: mine,
            node: relay.node().to_owned(),
        };
        self.remote_presence
            .last_leave(user_id)
            .is_none_or(|theirs| theirs < mine)
    }

    fn schedule_offline(self: &Arc<Self>, conn: &Conn) {
        let generation = {
            let mut generation = self
                .user_generation
                .entry(conn.user_id.clone())
                .or_insert(0);
            *generation += 1;
            *generation
        };
        let hub = Arc::downgrade(self);
        let user_id = conn.user_id.clone();
        let community_id = conn.community_id.clone();
        let wait = Duration::from_secs(self.config.offline_debounce_seconds);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(hub) = hub.upgrade() else { return };
            let unchanged = hub
                .user_generation
                .remove_if(&user_id, |_, current| *current == generation)
                .is_some();
            if unchanged && hub.announces_offline(&user_id) {
                hub.local_leaves.remove(&user_id);
                hub.bus
                    .publish(UserPresence::offline(&user_id, &community_id));
            }
        });
    }

    /// Moves a connection to another session (in-band token refresh).
    pub fn move_session(&self, conn: &Conn, new_session: &SessionId) {
        let old = {
            let mut session = conn.session_id.lock().expect("conn lock");
            std::mem::replace(&mut *session, new_session.clone())
        };
        if let Some(mut ids) = self.sessions.get_mut(&old) {
            ids.retain(|id| *id != conn.id);
        }
        self.sessions.remove_if(&old, |_, ids| ids.is_empty());
        self.sessions
            .entry(new_session.clone())
            .or_default()
            .push(conn.id);
    }

    /// The history of a topic first used here: its own random epoch alone; with the shared
    /// log, the log's epoch from the last sequence this node delivered.
    fn new_history(&self) -> History {
        let (epoch, offset) = match self.log.get() {
            Some(log) => (
                log.epoch().to_owned(),
                self.log_watermark.load(Ordering::SeqCst),
            ),
            None => (nanoid::nanoid!(8), 0),
        };
        History::new(
            epoch,
            offset,
            self.config.history_size,
            Duration::from_secs(self.config.history_seconds),
        )
    }

    /// Joins `conn` to `topic`. Live frames are held until [`Subscriber::go_live`], so the
    /// caller can send the join reply and recovered publications first. `storage` is where a
    /// storage-backed topic stands (its epoch and last offset), `since` where the client was.
    pub fn subscribe(
        &self,
        topic: &str,
        conn: &Arc<Conn>,
        join_ref: &str,
        storage: Option<&Position>,
        since: Option<&Position>,
    ) -> Subscribed {
        let mut entry = self
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| Topic::new(self.new_history()));
        if let Some(storage) = storage {
            if storage.epoch != entry.history.epoch() {
                entry.restart_at(&storage.epoch, storage.offset);
            } else if storage.offset > entry.history.offset() {
                // Storage is ahead of what arrived here: the rest is on its way (or lost, and
                // then filled from storage); subscribers already here must still get it.
                entry.expected = entry.expected.max(storage.offset);
                entry.gap_since.get_or_insert_with(Instant::now);
            }
        }
        let position = Position {
            epoch: entry.history.epoch().to_owned(),
            offset: entry.known_up_to(),
        };
        let missed = since
            .filter(|since| since.epoch == position.epoch)
            .filter(|_| entry.history.offset() >= position.offset)
            .and_then(|since| entry.history.since(since.offset));
        let subscriber = Arc::new(Subscriber {
            conn: conn.clone(),
            join_ref: join_ref.to_string(),
            after: position.offset,
            pending: Mutex::new(Some(Vec::new())),
            presence_seen: AtomicU64::new(NO_PRESENCE_STATE_YET),
        });
        if let Some(previous) = entry.subscribers.insert(conn.id, subscriber.clone()) {
            // A second join of the same topic replaces the first (the session sent phx_close).
            drop(previous);
        }
        drop(entry);
        let mut topics = conn.topics.lock().expect("conn lock");
        if !topics.iter().any(|t| t == topic) {
            topics.reserve_exact(1);
            topics.push(topic.to_string());
        }
        drop(topics);
        Subscribed {
            subscriber,
            position,
            missed,
        }
    }

    /// Leaves a topic (and its presence).
    pub fn unsubscribe(self: &Arc<Self>, topic: &str, conn: &Arc<Conn>) {
        let mut topics = conn.topics.lock().expect("conn lock");
        if let Some(at) = topics.iter().position(|t| t == topic) {
            topics.swap_remove(at);
            topics.shrink_to_fit();
        }
        drop(topics);
        self.remove_subscriber(topic, conn);
    }

    fn remove_subscriber(self: &Arc<Self>, topic: &str, conn: &Conn) {
        if let Some(mut entry) = self.topics.get_mut(topic) {
            entry.subscribers.remove(&conn.id);
        }
        self.untrack_presence(topic, conn);
    }

    /// Publishes to every subscriber of `topic` with `(epoch, offset)` added to the payload,
    /// and keeps the publication for recovery. Returns the position it got.
    pub fn publish(
        &self,
        topic: &str,
        event: &str,
        payload: Map<String, Value>,
        sequence: Sequence,
    ) -> Position {
        self.publish_on(topic, topic, event, payload, sequence)
    }

    /// As [`Hub::publish`], on the subscribers of `key` with frames naming `topic`: one topic
    /// name clients know, several audiences the server keeps apart (`system:alerts` per
    /// community), each with its own offsets.
    pub fn publish_on(
        &self,
        key: &str,
        topic: &str,
        event: &str,
        mut payload: Map<String, Value>,
        sequence: Sequence,
    ) -> Position {
        let mut entry = self
            .topics
            .entry(key.to_string())
            .or_insert_with(|| Topic::new(self.new_history()));
        let offset = match sequence {
            Sequence::Next => entry.history.next_offset(),
            Sequence::At(position) => {
                return self.publish_stored(&mut entry, topic, event, payload, position);
            }
            Sequence::Logged(position) => {
                if position.epoch != entry.history.epoch() {
                    entry
                        .history
                        .align(&position.epoch, position.offset.saturating_sub(1));
                }
                position.offset
            }
        };
        let position = Position {
            epoch: entry.history.epoch().to_string(),
            offset,
        };
        payload.insert("epoch".into(), Value::String(position.epoch.clone()));
        payload.insert("offset".into(), Value::from(offset));
        let frame = Frame::Text(Utf8Bytes::from(phoenix::encode_text(
            None,
            None,
            topic,
            event,
            &Value::Object(payload),
        )));
        self.deliver_in(&mut entry, offset, frame);
        position
    }

    /// Keeps and delivers one publication of a topic.
    fn deliver_in(&self, topic: &mut Topic, offset: u64, frame: Frame) {
        topic.history.record(offset, frame.clone());
        for subscriber in topic.subscribers.values() {
            subscriber.deliver(Some(offset), &frame);
        }
        self.stats.published(topic.subscribers.len());
    }

    /// A storage-backed publication at `position`: delivered in offset order (held while an
    /// earlier one is missing), and never twice.
    fn publish_stored(
        &self,
        entry: &mut Topic,
        topic: &str,
        event: &str,
        mut payload: Map<String, Value>,
        position: Position,
    ) -> Position {
        if position.epoch != entry.history.epoch() {
            entry.restart_at(&position.epoch, position.offset.saturating_sub(1));
        }
        if position.offset <= entry.history.offset() {
            // Already delivered (a late duplicate, or filled from storage first).
            return position;
        }
        payload.insert("epoch".into(), Value::String(position.epoch.clone()));
        payload.insert("offset".into(), Value::from(position.offset));
        let frame = Frame::Text(Utf8Bytes::from(phoenix::encode_text(
            None,
            None,
            topic,
            event,
            &Value::Object(payload),
        )));
        entry.early.insert(position.offset, frame);
        while let Some(frame) = entry.early.remove(&entry.history.next_offset()) {
            let offset = entry.history.next_offset();
            self.deliver_in(entry, offset, frame);
        }
        if entry.has_gap() {
            entry.gap_since.get_or_insert_with(Instant::now);
        } else {
            entry.gap_since = None;
        }
        position
    }

    /// Storage-backed topics missing publications for at least `older_than`, for the socket
    /// layer to fill from storage. Topics nobody here listens to are moved past their gap
    /// instead.
    pub fn gaps(&self, older_than: Duration) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for mut entry in self.topics.iter_mut() {
            let Some(since) = entry.gap_since else {
                continue;
            };
            if since.elapsed() < older_than {
                continue;
            }
            if entry.subscribers.is_empty() {
                self.skip_gap_in(&mut entry);
                continue;
            }
            gaps.push(Gap {
                key: entry.key().clone(),
                epoch: entry.history.epoch().to_owned(),
                after: entry.history.offset(),
                up_to: entry.known_up_to(),
                age: since.elapsed(),
            });
        }
        gaps
    }

    /// Gives up on a gap storage could not fill: what is held is delivered, and what is
    /// missing stays missing (a rejoin with `since` reads it from storage, if it is there).
    pub fn skip_gap(&self, key: &str) {
        if let Some(mut entry) = self.topics.get_mut(key) {
            self.skip_gap_in(&mut entry);
        }
    }

    fn skip_gap_in(&self, entry: &mut Topic) {
        let epoch = entry.history.epoch().to_owned();
        for (offset, frame) in std::mem::take(&mut entry.early) {
            if offset > entry.history.next_offset() {
                entry.history.align(&epoch, offset - 1);
            }
            self.deliver_in(entry, offset, frame);
        }
        if entry.expected > entry.history.offset() {
            entry.history.align(&epoch, entry.expected);
        }
        entry.gap_since = None;
    }

    /// A broadcast that is not kept for recovery (presence diffs, typing), optionally not
    /// sent back to the connection it came from.
    pub fn broadcast_ephemeral(
        &self,
        topic: &str,
        event: &str,
        payload: &Value,
        except: Option<ConnId>,
    ) {
        let Some(entry) = self.topics.get(topic) else {
            return;
        };
        let frame = Frame::Text(Utf8Bytes::from(phoenix::encode_text(
            None, None, topic, event, payload,
        )));
        for (id, subscriber) in entry.subscribers.iter() {
            if Some(*id) != except {
                subscriber.deliver(None, &frame);
            }
        }
        let others = entry.subscribers.len()
            - usize::from(except.is_some_and(|id| entry.subscribers.contains_key(&id)));
        self.stats.published(others);
    }

    /// Largest publication accepted from a client: a quarter of an outbox. Anything larger
    /// would fill (or nearly fill) every subscriber's outbox at once and disconnect them all as
    /// slow consumers, the sender included; bulk data goes through `upload:`/`stream:` topics,
    /// which pace by credit.
    pub fn max_publication_bytes(&self) -> usize {
        self.config.outbox_bytes / 4
    }

    /// A binary broadcast (Phoenix kind 2), not kept for recovery. Refused, and sent to
    /// nobody, when the frame is over [`Hub::max_publication_bytes`].
    pub fn broadcast_binary(
        &self,
        topic: &str,
        event: &str,
        data: &[u8],
    ) -> Result<(), BroadcastError> {
        let frame = phoenix::encode_server_broadcast(topic, event, data)?;
        let limit = self.max_publication_bytes();
        if frame.len() > limit {
            return Err(BroadcastError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        let Some(entry) = self.topics.get(topic) else {
            return Ok(());
        };
        let frame = Frame::Binary(frame.into());
        for subscriber in entry.subscribers.values() {
            subscriber.deliver(None, &frame);
        }
        self.stats.published(entry.subscribers.len());
        Ok(())
    }

    /// This node's heartbeat to the others: every presence and connected user it holds.
    pub fn presence_heartbeat(&self) {
        let Some(relay) = self.relay.get() else {
            return;
        };
        let users = self
            .conns
            .iter()
            .map(|conn| OnlineUser {
                user_id: conn.user_id.clone(),
                community_id: conn.community_id.clone(),
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        relay.forward(Relayed::PresenceSnapshot {
            topics: self.presences.snapshot(),
            users,
        });
    }

    /// Forgets the nodes whose heartbeats stopped: this node's subscribers are told their
    /// devices left, and their users that are nowhere else go offline.
    pub fn forget_silent_nodes(self: &Arc<Self>) {
        let Some(relay) = self.relay.get() else {
            return;
        };
        let expired = self.remote_presence.expire(NODE_EXPIRY);
        for (topic, diff) in expired.leaves {
            self.remote_presence_changed(&topic, &diff);
        }
        if expired.users.is_empty() {
            return;
        }
        // Announced once, by the live node with the smallest name (every node knows the same
        // live nodes, give or take a heartbeat).
        let announcer = self
            .remote_presence
            .node_names()
            .into_iter()
            .all(|other| relay.node() < other.as_str());
        if announcer {
            for user in expired.users {
                if !self.users.contains_key(&user.user_id) {
                    self.bus
                        .publish(UserPresence::offline(&user.user_id, &user.community_id));
                }
            }
        }
    }

    /// Whether this node does the work one node does for all (rules, statistics): alone, or
    /// as the live node with the smallest name (every node agrees, give or take a heartbeat).
    pub fn is_coordinator(&self) -> bool {
        let Some(relay) = self.relay.get() else {
            return true;
        };
        self.remote_presence
            .node_names()
            .iter()
            .all(|other| relay.node() < other.as_str())
    }

    /// Ends every connection of a session (sign-out, revocation).
    pub fn end_session(&self, session_id: &SessionId, code: u16, reason: &str) {
        for conn in self.conns_of(self.sessions.get(session_id).map(|ids| ids.clone())) {
            conn.command(ConnCommand::End {
                code,
                reason: reason.to_string(),
            });
        }
    }

    /// Ends every connection of a user.
    pub fn end_user(&self, user_id: &UserId, code: u16, reason: &str) {
        for conn in self.conns_of(self.users.get(user_id).map(|ids| ids.clone())) {
            conn.command(ConnCommand::End {
                code,
                reason: reason.to_string(),
            });
        }
    }

    /// Asks every connection of a user to re-check its joins.
    pub fn reauthorize_user(&self, user_id: &UserId) {
        for conn in self.conns_of(self.users.get(user_id).map(|ids| ids.clone())) {
            conn.command(ConnCommand::Reauthorize);
        }
    }

    /// Asks every subscriber of a topic to re-check its joins (membership changed).
    pub fn reauthorize_topic(&self, topic: &str) {
        let conns: Vec<Arc<Conn>> = match self.topics.get(topic) {
            Some(entry) => entry.subscribers.values().map(|s| s.conn.clone()).collect(),
            None => return,
        };
        for conn in conns {
            conn.command(ConnCommand::Reauthorize);
        }
    }

    fn conns_of(&self, ids: Option<Vec<ConnId>>) -> Vec<Arc<Conn>> {
        ids.unwrap_or_default()
            .iter()
            .filter_map(|id| self.conns.get(id).map(|c| c.clone()))
            .collect()
    }

    /// Closes every connection (server shutdown).
    pub fn close_all(&self, code: u16, reason: &str) {
        self.closing.send_replace(true);
        for conn in self.conns.iter() {
            conn.outbox.close_after_queued(code, reason);
        }
    }

    /// Becomes true when the server starts shutting down: sockets outside the hub (the admin
    /// panel's) watch it to close too.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Forgets topics nobody listens to whose history has aged out.
    pub fn sweep(&self) {
        self.topics.retain(|_, topic| {
            topic.history.prune();
            !(topic.subscribers.is_empty() && topic.history.is_empty())
        });
    }

    /// Keys of the topics held now that start with `prefix`.
    pub fn topics_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.topics
            .iter()
            .filter(|entry| entry.key().starts_with(prefix))
            .map(|entry| entry.key().clone())
            .collect()
    }

    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }
}

/// Keeps a connection registered; dropping it removes the connection from every index.
pub struct Registration {
    hub: Arc<Hub>,
    pub conn: Arc<Conn>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(&self.conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MemoryBus;
    use crate::realtime::outbox::Next;

    fn hub(config: RealtimeConfig) -> Arc<Hub> {
        Arc::new(Hub::new(config, Arc::new(MemoryBus::new(64))))
    }

    async fn next_text(conn: &Conn) -> String {
        match conn.outbox.next().await {
            Next::Send(Frame::Text(t)) => t.as_str().to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn publications_reach_subscribers_once_encoded_with_increasing_offsets() {
        let hub = hub(RealtimeConfig::default());
        let (a, _) = hub
            .register(&"u1".into(), &"c".into(), &"s1".into(), None)
            .unwrap();
        let (b, _) = hub
            .register(&"u2".into(), &"c".into(), &"s2".into(), None)
            .unwrap();
        for reg in [&a, &b] {
            hub.subscribe("community:c", &reg.conn, "1", None, None)
                .subscriber
                .go_live(None);
        }
        let first = hub.publish("community:c", "ev", Map::new(), Sequence::Next);
        let second = hub.publish("community:c", "ev", Map::new(), Sequence::Next);
        assert_eq!((first.offset, second.offset), (1, 2));
        for reg in [&a, &b] {
            let text = next_text(&reg.conn).await;
            assert!(
                text.starts_with("[null,null,\"community:c\",\"ev\""),
                "{text}"
            );
            assert!(text.contains("\"offset\":1"));
            assert!(next_text(&reg.conn).await.contains("\"offset\":2"));
        }
    }

    #[tokio::test]
    async fn a_slow_consumer_is_cut_and_the_others_keep_receiving() {
        let hub = hub(RealtimeConfig {
            outbox_bytes: 4096,
            ..RealtimeConfig::default()
        });
        let (slow, _) = hub
            .register(&"u1".into(), &"c".into(), &"s1".into(), None)
            .unwrap();
        let (fast, _) = hub
            .register(&"u2".into(), &"c".into(), &"s2".into(), None)
            .unwrap();
        for reg in [&slow, &fast] {
            hub.subscribe("t", &reg.conn, "1", None, None)
                .subscriber
                .go_live(None);
        }
        for _ in 0..200 {
            hub.publish("t", "ev", Map::new(), Sequence::Next);
            // The fast reader drains as it goes.
            next_text(&fast.conn).await;
        }
        assert!(slow.conn.outbox.is_closing());
        assert!(
            matches!(slow.conn.outbox.next().await, Next::Close(c) if c.code == close::SLOW_CONSUMER)
        );
        assert!(!fast.conn.outbox.is_closing());
    }

    #[tokio::test]
    async fn recovery_from_memory_and_holding_live_frames_during_a_join() {
        let hub = hub(RealtimeConfig::default());
        let (a, _) = hub
            .register(&"u1".into(), &"c".into(), &"s1".into(), None)
            .unwrap();
        let p1 = hub.publish("t", "ev", Map::new(), Sequence::Next);
        hub.publish("t", "ev", Map::new(), Sequence::Next);
        let since = Position {
            epoch: p1.epoch.clone(),
            offset: 1,
        };
        let joined = hub.subscribe("t", &a.conn, "1", None, Some(&since));
        let missed = joined.missed.unwrap();
        assert_eq!(missed.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [2]);
        // Published while the join is in progress: held, then released after recovery.
        hub.publish("t", "ev", Map::new(), Sequence::Next);
        assert_eq!(a.conn.outbox.queued_bytes(), 0);
        joined.subscriber.go_live(Some(2));
        assert!(next_text(&a.conn).await.contains("\"offset\":3"));

        let wrong_epoch = Position {
            epoch: "other".into(),
            offset: 1,
        };
        assert!(hub
            .subscribe("t", &a.conn, "2", None, Some(&wrong_epoch))
            .missed
            .is_none());
    }

    fn at(offset: u64) -> Sequence {
        Sequence::At(Position {
            epoch: "e".into(),
            offset,
        })
    }

    fn offset_of(text: &str) -> u64 {
        let frame: Value = serde_json::from_str(text).unwrap();
        frame[4]["offset"].as_u64().unwrap()
    }

    #[tokio::test]
    async fn stored_publications_arriving_out_of_order_are_delivered_in_order_once() {
        let hub = hub(RealtimeConfig::default());
        let (a, _) = hub
            .register(&"u1".into(), &"c".into(), &"s1".into(), None)
            .unwrap();
        let storage = Position {
            epoch: "e".into(),
            offset: 1,
        };
        let joined = hub.subscribe("t", &a.conn, "1", Some(&storage), None);
        assert_eq!(joined.position.offset, 1);
        joined.subscriber.go_live(None);
        // 3 arrives before 2 (another node published it first), 2 arrives twice.
        hub.publish("t", "ev", Map::new(), at(3));
        assert_eq!(a.conn.outbox.queued_bytes(), 0, "3 waits for 2");
        assert_eq!(hub.gaps(Duration::ZERO)[0].after, 1);
        hub.publish("t", "ev", Map::new(), at(2));
        hub.publish("t", "ev", Map::new(), at(2));
        hub.publish("t", "ev", Map::new(), at(1));
        assert_eq!(offset_of(&next_text(&a.conn).await), 2);
        assert_eq!(offset_of(&next_text(&a.conn).await), 3);
        assert_eq!(a.conn.outbox.queued_bytes(), 0, "nothing twice");
        assert!(hub.gaps(Duration::ZERO).is_empty());

        // A join that storage puts ahead of what arrived: the earlier subscriber still gets
        // 4 and 5, the new one only what follows its position.
        let (b, _) = hub
            .register(&"u2".into(), &"c".into(), &"s2".into(), None)
            .unwrap();
        let ahead = Position {
            epoch: "e".into(),
            offset: 5,
        };
        let late = hub.subscribe("t", &b.conn, "1", Some(&ahead), None);
        assert_eq!(late.position.offset, 5);
        late.subscriber.go_live(None);
        let gap = &hub.gaps(Duration::ZERO)[0];
        assert_eq!((gap.after, gap.up_to), (3, 5));
        for offset in [5, 4, 6] {
            hub.publish("t", "ev", Map::new(), at(offset));
        }
        for expected in [4, 5, 6] {
            assert_eq!(offset_of(&next_text(&a.conn).await), expected);
        }
        assert_eq!(offset_of(&next_text(&b.conn).await), 6);

        // A gap nobody fills is skipped: what is held goes out.
        hub.publish("t", "ev", Map::new(), at(8));
        hub.skip_gap("t");
        assert_eq!(offset_of(&next_text(&a.conn).await), 8);
        assert!(hub.gaps(Duration::ZERO).is_empty());
    }

    #[tokio::test]
    async fn limits_and_registration_cleanup() {
        let hub = hub(RealtimeConfig {
            max_connections_per_user: 1,
            max_connections_per_address: 2,
            ..RealtimeConfig::default()
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (first, _) = hub
            .register(&"u1".into(), &"c".into(), &"s".into(), Some(ip))
            .unwrap();
        assert_eq!(
            hub.register(&"u1".into(), &"c".into(), &"s".into(), Some(ip))
                .err(),
            Some(Refusal::TooManyForUser(1))
        );
        let (_second, _) = hub
            .register(&"u2".into(), &"c".into(), &"s".into(), Some(ip))
            .unwrap();
        assert_eq!(
            hub.register(&"u3".into(), &"c".into(), &"s".into(), Some(ip))
                .err(),
            Some(Refusal::TooManyForAddress(2))
        );
        hub.subscribe("t", &first.conn, "1", None, None)
            .subscriber
            .go_live(None);
        drop(first);
        assert_eq!(hub.connection_count(), 1);
        assert!(hub
            .register(&"u1".into(), &"c".into(), &"s".into(), Some(ip))
            .is_ok());
    }

    #[tokio::test]
    async fn end_session_reaches_only_that_session() {
        let hub = hub(RealtimeConfig::default());
        let (_a, mut a_commands) = hub
            .register(&"u1".into(), &"c".into(), &"s1".into(), None)
            .unwrap();
        let (_b, mut b_commands) = hub
            .register(&"u1".into(), &"c".into(), &"s2".into(), None)
            .unwrap();
        hub.end_session(&"s1".into(), 4403, "signed out");
        assert!(matches!(
            a_commands.try_recv(),
            Some(ConnCommand::End { code: 4403, .. })
        ));
        assert!(b_commands.try_recv().is_none());
    }
}
