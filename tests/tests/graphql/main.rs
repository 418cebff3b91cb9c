//! GraphQL over HTTP and over the socket (graphql-transport-ws and the taina.v1 mux), with raw
//! frames so every close code of the protocol is checked. Runs on both backends.

mod mux;
mod over_http;
mod subscriptions;
mod transport_ws;
