//! Integration tests of the public API. Every image and container header is generated in code,
//! so there are no binary fixtures to trust or update.

mod exif;
mod filename;
mod mime;
mod render;
mod support;
mod tags;
mod video;
