//! The connection layer end to end over raw TCP: the per-address cap, the global cap, the
//! header-read and keep-alive idle timeouts, WebSocket upgrades under both caps, shutdown
//! with such connections open, and TLS on the same listener. Clients pick their source
//! address (127.0.0.x) so that one address can be flooded while another is checked.

mod address_cap;
mod global_cap;
mod shutdown;
mod timeouts;
mod tls;
