//! The streaming context (Araci): library roots per community scanned into movies, shows →
//! seasons → episodes, albums → tracks and videos ([`scan`], with ffprobe and a filesystem
//! watcher), playback decided per device (direct play, remux or HLS transcoded on demand, with
//! subtitles as WebVTT: [`playback`]), and watch progress per user pushed to every device
//! ([`watch`]). Owns the `streaming` schema, its artwork and its transcode cache under
//! `<data_dir>/streaming/`. Publishes `library.changed` and `watch.progress` ([`events`]).

mod artwork;
mod cache;
mod error;
pub mod events;
pub mod graphql;
mod hls;
pub mod http;
mod made_once;
mod model;
mod naming;
pub mod playback;
pub mod probe;
pub mod profile;
mod scan;
mod scanning;
mod service;
mod store;
#[cfg(test)]
mod tests;
mod tools;
mod urls;
mod variants;
mod walk;
pub mod watch;

pub use error::StreamingError;
pub use model::{
    HistoryEntry, Item, ItemFilter, ItemKind, ItemSort, ItemsPage, Library, LibraryKind,
    PlaybackState, Progress, Sidecar, Subtitle, SubtitleSource,
};
pub use service::{StreamingService, Viewer, MAX_PAGE};
