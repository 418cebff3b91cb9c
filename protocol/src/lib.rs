//! Tainá's wire protocol: the frames the server and its clients exchange.
//!
//! # Layout
//!
//! - [`phoenix`]: Phoenix Channels V2 — the [`phoenix::Message`] model, reserved
//!   event names, and the text (JSON array) and binary codecs for both the
//!   server and the client side.
//! - [`close`]: the WebSocket close codes the server sends, including the
//!   graphql-transport-ws ones.
//! - [`chunk`]: the MessagePack `{offset, data}` carried inside binary pushes
//!   for uploads and media.
//! - [`envelope`]: MessagePack control envelopes of the `taina.v1` mux socket.
//! - [`client`]: a small async Phoenix client over tokio-tungstenite, for
//!   integration tests and load tools.

#![forbid(unsafe_code)]

pub mod chunk;
pub mod client;
pub mod close;
pub mod envelope;
pub mod phoenix;
