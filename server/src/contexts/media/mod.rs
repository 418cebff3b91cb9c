//! The media context (Jaci photos): content-addressed storage, the processing queue (EXIF,
//! thumbnails, video posters, automatic tags), the timeline, albums, backup sync and resumable
//! uploads. Owns the `media` schema. Publishes `photo.uploaded`, `photo.deleted`,
//! `album.created` and `media.backup.completed` ([`events`]).

mod blob;
mod error;
pub mod events;
pub mod graphql;
pub mod http;
mod ingest;
mod jobs;
mod leftovers;
mod model;
mod neighbour;
mod placement;
mod service;
mod shared;
mod store;

pub use blob::{read_file, BlobRead};
pub use error::MediaError;
pub use ingest::{Budget, Ingest, Ingested, Quota};
pub use model::{Album, Cursor, JobCounts, Photo, PhotoFilter, Rendition, Upload};
pub use neighbour::BlobNeighbour;
pub use placement::{Finished, Placement, UploadPlacement};
pub use service::{ChunkOutcome, MediaService};
pub use shared::SharedPhotos;
