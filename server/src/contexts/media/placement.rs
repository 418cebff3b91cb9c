//! Another context that takes a finished socket upload's bytes (files: a file in a space, not a
//! photo). Media keeps the transfer — chunks, offsets, the quota reservation, the SHA-256 check
//! — and asks the [`UploadPlacement`] port, once every byte is in, whether the upload was
//! opened for it; only if not does it become a photo.

use async_trait::async_trait;

use super::{Ingested, MediaError, Photo, Upload};
use crate::contexts::auth::Principal;

/// What a finished upload became.
#[derive(Debug)]
pub enum Finished {
    Photo(Box<Photo>),
    /// Placed by the neighbour; its description of the result (files: `{node, version,
    /// created, conflict}`), passed on to the client as it is.
    Placed(serde_json::Value),
}

/// The neighbour's answer.
pub enum Placement {
    Placed(serde_json::Value),
    /// Not one of the neighbour's uploads: the bytes come back untouched.
    NotMine(Ingested),
}

#[async_trait]
pub trait UploadPlacement: Send + Sync {
    /// Places the verified bytes of `upload` if it was opened for the neighbour.
    async fn place(
        &self,
        by: &Principal,
        upload: &Upload,
        ingested: Ingested,
    ) -> Result<Placement, MediaError>;
}
