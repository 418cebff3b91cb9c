//! Files (Ybira) end to end: the `files:{space_id}` change feed with recovery, WebDAV with app
//! passwords and locks shared with the apps, and HTTP downloads (Range, ETag, folders as zip streams). Runs on both
//! backends.

mod feed;
mod http;
mod support;
mod webdav;
