//! Bounded contexts. Each owns its tables and exposes a small service; contexts talk to each
//! other only through those services and through events on the bus.

pub mod auth;
pub mod automation;
pub mod chat;
pub mod files;
pub mod media;
pub mod monitoring;
pub mod streaming;
