//! Streaming (Araci) end to end: libraries added and scanned through GraphQL with progress
//! pushed on `libraryChanged`, playback decisions, direct play with Range, HLS playlists whose
//! segments decode, a seek to a late segment, subtitles as WebVTT, signed URLs and their
//! refusals, the `item:` socket stream, and watch progress pushed to a user's other device.
//! Media files are generated here by ffmpeg. Runs on both backends.

mod http;
mod library;
mod support;
mod watch;
