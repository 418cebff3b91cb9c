//! # Nhaman, Tainá's admin panel: the views
//!
//! Every view is a pure function from a view model (plain data in [`model`], built by the
//! server) to HTML: no database, no server types, no I/O, so each can be tested by rendering
//! it. Pages render whole on first load; the same functions render the live regions a page's
//! socket (`/admin/live`) pushes afterwards, each carrying a stable `id` and
//! `hx-swap-oob="true"` so htmx 4's `hx-ws` swaps it in place (see [`region`]).
//!
//! - [`model`]: the view models.
//! - [`pages`]: one module per page (sign-in, overview, people, activity, alerts,
//!   maintenance) plus the refusal page.
//! - [`assets`]: htmx 4.0.1 and its WebSocket extension (pinned by `assets/package-lock.json`,
//!   embedded at build time), the panel's stylesheet, and GraphiQL with React for
//!   `GET /graphql`, served under `/admin/assets/`.
#![forbid(unsafe_code)]

pub mod assets;
mod format;
mod layout;
pub mod model;
pub mod pages;
mod region;
mod sparkline;

pub use format::{bytes, duration};
pub use maud::Markup;
pub use region::{region, Region, Rendering};
