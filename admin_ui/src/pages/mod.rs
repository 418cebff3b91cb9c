//! One module per page. Each has `page(shell, model)` (the whole document) and, when it has
//! live parts, `regions(model, rendering)` (the parts the live socket pushes); the page renders
//! its regions through the same function, so a push is exactly what a reload would show.

pub mod activity;
pub mod alerts;
pub mod confirm;
pub mod maintenance;
pub mod overview;
pub mod people;
pub mod refusal;
pub mod reset;
pub mod sign_in;

use maud::Markup;

use crate::model::Flash;
use crate::Region;

pub use crate::layout::{flash_push, live_status};

/// The HTML of `#flash` pushed out of band, as an htmx action's answer.
pub fn flash(flash: &Flash) -> Markup {
    flash_push(flash)
}

/// Concatenates regions into one pushed frame.
pub fn frame(regions: &[Region]) -> String {
    regions.iter().map(|region| region.html.as_str()).collect()
}
