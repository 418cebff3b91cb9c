//! The automation service: discovered devices and entities, states from MQTT, commands out,
//! and the areas and grants that decide who sees and controls what ([`super::access`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use rumqttc::{AsyncClient, QoS};
use serde_json::json;

use super::access::{Access, AccessRules, Grant, GrantScope};
use super::discovery::{parse_topic, EntityConfig};
use super::events::{AutomationEvent, GrantsChanged, StateChanged, GRANTS_CHANGED};
use super::rules::engine::RuleEngine;
use super::rules::store::RuleStore;
use super::state;
use super::statistics::{Period, Row};
use super::store::{AutomationStore, NewDevice, NewEntity};
use super::{AutomationError, Command, Device, Entity, EntityKind, StateRecord};
use crate::config::AutomationConfig;
use crate::contexts::auth::{AuthService, Principal, Role};
use crate::contexts::chat::ChatService;
use crate::events::{Event, EventBus};
use crate::ids::{CommunityId, DeviceId, EntityRowId, UserId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// History rows a query returns at most.
pub const MAX_HISTORY: u32 = 10_000;

/// What the MQTT side knows of a discovered entity.
#[derive(Clone)]
struct Routed {
    kind: EntityKind,
    config: Arc<EntityConfig>,
}

/// What the server does when someone's access changed.
type AccessChanged = Box<dyn Fn(&UserId) + Send + Sync>;
/// Whether this node is the one doing community-wide work.
type Coordinates = Box<dyn Fn() -> bool + Send + Sync>;
/// The members of a community with a socket open.
type Online = Box<dyn Fn(&CommunityId) -> Vec<UserId> + Send + Sync>;
/// Where a time falls in a reading period.
type Floor = fn(DateTime<Utc>) -> DateTime<Utc>;

#[derive(Clone)]
pub struct AutomationService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    store: AutomationStore,
    pub(super) auth: AuthService,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) chat: ChatService,
    /// Rules' webhooks.
    pub(super) http: reqwest::Client,
    pub(super) rules: RuleEngine,
    pub(super) rule_store: RuleStore,
    /// Who is online in a community (presence conditions); set by the server at start.
    pub(super) online: OnceLock<Online>,
    pub config: AutomationConfig,
    /// The MQTT client once connected (`automation.mqtt_url`).
    pub mqtt: OnceLock<AsyncClient>,
    /// State topic → the entities listening on it, and each entity's config.
    topics: RwLock<HashMap<String, Vec<EntityRowId>>>,
    routed: RwLock<HashMap<EntityRowId, Routed>>,
    access: AccessRules,
    /// Called with a person whose access changed, once this node knows it (the server makes
    /// their sockets re-check their joins).
    access_changed: OnceLock<AccessChanged>,
    /// Whether this node does the community-wide work (statistics, rules): with several nodes
    /// one at a time; set by the server at start, else this node alone.
    coordinator: OnceLock<Coordinates>,
}

impl AutomationService {
    pub fn new(
        db: crate::db::Db,
        auth: AuthService,
        chat: ChatService,
        bus: Arc<dyn EventBus>,
        config: AutomationConfig,
    ) -> Self {
        AutomationService {
            inner: Arc::new(Inner {
                store: AutomationStore::new(db.clone()),
                auth,
                bus,
                chat,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                rules: RuleEngine::default(),
                rule_store: RuleStore::new(db),
                online: OnceLock::new(),
                config,
                mqtt: OnceLock::new(),
                topics: RwLock::new(HashMap::new()),
                routed: RwLock::new(HashMap::new()),
                access: AccessRules::default(),
                access_changed: OnceLock::new(),
                coordinator: OnceLock::new(),
            }),
        }
    }

    fn route(&self, id: &EntityRowId, kind: EntityKind, config: EntityConfig) -> Vec<String> {
        let topics: Vec<String> = config
            .state_topics()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut map = self.inner.topics.write().expect("topics lock");
        for listeners in map.values_mut() {
            listeners.retain(|l| l != id);
        }
        for topic in &topics {
            map.entry(topic.clone()).or_default().push(id.clone());
        }
        drop(map);
        self.inner.routed.write().expect("routed lock").insert(
            id.clone(),
            Routed {
                kind,
                config: Arc::new(config),
            },
        );
        topics
    }

    /// Stops listening for an entity's states (it was removed).
    fn unroute(&self, id: &EntityRowId) {
        self.inner.routed.write().expect("routed lock").remove(id);
        for listeners in self.inner.topics.write().expect("topics lock").values_mut() {
            listeners.retain(|l| l != id);
        }
    }

    /// Loads the discovered entities' topics, then connects to the MQTT broker when one is
    /// configured (the server's start).
    pub async fn start(&self) {
        if let Err(e) = self.load_routes().await {
            tracing::error!(error = %e, "cannot load the discovered entities");
        }
        if let Err(e) = self.load_grants().await {
            tracing::error!(error = %e, "cannot load the automation grants");
        }
        self.follow_bus();
        if let Err(e) = self.start_rules().await {
            tracing::error!(error = %e, "cannot load the automation rules");
        }
        self.spawn_compiler();
        let Some(url) = self
            .inner
            .config
            .mqtt_url
            .as_deref()
            .filter(|u| !u.is_empty())
        else {
            return;
        };
        match super::mqtt::Broker::parse(url) {
            Ok(broker) => super::mqtt::spawn(self, broker),
            Err(e) => tracing::error!(error = %e, "automation.mqtt_url"),
        }
    }

    /// Loads the discovered entities' topics (at start, before MQTT connects).
    pub async fn load_routes(&self) -> Result<()> {
        for discovered in self.inner.store.discovered().await? {
            let (Some(kind), Ok(config)) = (
                EntityKind::parse(&discovered.kind),
                serde_json::from_str::<EntityConfig>(&discovered.config),
            ) else {
                continue;
            };
            self.route(&discovered.id, kind, config);
        }
        Ok(())
    }

    /// How this node learns whether it is the one doing community-wide work (set once).
    pub fn set_coordinator(&self, coordinates: impl Fn() -> bool + Send + Sync + 'static) {
        let _ = self.inner.coordinator.set(Box::new(coordinates));
    }

    /// Whether this node compiles statistics and runs rules now.
    pub(super) fn coordinates(&self) -> bool {
        self.inner.coordinator.get().is_none_or(|c| c())
    }

    pub(super) fn store(&self) -> &AutomationStore {
        &self.inner.store
    }

    /// How presence conditions learn who is online (set once, at start).
    pub fn set_online(&self, online: impl Fn(&CommunityId) -> Vec<UserId> + Send + Sync + 'static) {
        let _ = self.inner.online.set(Box::new(online));
    }

    /// What to do once someone's access changed on this node (set once, at start).
    pub fn on_access_changed(&self, action: impl Fn(&UserId) + Send + Sync + 'static) {
        let _ = self.inner.access_changed.set(Box::new(action));
    }

    /// Loads every community's grants (at start).
    pub async fn load_grants(&self) -> Result<()> {
        let mut by_user: HashMap<(CommunityId, UserId), Vec<Grant>> = HashMap::new();
        for (community, grant) in self.inner.store.all_grants().await? {
            by_user
                .entry((community, grant.user_id.clone()))
                .or_default()
                .push(grant);
        }
        for ((community, user), grants) in by_user {
            self.inner.access.replace(&community, &user, &grants);
        }
        Ok(())
    }

    /// Keeps this node's grants, rules and settings in step with changes made on any node,
    /// and hands every event to the rules.
    fn follow_bus(&self) {
        let mut events = self.inner.bus.subscribe();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let Some(inner) = weak.upgrade() else { return };
                        if event.kind == GRANTS_CHANGED {
                            if let Some(user) = apply_grants(&inner.access, &event) {
                                if let Some(action) = inner.access_changed.get() {
                                    action(&user);
                                }
                            }
                        }
                        AutomationService { inner }.rules_hear(&event).await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::error!(missed, "automation fell behind the event bus");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Every state topic listened to (subscribed again on each MQTT connection).
    pub fn state_topics(&self) -> Vec<String> {
        self.inner
            .topics
            .read()
            .expect("topics lock")
            .keys()
            .cloned()
            .collect()
    }

    /// The community MQTT devices belong to: `automation.community`, else the only one.
    async fn mqtt_community(&self) -> Result<Option<CommunityId>> {
        match self
            .inner
            .config
            .community
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            Some(name) => Ok(Some(self.inner.auth.find_community_id(name).await?)),
            None => Ok(self.inner.auth.sole_community().await?),
        }
    }

    /// One MQTT message: a discovery config, or a state for the entities listening on `topic`.
    pub async fn handle_message(&self, topic: &str, payload: &[u8]) {
        let prefix = self.inner.config.discovery_prefix.as_str();
        let result = match parse_topic(prefix, topic) {
            Some((kind, key)) => self.discovered(kind, &key, payload).await,
            None => self.state_message(topic, payload).await,
        };
        if let Err(error) = result {
            tracing::warn!(%topic, %error, "MQTT message not applied");
        }
    }

    async fn discovered(&self, kind: EntityKind, key: &str, payload: &[u8]) -> Result<()> {
        let Some(community) = self.mqtt_community().await? else {
            return Err(AutomationError::Invalid(
                "several communities and no automation.community: discovery ignored".into(),
            ));
        };
        let Some(config) = EntityConfig::parse(payload).map_err(AutomationError::Invalid)? else {
            if let Some(id) = self.inner.store.remove_discovered(&community, key).await? {
                self.unroute(&id);
            }
            return Ok(());
        };
        let now = Utc::now();
        let object = key.rsplit('/').next().unwrap_or(key);
        let device = match &config.device {
            Some(device) => {
                let source_key = device
                    .identifiers
                    .first()
                    .cloned()
                    .unwrap_or_else(|| key.to_string());
                Some(
                    self.inner
                        .store
                        .upsert_device(
                            &NewDevice {
                                community_id: &community,
                                source: "mqtt",
                                source_key: &source_key,
                                name: device.name.as_deref().unwrap_or(object),
                                manufacturer: device.manufacturer.as_deref(),
                                model: device.model.as_deref(),
                                area: device.suggested_area.as_deref(),
                            },
                            now,
                        )
                        .await?,
                )
            }
            None => None,
        };
        let stored = serde_json::to_string(&config).unwrap_or_else(|_| "{}".into());
        let name = config.display_name(object);
        let id = self
            .inner
            .store
            .upsert_entity(
                &NewEntity {
                    community_id: &community,
                    discovery_key: Some(key),
                    agent_key: None,
                    entity_id: &config.entity_id(kind, object),
                    device_id: device.as_ref(),
                    kind,
                    name: &name,
                    unit: config.unit_of_measurement.as_deref(),
                    device_class: config.device_class.as_deref(),
                    state_class: config.state_class.as_deref(),
                    area: config
                        .device
                        .as_ref()
                        .and_then(|d| d.suggested_area.as_deref()),
                    config: &stored,
                },
                now,
            )
            .await?;
        let topics = self.route(&id, kind, config);
        if let Some(client) = self.inner.mqtt.get() {
            for topic in topics {
                // Retained states arrive right after the subscription.
                let _ = client.subscribe(topic, QoS::AtLeastOnce).await;
            }
        }
        Ok(())
    }

    async fn state_message(&self, topic: &str, payload: &[u8]) -> Result<()> {
        let listeners = self
            .inner
            .topics
            .read()
            .expect("topics lock")
            .get(topic)
            .cloned()
            .unwrap_or_default();
        let payload = String::from_utf8_lossy(payload);
        for id in listeners {
            let Some(routed) = self
                .inner
                .routed
                .read()
                .expect("routed lock")
                .get(&id)
                .cloned()
            else {
                continue;
            };
            let update = state::apply(routed.kind, &routed.config, topic, &payload);
            if update == state::Update::default() {
                continue;
            }
            let Some(entity) = self.inner.store.entity_by_row(&id).await? else {
                continue;
            };
            let new_state = update.state.or(entity.state.clone());
            let mut attributes = entity.attributes.clone();
            attributes.extend(update.attributes);
            // Both backends keep microseconds: what is published must equal what is read back.
            let at = Utc::now().trunc_subsecs(6);
            self.record(entity, new_state, attributes, at).await?;
        }
        Ok(())
    }

    /// Stores a state and publishes it.
    pub(super) async fn record(
        &self,
        entity: Entity,
        state: Option<String>,
        attributes: serde_json::Map<String, serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let changed = state != entity.state;
        self.inner
            .store
            .set_state(&entity.id, state.as_deref(), &attributes, changed, at)
            .await?;
        let old_state = entity.state.clone();
        let entity = Entity {
            last_changed: if changed || entity.last_changed.is_none() {
                Some(at)
            } else {
                entity.last_changed
            },
            last_updated: Some(at),
            state,
            attributes,
            ..entity
        };
        let (viewers, hidden_from) = self.inner.access.audience(&entity);
        let changed = StateChanged {
            viewers,
            hidden_from,
            ..StateChanged::of(&entity, old_state)
        };
        self.inner
            .bus
            .publish(AutomationEvent::state_changed(&entity, &changed));
        Ok(())
    }

    // --- reading ---

    /// What `by` may do with `entity`.
    pub fn access(&self, by: &Principal, entity: &Entity) -> Access {
        self.inner.access.access(by, entity)
    }

    /// Whether something is hidden from `by` (their `home:` join is their own audience).
    pub fn is_restricted(&self, by: &Principal) -> bool {
        by.role != Role::Admin
            && self
                .inner
                .access
                .is_restricted(&by.community_id, &by.user_id)
    }

    /// Whether `user_id` may see a state change (for `entityChanged`).
    pub fn may_see(&self, user_id: &UserId, role: Role, changed: &StateChanged) -> bool {
        role == Role::Admin || !changed.hidden_from.contains(user_id)
    }

    /// The entities `by` may see, by `area` or `kind` if given.
    pub async fn entities(
        &self,
        by: &Principal,
        area: Option<&str>,
        kind: Option<EntityKind>,
    ) -> Result<Vec<Entity>> {
        let mut entities = self
            .inner
            .store
            .entities(&by.community_id, area, kind)
            .await?;
        entities.retain(|e| self.access(by, e) > Access::None);
        Ok(entities)
    }

    /// An entity `by` may see (`NotFound` otherwise, as for one that does not exist).
    pub async fn entity(&self, by: &Principal, entity_id: &str) -> Result<Entity> {
        Ok(self.entity_and_config(by, entity_id).await?.0)
    }

    async fn entity_and_config(&self, by: &Principal, entity_id: &str) -> Result<(Entity, String)> {
        self.inner
            .store
            .entity(&by.community_id, entity_id)
            .await?
            .filter(|(entity, _)| self.access(by, entity) > Access::None)
            .ok_or(AutomationError::NotFound)
    }

    /// The devices with an entity `by` may see (admins: every device).
    pub async fn devices(&self, by: &Principal) -> Result<Vec<Device>> {
        let devices = self.inner.store.devices(&by.community_id).await?;
        if by.role == Role::Admin {
            return Ok(devices);
        }
        let visible: std::collections::HashSet<DeviceId> = self
            .entities(by, None, None)
            .await?
            .into_iter()
            .filter_map(|e| e.device_id)
            .collect();
        Ok(devices
            .into_iter()
            .filter(|d| visible.contains(&d.id))
            .collect())
    }

    pub async fn history(
        &self,
        by: &Principal,
        entity_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        first: Option<u32>,
    ) -> Result<Vec<StateRecord>> {
        let entity = self.entity(by, entity_id).await?;
        let limit = first.unwrap_or(1_000).clamp(1, MAX_HISTORY);
        self.inner.store.history(&entity.id, from, to, limit).await
    }

    /// An entity's statistics starting in `[from, to)` at `resolution`, oldest first, each with
    /// its sum's change since the row before (a meter's consumption in that period).
    pub async fn statistics(
        &self,
        by: &Principal,
        entity_id: &str,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Row, Option<f64>)>> {
        let entity = self.entity(by, entity_id).await?;
        if to - from > resolution.longest_range() {
            return Err(AutomationError::Invalid(format!(
                "ask for at most {} days at this resolution",
                resolution.longest_range().num_days()
            )));
        }
        let store = &self.inner.store;
        let (period, floor): (Period, Floor) = match resolution {
            Resolution::FiveMinutes => (Period::FiveMinutes, |at| Period::FiveMinutes.floor(at)),
            Resolution::Hour => (Period::Hour, |at| Period::Hour.floor(at)),
            Resolution::Day => (Period::Hour, day_of),
        };
        let rows = store.statistics(&entity.id, period, from, to).await?;
        let rows = match resolution {
            Resolution::Day => super::compiler::group_by(floor, &rows),
            _ => rows,
        };
        let mut previous = store
            .statistic_before(&entity.id, period, from)
            .await?
            .and_then(|r| r.sum);
        Ok(rows
            .into_iter()
            .map(|row| {
                let change = row.sum.zip(previous).map(|(now, before)| now - before);
                previous = row.sum.or(previous);
                (row, change)
            })
            .collect())
    }

    // --- areas, devices and grants (admins) ---

    fn admins_only(by: &Principal) -> Result<()> {
        if by.role == Role::Admin {
            Ok(())
        } else {
            Err(AutomationError::Forbidden(
                "only admins manage areas, devices and access".into(),
            ))
        }
    }

    /// Every area with how many entities are in it.
    pub async fn areas(&self, by: &Principal) -> Result<Vec<(String, i64)>> {
        self.inner.store.areas(&by.community_id).await
    }

    pub async fn create_area(&self, by: &Principal, name: &str) -> Result<()> {
        Self::admins_only(by)?;
        let name = area_name(name)?;
        self.inner
            .store
            .create_area(&by.community_id, &name, Utc::now())
            .await
    }

    /// Renames an area (`to`) or deletes it (`None`: its devices and entities keep no area).
    pub async fn rename_area(&self, by: &Principal, from: &str, to: Option<&str>) -> Result<()> {
        Self::admins_only(by)?;
        let to = to.map(area_name).transpose()?;
        let touched = self
            .inner
            .store
            .rename_area(&by.community_id, from, to.as_deref(), Utc::now())
            .await?;
        if touched == 0 {
            return Err(AutomationError::NotFound);
        }
        self.grants_moved(&by.community_id).await
    }

    /// Renames a device or moves it (and its entities that followed it) to an area.
    pub async fn update_device(
        &self,
        by: &Principal,
        id: &DeviceId,
        name: Option<&str>,
        area: Option<Option<&str>>,
    ) -> Result<Device> {
        Self::admins_only(by)?;
        let (name, area) = renamed(name, area)?;
        let found = self
            .inner
            .store
            .update_device(
                &by.community_id,
                id,
                name.as_deref(),
                area.as_ref().map(|a| a.as_deref()),
                Utc::now(),
            )
            .await?;
        if !found {
            return Err(AutomationError::NotFound);
        }
        self.inner
            .store
            .devices(&by.community_id)
            .await?
            .into_iter()
            .find(|d| d.id == *id)
            .ok_or(AutomationError::NotFound)
    }

    /// Deletes a device with its entities, their history and statistics (admins). An MQTT
    /// device whose discovery config the broker still retains comes back on the next
    /// connection; a device agent's tokens go with it.
    pub async fn delete_device(&self, by: &Principal, id: &DeviceId) -> Result<()> {
        Self::admins_only(by)?;
        let entities = self
            .inner
            .store
            .delete_device(&by.community_id, id)
            .await?
            .ok_or(AutomationError::NotFound)?;
        for entity in &entities {
            self.unroute(entity);
        }
        Ok(())
    }

    /// Renames an entity or moves it to an area (`Some(None)`: to none).
    pub async fn update_entity(
        &self,
        by: &Principal,
        entity_id: &str,
        name: Option<&str>,
        area: Option<Option<&str>>,
    ) -> Result<Entity> {
        Self::admins_only(by)?;
        let (name, area) = renamed(name, area)?;
        let found = self
            .inner
            .store
            .update_entity(
                &by.community_id,
                entity_id,
                name.as_deref(),
                area.as_ref().map(|a| a.as_deref()),
            )
            .await?;
        if !found {
            return Err(AutomationError::NotFound);
        }
        self.entity(by, entity_id).await
    }

    /// The community's grants (of one person with `user_id`).
    pub async fn grants(&self, by: &Principal, user_id: Option<&UserId>) -> Result<Vec<Grant>> {
        Self::admins_only(by)?;
        self.inner.store.grants(&by.community_id, user_id).await
    }

    /// Sets what `user_id` may do with an entity or an area; `None` removes the grant (the role
    /// decides again). Their sockets re-check their `home:` joins.
    pub async fn set_access(
        &self,
        by: &Principal,
        user_id: &UserId,
        scope: GrantScope,
        target: &str,
        access: Option<Access>,
    ) -> Result<Vec<Grant>> {
        Self::admins_only(by)?;
        let member = self
            .inner
            .auth
            .user(user_id)
            .await
            .ok()
            .filter(|u| u.community_id == by.community_id);
        if member.is_none() {
            return Err(AutomationError::NotFound);
        }
        if scope == GrantScope::Entity
            && self
                .inner
                .store
                .entity(&by.community_id, target)
                .await?
                .is_none()
        {
            return Err(AutomationError::NotFound);
        }
        let target = match scope {
            GrantScope::Entity => target.to_string(),
            GrantScope::Area => area_name(target)?,
        };
        self.inner
            .store
            .set_grant(
                &by.community_id,
                user_id,
                scope,
                &target,
                access,
                Utc::now(),
            )
            .await?;
        let grants = self
            .inner
            .store
            .grants(&by.community_id, Some(user_id))
            .await?;
        self.publish_grants(&by.community_id, user_id, grants.clone());
        Ok(grants)
    }

    /// After an area was renamed or deleted: everyone with a grant on it gets their grants again.
    async fn grants_moved(&self, community_id: &CommunityId) -> Result<()> {
        let mut by_user: HashMap<UserId, Vec<Grant>> = HashMap::new();
        for grant in self.inner.store.grants(community_id, None).await? {
            by_user
                .entry(grant.user_id.clone())
                .or_default()
                .push(grant);
        }
        let known: Vec<UserId> = self.inner.access.users(community_id);
        for user in known {
            let grants = by_user.remove(&user).unwrap_or_default();
            self.publish_grants(community_id, &user, grants);
        }
        for (user, grants) in by_user {
            self.publish_grants(community_id, &user, grants);
        }
        Ok(())
    }

    fn publish_grants(&self, community_id: &CommunityId, user_id: &UserId, grants: Vec<Grant>) {
        // Applied here at once; the event brings the other nodes (and this one again) along.
        self.inner.access.replace(community_id, user_id, &grants);
        let changed = GrantsChanged {
            user_id: user_id.clone(),
            grants,
        };
        self.inner
            .bus
            .publish(AutomationEvent::grants_changed(community_id, &changed));
    }

    // --- commands ---

    /// Sends `command` to the entity's device over MQTT, for those with `control` access; a
    /// command the kind does not take is `NotSupported`.
    pub async fn control(
        &self,
        by: &Principal,
        entity_id: &str,
        command: &Command,
    ) -> Result<Entity> {
        let (entity, config) = self.entity_and_config(by, entity_id).await?;
        if self.access(by, &entity) < Access::Control {
            return Err(AutomationError::Forbidden(format!(
                "you may look at {entity_id} but not control it"
            )));
        }
        if self.command_agent(&entity, command).await? {
            return Ok(entity);
        }
        let config: EntityConfig = serde_json::from_str(&config).unwrap_or_default();
        let messages = commands(entity.kind, &config, command, entity.state.as_deref())?;
        let client = self.inner.mqtt.get().ok_or(AutomationError::NotConnected)?;
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .map_err(|_| AutomationError::NotConnected)?;
        }
        Ok(entity)
    }
}

/// Applies an `automation.grants_changed` event to this node's grants; whose they were.
fn apply_grants(access: &AccessRules, event: &Event) -> Option<UserId> {
    let (Some(community), Ok(changed)) = (&event.community_id, event.data_as::<GrantsChanged>())
    else {
        return None;
    };
    access.replace(community, &changed.user_id, &changed.grants);
    Some(changed.user_id)
}

/// The granularity statistics are read at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    FiveMinutes,
    Hour,
    /// UTC days, from hourly rows.
    Day,
}

impl Resolution {
    /// The longest range one query may cover.
    fn longest_range(self) -> chrono::Duration {
        match self {
            Resolution::FiveMinutes => chrono::Duration::days(31),
            Resolution::Hour => chrono::Duration::days(366),
            Resolution::Day => chrono::Duration::days(3660),
        }
    }
}

fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |midnight| midnight.and_utc())
}

/// An area's name: trimmed, 1 to 64 characters.
fn area_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AutomationError::Invalid(
            "an area's name is 1 to 64 characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// A new name and area as given (each `None`: unchanged; an area of `Some(None)`: none),
/// checked and trimmed.
fn renamed(
    name: Option<&str>,
    area: Option<Option<&str>>,
) -> Result<(Option<String>, Option<Option<String>>)> {
    let name = name.map(display_name).transpose()?;
    let area = area.map(|a| a.map(area_name).transpose()).transpose()?;
    Ok((name, area))
}

/// A device's or entity's name: trimmed, 1 to 100 characters.
pub(super) fn display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AutomationError::Invalid(
            "a name is 1 to 100 characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// The MQTT messages `(topic, payload)` that carry out `command` on an entity.
fn commands(
    kind: EntityKind,
    config: &EntityConfig,
    command: &Command,
    state: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let unsupported = || AutomationError::NotSupported {
        kind: kind.as_str(),
        action: format!("{command:?}").to_lowercase(),
    };
    let topic = |t: &Option<String>| t.clone().ok_or_else(unsupported);
    let on = config.payload_on.clone().unwrap_or_else(|| "ON".into());
    let off = config.payload_off.clone().unwrap_or_else(|| "OFF".into());
    let json_light = kind == EntityKind::Light && config.schema.as_deref() == Some("json");
    Ok(match (kind, command) {
        (EntityKind::Switch | EntityKind::Light, Command::Toggle) => {
            let next = if state == Some("on") {
                Command::TurnOff
            } else {
                Command::TurnOn { brightness: None }
            };
            return commands(kind, config, &next, state);
        }
        (EntityKind::Light, Command::TurnOn { brightness }) if json_light => {
            let mut body = json!({ "state": "ON" });
            if let Some(b) = brightness {
                let scale = config.brightness_scale.unwrap_or(255.0);
                body["brightness"] = json!((f64::from(*b) / 255.0 * scale).round() as i64);
            }
            vec![(topic(&config.command_topic)?, body.to_string())]
        }
        (EntityKind::Light, Command::TurnOff) if json_light => {
            vec![(
                topic(&config.command_topic)?,
                json!({ "state": "OFF" }).to_string(),
            )]
        }
        (
            EntityKind::Light,
            Command::TurnOn {
                brightness: Some(b),
            },
        ) => {
            let scale = config.brightness_scale.unwrap_or(255.0);
            let level = (f64::from(*b) / 255.0 * scale).round() as i64;
            vec![
                (topic(&config.command_topic)?, on),
                (topic(&config.brightness_command_topic)?, level.to_string()),
            ]
        }
        (EntityKind::Switch | EntityKind::Light, Command::TurnOn { .. }) => {
            vec![(topic(&config.command_topic)?, on)]
        }
        (EntityKind::Switch | EntityKind::Light, Command::TurnOff) => {
            vec![(topic(&config.command_topic)?, off)]
        }
        (EntityKind::Button, Command::Press) => vec![(
            topic(&config.command_topic)?,
            config
                .payload_press
                .clone()
                .unwrap_or_else(|| "PRESS".into()),
        )],
        (EntityKind::Cover, Command::Open | Command::Close | Command::Stop) => {
            let payload = match command {
                Command::Open => config.payload_open.clone().unwrap_or_else(|| "OPEN".into()),
                Command::Close => config
                    .payload_close
                    .clone()
                    .unwrap_or_else(|| "CLOSE".into()),
                _ => config.payload_stop.clone().unwrap_or_else(|| "STOP".into()),
            };
            vec![(topic(&config.command_topic)?, payload)]
        }
        (EntityKind::Climate, Command::SetTemperature(t)) => {
            vec![(topic(&config.temperature_command_topic)?, t.to_string())]
        }
        (EntityKind::Climate, Command::SetMode(mode)) => {
            vec![(topic(&config.mode_command_topic)?, mode.clone())]
        }
        _ => return Err(unsupported()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> EntityConfig {
        EntityConfig::parse(json.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn commands_go_to_the_topics_and_payloads_discovery_gave() {
        let plug = config(r#"{"cmd_t": "plug/set", "pl_on": "1", "pl_off": "0"}"#);
        let on = Command::TurnOn { brightness: None };
        assert_eq!(
            commands(EntityKind::Switch, &plug, &on, None).unwrap(),
            [("plug/set".to_string(), "1".to_string())]
        );
        assert_eq!(
            commands(EntityKind::Switch, &plug, &Command::Toggle, Some("on")).unwrap(),
            [("plug/set".to_string(), "0".to_string())]
        );
        let lamp = config(r#"{"schema": "json", "cmd_t": "lamp/set", "bri_scl": 100}"#);
        let dim = Command::TurnOn {
            brightness: Some(128),
        };
        let sent = commands(EntityKind::Light, &lamp, &dim, None).unwrap();
        let body: serde_json::Value = serde_json::from_str(&sent[0].1).unwrap();
        assert_eq!(body, json!({ "state": "ON", "brightness": 50 }));
        let thermostat = config(r#"{"temp_cmd_t": "t/set"}"#);
        assert_eq!(
            commands(
                EntityKind::Climate,
                &thermostat,
                &Command::SetTemperature(21.5),
                None
            )
            .unwrap(),
            [("t/set".to_string(), "21.5".to_string())]
        );
        assert!(matches!(
            commands(EntityKind::Sensor, &plug, &on, None),
            Err(AutomationError::NotSupported { .. })
        ));
        assert!(matches!(
            commands(
                EntityKind::Climate,
                &thermostat,
                &Command::SetMode("heat".into()),
                None
            ),
            Err(AutomationError::NotSupported { .. })
        ));
    }
}
