//! Device agents: devices that speak Tainá's socket themselves (a microcontroller, a
//! Raspberry Pi script) instead of MQTT. An admin creates the device with its entities (each
//! named by a short `key`) and a token for it (`tdv_…`, shown once, stored as a SHA-256 hash,
//! revocable). The agent connects with that token, joins `device:{id}`, pushes states as JSON
//! or MessagePack, and receives `command` pushes when someone controls one of its entities.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::discovery::slug_entity_id;
use super::events::AutomationEvent;
use super::service::AutomationService;
use super::store::{NewDevice, NewEntity};
use super::{AutomationError, Command, Device, Entity, EntityKind};
use crate::contexts::auth::token::sha256_hex;
use crate::contexts::auth::{Principal, Role};
use crate::ids::{DeviceId, SessionId, UserId};

type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// How a device token starts (so the socket knows whose token it is).
pub const DEVICE_TOKEN_PREFIX: &str = "tdv_";
/// Entities one agent device may have.
const MAX_ENTITIES: usize = 64;
/// A state's text, and its attributes as JSON, at most.
const MAX_STATE_CHARS: usize = 255;
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// States one push may carry.
pub const MAX_STATES_PER_PUSH: usize = 64;

/// One entity of an agent device, as the admin declares it.
#[derive(Clone, Debug)]
pub struct NewAgentEntity {
    /// The agent's name for it (`temp`, `relay1`): letters, digits, `_` and `-`.
    pub key: String,
    pub kind: EntityKind,
    pub name: String,
    pub unit: Option<String>,
    pub device_class: Option<String>,
    pub state_class: Option<String>,
}

/// A device token, without its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceToken {
    pub id: String,
    pub device_id: DeviceId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One state an agent reports: `{entity, state, attributes?}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentState {
    pub entity: String,
    /// Text or a number (`21.5`, `"on"`); `null` for unknown.
    pub state: Option<Value>,
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
}

/// What a `state` push carries: one state, or `{states: [...]}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum StatePush {
    Many { states: Vec<AgentState> },
    One(AgentState),
}

impl StatePush {
    pub fn into_states(self) -> Vec<AgentState> {
        match self {
            StatePush::Many { states } => states,
            StatePush::One(one) => vec![one],
        }
    }
}

/// The socket session a device token's connections belong to (revoking ends them).
pub fn session_of(token_id: &str) -> SessionId {
    SessionId::from(format!("device-token-{token_id}"))
}

fn agent_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AutomationError::Invalid(format!(
            "entity key {key:?}: 1 to 32 letters, digits, `_` or `-`"
        )))
    }
}

impl AutomationService {
    fn admins_manage_agents(by: &Principal) -> Result<()> {
        if by.role == Role::Admin {
            Ok(())
        } else {
            Err(AutomationError::Forbidden(
                "only admins manage device agents".into(),
            ))
        }
    }

    /// Creates a device that reports over the socket, with its entities (admins).
    pub async fn create_agent_device(
        &self,
        by: &Principal,
        name: &str,
        area: Option<&str>,
        entities: Vec<NewAgentEntity>,
    ) -> Result<(Device, Vec<Entity>)> {
        Self::admins_manage_agents(by)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AutomationError::Invalid(
                "a name is 1 to 100 characters".into(),
            ));
        }
        if entities.is_empty() || entities.len() > MAX_ENTITIES {
            return Err(AutomationError::Invalid(format!(
                "a device agent has 1 to {MAX_ENTITIES} entities"
            )));
        }
        let mut keys = std::collections::HashSet::new();
        for entity in &entities {
            agent_key(&entity.key)?;
            if !keys.insert(entity.key.as_str()) {
                return Err(AutomationError::Invalid(format!(
                    "entity key {} twice",
                    entity.key
                )));
            }
        }
        let area = area.map(str::trim).filter(|a| !a.is_empty());
        let now = Utc::now();
        let source_key = DeviceId::new();
        let device_id = self
            .store()
            .upsert_device(
                &NewDevice {
                    community_id: &by.community_id,
                    source: "socket",
                    source_key: source_key.as_str(),
                    name,
                    manufacturer: None,
                    model: None,
                    area,
                },
                now,
            )
            .await?;
        for entity in &entities {
            let entity_id = slug_entity_id(entity.kind, &format!("{name} {}", entity.key));
            let label = entity.name.trim();
            self.store()
                .upsert_entity(
                    &NewEntity {
                        community_id: &by.community_id,
                        discovery_key: None,
                        agent_key: Some(&entity.key),
                        entity_id: &entity_id,
                        device_id: Some(&device_id),
                        kind: entity.kind,
                        name: if label.is_empty() { &entity.key } else { label },
                        unit: entity.unit.as_deref(),
                        device_class: entity.device_class.as_deref(),
                        state_class: entity.state_class.as_deref(),
                        area,
                        config: "{}",
                    },
                    now,
                )
                .await?;
        }
        let device = self
            .store()
            .devices(&by.community_id)
            .await?
            .into_iter()
            .find(|d| d.id == device_id)
            .ok_or(AutomationError::NotFound)?;
        let mut created = self.store().entities(&by.community_id, None, None).await?;
        created.retain(|e| e.device_id.as_ref() == Some(&device_id));
        Ok((device, created))
    }

    /// A new token for an agent device (admins). The secret is returned this once.
    pub async fn create_device_token(
        &self,
        by: &Principal,
        device_id: &DeviceId,
        name: &str,
    ) -> Result<(DeviceToken, String)> {
        Self::admins_manage_agents(by)?;
        self.agent_device(by, device_id).await?;
        let id = nanoid::nanoid!();
        let secret = format!("{DEVICE_TOKEN_PREFIX}{id}_{}", nanoid::nanoid!(32));
        let name = match name.trim() {
            "" => "token".to_string(),
            n => n.chars().take(100).collect(),
        };
        let token = DeviceToken {
            id,
            device_id: device_id.clone(),
            name,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store()
            .insert_device_token(&token, &sha256_hex(&secret), &by.user_id)
            .await?;
        Ok((token, secret))
    }

    /// An agent device's tokens, newest first (admins).
    pub async fn device_tokens(
        &self,
        by: &Principal,
        device_id: &DeviceId,
    ) -> Result<Vec<DeviceToken>> {
        Self::admins_manage_agents(by)?;
        self.agent_device(by, device_id).await?;
        self.store().device_tokens(device_id).await
    }

    /// Revokes a token (admins): its sockets close at once, on every node.
    pub async fn revoke_device_token(&self, by: &Principal, token_id: &str) -> Result<()> {
        Self::admins_manage_agents(by)?;
        if !self
            .store()
            .revoke_device_token(&by.community_id, token_id, Utc::now())
            .await?
        {
            return Err(AutomationError::NotFound);
        }
        self.inner
            .bus
            .publish(AutomationEvent::device_token_revoked(
                &by.community_id,
                &session_of(token_id),
            ));
        Ok(())
    }

    async fn agent_device(&self, by: &Principal, device_id: &DeviceId) -> Result<Device> {
        self.store()
            .devices(&by.community_id)
            .await?
            .into_iter()
            .find(|d| d.id == *device_id && d.source == "socket")
            .ok_or(AutomationError::NotFound)
    }

    /// The principal of a device token: role `device`, the device's id in place of a user.
    pub async fn authenticate_device(&self, token: &str) -> Result<Principal> {
        let found = self.store().device_by_token(&sha256_hex(token)).await?;
        let Some((token_id, device_id, community_id)) = found else {
            return Err(AutomationError::Forbidden(
                "the device token is unknown or revoked".into(),
            ));
        };
        self.store()
            .touch_device_token(&token_id, Utc::now())
            .await?;
        Ok(Principal {
            user_id: UserId::from(device_id.into_string()),
            community_id,
            role: Role::Device,
            session_id: session_of(&token_id),
            email: String::new(),
            // Valid until revoked.
            expires_at: Utc::now() + chrono::Duration::days(3650),
        })
    }

    /// States an agent pushed on `device:{id}`; how many were stored. A key the device does
    /// not have, or a state too long, refuses the whole push (nothing stored).
    pub async fn agent_states(&self, device: &Principal, states: Vec<AgentState>) -> Result<usize> {
        if device.role != Role::Device {
            return Err(AutomationError::Forbidden(
                "only the device itself reports".into(),
            ));
        }
        if states.is_empty() || states.len() > MAX_STATES_PER_PUSH {
            return Err(AutomationError::Invalid(format!(
                "a push carries 1 to {MAX_STATES_PER_PUSH} states"
            )));
        }
        let device_id = DeviceId::from(device.user_id.as_str());
        let mut resolved = Vec::with_capacity(states.len());
        for state in states {
            let entity = self
                .store()
                .agent_entity(&device_id, &state.entity)
                .await?
                .ok_or_else(|| {
                    AutomationError::Invalid(format!("this device has no entity {}", state.entity))
                })?;
            let text = match state.state {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(Value::Bool(b)) => Some(if b { "on" } else { "off" }.to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(AutomationError::Invalid(format!(
                        "a state is text, a number or a boolean, not {other}"
                    )))
                }
            };
            if text
                .as_ref()
                .is_some_and(|t| t.chars().count() > MAX_STATE_CHARS)
            {
                return Err(AutomationError::Invalid(format!(
                    "a state is at most {MAX_STATE_CHARS} characters"
                )));
            }
            let attributes = state.attributes.unwrap_or_default();
            if Value::Object(attributes.clone()).to_string().len() > MAX_ATTRIBUTES_BYTES {
                return Err(AutomationError::Invalid(format!(
                    "attributes are at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
                )));
            }
            resolved.push((entity, text, attributes));
        }
        let count = resolved.len();
        for (entity, text, attributes) in resolved {
            let mut merged = entity.attributes.clone();
            merged.extend(attributes);
            let at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
            self.record(entity, text, merged, at).await?;
        }
        Ok(count)
    }

    /// Sends a command to an agent device's socket (`command` on `device:{id}`), when the
    /// entity is an agent's; `false` otherwise.
    pub(super) async fn command_agent(&self, entity: &Entity, command: &Command) -> Result<bool> {
        let Some((device_id, key)) = self.store().agent_key_of(&entity.id).await? else {
            return Ok(false);
        };
        let mut payload = command.to_wire();
        payload["entity"] = json!(key);
        payload["entity_id"] = json!(entity.entity_id);
        self.inner.bus.publish(AutomationEvent::device_command(
            &entity.community_id,
            &device_id,
            payload,
        ));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_parse_one_or_many_and_names_make_ids() {
        let one: StatePush = serde_json::from_str(r#"{"entity": "temp", "state": 21.5}"#).unwrap();
        assert_eq!(one.into_states()[0].state, Some(json!(21.5)));
        let many: StatePush = serde_json::from_str(
            r#"{"states": [{"entity": "a", "state": "on"}, {"entity": "b", "state": null, "attributes": {"rssi": -60}}]}"#,
        )
        .unwrap();
        assert_eq!(many.into_states().len(), 2);
        assert!(serde_json::from_str::<StatePush>(r#"{"entity": "a", "oops": 1}"#).is_err());
        assert_eq!(
            slug_entity_id(EntityKind::Sensor, "Kitchen Sensor #2"),
            "sensor.kitchen_sensor_2"
        );
        assert!(agent_key("relay-1").is_ok() && agent_key("bad key").is_err());
        assert!(session_of("abc").as_str().ends_with("abc"));
    }
}
