//! Helpers shared by the fuzz targets.
//!
//! - [`json`]: comparing JSON after a round trip ([`same_json`], [`same_map`]).
//! - [`allocations`]: the largest single allocation a decoder makes
//!   ([`TrackingAllocator`], [`largest_allocation`], [`allocation_budget`]).

pub mod allocations;
pub mod json;

pub use allocations::{allocation_budget, largest_allocation, TrackingAllocator};
pub use json::{same_json, same_map};
