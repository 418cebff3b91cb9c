//! The automation context (Ka'a): devices and their entities (sensors, binary sensors,
//! switches, lights, climate, covers, buttons) with their current state and every state
//! change, filled by MQTT in the Home Assistant discovery convention ([`discovery`],
//! [`mqtt`]) and controlled back over MQTT. Owns the `automation` schema. Publishes
//! `entity.state_changed` ([`events`]), pushed as `state_changed` on `home:{community_id}`.
//! Areas group devices and entities; per-person grants on entities and areas decide who sees
//! and controls what ([`access`]). Rules react to states, the clock, the sun and any event on
//! the bus ([`rules`]).

mod access;
pub mod agents;
mod compiler;
mod discovery;
mod error;
pub mod events;
pub mod graphql;
mod model;
pub mod mqtt;
pub mod rules;
mod service;
mod state;
mod statistics;
mod store;
mod template;
#[cfg(test)]
mod tests;

pub use access::{Access, Grant, GrantScope};
pub use error::AutomationError;
pub use model::{Command, Device, Entity, EntityKind, StateRecord};
pub use service::{AutomationService, Resolution, MAX_HISTORY};
