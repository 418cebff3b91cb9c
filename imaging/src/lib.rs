//! Tainá media processing: the pure, server-independent part of the photo library.
//!
//! Everything here works on bytes or a file path and knows nothing about storage, users or
//! HTTP, so it can be tested with generated media and reused by workers.
//!
//! # Layout
//!
//! - [`mime`]: MIME type from magic bytes ([`sniff`]), [`is_video`], file [`extension`]s.
//! - [`filename`]: [`sanitize`] a client's file name for display.
//! - [`exif`](mod@exif): [`read_exif`] into [`ExifInfo`] (camera, lens, date, GPS, orientation).
//! - [`render`](mod@render): decode within [`DecodeLimits`] and encode JPEG [`Renditions`]
//!   ([`THUMB_SIZE`], [`LARGE_SIZE`]) with [`render`](render()) / [`render_poster`].
//! - [`video`]: [`probe`] and [`poster`] through the optional `ffprobe` / `ffmpeg`
//!   ([`tools_available`]), bounded by [`TOOL_TIMEOUT`].
//! - [`tags`]: [`auto_tags`] (year, month, camera, location, video, screenshot).
//! - [`error`]: [`ImagingError`], shared by rendering and video.
//! - `truncation` (private): the end-of-image check that turns a cut-off JPEG into an error.

#![forbid(unsafe_code)]

pub mod error;
pub mod exif;
pub mod filename;
pub mod mime;
pub mod render;
pub mod tags;
mod truncation;
pub mod video;

pub use crate::error::ImagingError;
pub use crate::exif::{read_exif, ExifInfo};
pub use crate::filename::{sanitize, MAX_NAME_BYTES};
pub use crate::mime::{extension, is_video, sniff, SNIFF_LEN};
pub use crate::render::{render, render_poster, DecodeLimits, Renditions, LARGE_SIZE, THUMB_SIZE};
pub use crate::tags::auto_tags;
pub use crate::video::{poster, probe, tools_available, VideoInfo, TOOL_TIMEOUT};
