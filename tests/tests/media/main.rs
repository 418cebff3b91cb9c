//! Media end to end: the three upload paths, dedup, quota, bad content, renditions with Range
//! and ETag, access rules, albums, timeline, backup sync, and streaming with credits. Every
//! test image is generated here. Runs on both backends.

mod albums;
mod backup;
mod delivery;
mod object_store;
mod resumable;
mod uploads;
mod video;
