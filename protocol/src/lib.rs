//! Tainá's wire protocol: the frames the server and its clients exchange.
//!
//! # Layout
//!
//! - [`phoenix`]: Phoenix Channels V2 — the [`phoenix::Message`] model, reserved
//!   event names, and the text (JSON array) and binary codecs for both the
//!   server and the client side.
//! - [`close`]: the WebSocket close codes the server sends, including the
//!   graphql-transport-ws ones.
//! - [`error_code`]: [`ErrorCode`], the stable codes of HTTP, GraphQL and
//!   socket errors.
//! - [`chunk`]: the MessagePack `{offset, data}` carried inside binary pushes
//!   for uploads and media.
//! - [`envelope`]: MessagePack control envelopes of the `taina.v1` mux socket.
//! - [`graphql_ws`]: graphql-transport-ws client messages as the server reads them
//!   ([`graphql_ws::parse_client_message`]).
//! - [`http`]: HTTP request parts parsed from clients: a `Range` header
//!   ([`http::parse_range`]) and a GraphQL multipart `map` ([`http::parse_upload_map`]).
//! - [`client`]: small async clients over tokio-tungstenite, for integration
//!   tests and load tools, one per socket mode: [`client::PhoenixClient`]
//!   (Phoenix V2), [`client::GraphqlClient`] (graphql-transport-ws) and
//!   [`client::MuxClient`] (`taina.v1`: Phoenix, GraphQL and envelopes on one
//!   socket, demultiplexed by frame shape).

#![forbid(unsafe_code)]

pub mod chunk;
pub mod client;
pub mod close;
pub mod envelope;
pub mod error_code;
pub mod graphql_ws;
pub mod http;
mod msgpack;
pub mod phoenix;

pub use error_code::ErrorCode;
