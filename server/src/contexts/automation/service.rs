//! The automation service: discovered devices and entities, states from MQTT, and commands out.
//! Every member of a community sees its entities; members and admins control them, guests
//! only look (per-entity permissions are not built yet).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, QoS};
use serde_json::json;

use super::discovery::{parse_topic, EntityConfig};
use super::events::{AutomationEvent, StateChanged};
use super::state;
use super::store::{AutomationStore, NewDevice, NewEntity};
use super::{AutomationError, Command, Device, Entity, EntityKind, StateRecord};
use crate::config::AutomationConfig;
use crate::contexts::auth::{AuthService, Principal, Role};
use crate::events::EventBus;
use crate::ids::{CommunityId, EntityRowId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// History rows a query returns at most.
pub const MAX_HISTORY: u32 = 10_000;

/// What the MQTT side knows of a discovered entity.
#[derive(Clone)]
struct Routed {
    kind: EntityKind,
    config: Arc<EntityConfig>,
}

#[derive(Clone)]
pub struct AutomationService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    store: AutomationStore,
    auth: AuthService,
    bus: Arc<dyn EventBus>,
    pub config: AutomationConfig,
    /// The MQTT client once connected (`automation.mqtt_url`).
    pub mqtt: OnceLock<AsyncClient>,
    /// State topic → the entities listening on it, and each entity's config.
    topics: RwLock<HashMap<String, Vec<EntityRowId>>>,
    routed: RwLock<HashMap<EntityRowId, Routed>>,
}

impl AutomationService {
    pub fn new(
        db: crate::db::Db,
        auth: AuthService,
        bus: Arc<dyn EventBus>,
        config: AutomationConfig,
    ) -> Self {
        AutomationService {
            inner: Arc::new(Inner {
                store: AutomationStore::new(db),
                auth,
                bus,
                config,
                mqtt: OnceLock::new(),
                topics: RwLock::new(HashMap::new()),
                routed: RwLock::new(HashMap::new()),
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

    /// Loads the discovered entities' topics, then connects to the MQTT broker when one is
    /// configured (the server's start).
    pub async fn start(&self) {
        if let Err(e) = self.load_routes().await {
            tracing::error!(error = %e, "cannot load the discovered entities");
        }
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
                self.inner.routed.write().expect("routed lock").remove(&id);
                for listeners in self.inner.topics.write().expect("topics lock").values_mut() {
                    listeners.retain(|l| *l != id);
                }
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
                    discovery_key: key,
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
            self.record(entity, new_state, attributes, Utc::now())
                .await?;
        }
        Ok(())
    }

    /// Stores a state and publishes it.
    async fn record(
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
        let changed = StateChanged::of(&entity, old_state);
        self.inner
            .bus
            .publish(AutomationEvent::state_changed(&entity, &changed));
        Ok(())
    }

    // --- reading ---

    pub async fn entities(
        &self,
        by: &Principal,
        area: Option<&str>,
        kind: Option<EntityKind>,
    ) -> Result<Vec<Entity>> {
        self.inner
            .store
            .entities(&by.community_id, area, kind)
            .await
    }

    pub async fn entity(&self, by: &Principal, entity_id: &str) -> Result<Entity> {
        Ok(self
            .inner
            .store
            .entity(&by.community_id, entity_id)
            .await?
            .ok_or(AutomationError::NotFound)?
            .0)
    }

    pub async fn devices(&self, by: &Principal) -> Result<Vec<Device>> {
        self.inner.store.devices(&by.community_id).await
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

    // --- commands ---

    /// Sends `command` to the entity's device over MQTT. Guests may not; a command the kind
    /// does not take is `NotSupported`.
    pub async fn control(
        &self,
        by: &Principal,
        entity_id: &str,
        command: &Command,
    ) -> Result<Entity> {
        if by.role == Role::Guest {
            return Err(AutomationError::GuestsMayNot("control devices"));
        }
        let (entity, config) = self
            .inner
            .store
            .entity(&by.community_id, entity_id)
            .await?
            .ok_or(AutomationError::NotFound)?;
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
