//! GraphQL: one schema merged from the contexts' parts, served at `POST /graphql` (GraphiQL at
//! `GET /graphql`) and over the socket (graphql-transport-ws).
//!
//! - `schema`: the merged [`Query`], [`Mutation`] and [`Subscription`], limits, and the data
//!   resolvers read (each service under its own type).
//! - `context`: [`Caller`], who is asking, and [`principal`].
//! - `documents`: [`Documents`], parsed documents kept by their text (parsed once, copied).
//! - `error`: [`GqlError`], errors with a stable `extensions.code` (the same codes as the REST
//!   API and socket replies; resolvers use `?` on context errors).
//! - `http`: `POST /graphql` (JSON and multipart uploads) and GraphiQL.
//! - `presence`: `userPresence`, which belongs to no context.

mod context;
mod documents;
mod error;
mod http;
mod presence;
mod schema;
mod typename_complexity;

pub use context::{principal, Caller};
pub use documents::Documents;
pub use error::GqlError;
pub use http::routes;
pub use presence::PresenceSubscription;
pub use schema::{build as build_schema, AppSchema, Mutation, Query, Subscription};
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH};
