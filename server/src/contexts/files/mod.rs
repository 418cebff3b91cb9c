//! The files context (Ybira): spaces (one personal per user, shared ones per community), a
//! folder tree with names unique per folder, file versions over media's content-addressed blob
//! store (one dedup, one quota with photos), the trash, the change journal per space and
//! WebDAV app passwords, shares (with a user, the community, or a public link: [`share`]) and
//! locks (WebDAV's and apps'). Owns the `files` schema. Every change is a journal row whose cursor,
//! with the space's `epoch`, is the recovery position of the `files:{space_id}` topic; it is
//! published as `file.changed` ([`events`]).

mod app_password;
pub mod dav;
mod error;
pub mod events;
pub mod graphql;
pub mod http;
mod lock_store;
pub mod locks;
mod model;
mod names;
mod neighbour;
mod placement;
pub mod properties;
mod property_store;
pub mod public;
mod resumable;
mod service;
mod share;
#[cfg(test)]
mod share_tests;
mod shared;
mod store;
#[cfg(test)]
mod tests;
pub mod tus;
mod upload_store;
mod zip;

pub use error::FilesError;
pub use model::{
    AppPassword, Change, ChangeAction, ChangesPage, Lock, LockKind, Node, NodeKind, Space,
    SpaceKind, TrashItem, Version, Written,
};
pub use names::{conflict_name, name_key, validate_name, MAX_NAME_BYTES};
pub use service::{sort_key, FilesService, OpenLink, MAX_CHANGES_PAGE, MAX_LIST_PAGE};
pub use share::{
    Access, NewShare, NewShareTarget, Rights, Scope, Share, SharePermission, ShareTarget,
};
pub use shared::SharedFiles;
