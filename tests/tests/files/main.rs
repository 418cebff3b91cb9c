//! Files (Ybira) end to end: the `files:{space_id}` change feed with recovery, WebDAV with app
//! passwords and locks shared with the apps, and HTTP downloads and uploads. Runs on both
//! backends.

mod feed;
mod support;
mod webdav;
