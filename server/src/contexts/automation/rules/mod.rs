//! Rules (trigger → condition → action), stored per community and edited through GraphQL:
//! what a rule may say ([`definition`]), when clock triggers fire ([`schedule`]), what every node
//! keeps in memory and which rules an event fires ([`engine`]), one run ([`run`]), and the SQL
//! ([`store`]). The service's rule API and the loops that feed the engine are in
//! [`service`].

pub mod definition;
pub mod engine;
pub mod graphql;
pub mod model;
pub mod run;
pub mod schedule;
pub mod service;
pub mod store;

pub use model::{Rule, Run, RunOutcome, Settings};
