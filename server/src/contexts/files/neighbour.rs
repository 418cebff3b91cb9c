//! Files as media's [`BlobNeighbour`]: media counts the bytes files hold against the same
//! quota and keeps a blob while a file version still uses it.

use async_trait::async_trait;

use super::store::FilesStore;
use super::FilesError;
use crate::contexts::media::{BlobNeighbour, MediaError};
use crate::ids::CommunityId;

pub(super) struct FilesBlobs(pub FilesStore);

fn to_media(e: FilesError) -> MediaError {
    match e {
        FilesError::Database(e) => MediaError::Database(e),
        other => MediaError::Storage(other.to_string()),
    }
}

#[async_trait]
impl BlobNeighbour for FilesBlobs {
    async fn bytes_used(&self, community_id: &CommunityId) -> Result<u64, MediaError> {
        self.0.bytes_used(community_id).await.map_err(to_media)
    }

    async fn uses_blob(&self, hash: &str) -> Result<bool, MediaError> {
        self.0.uses_blob(hash).await.map_err(to_media)
    }
}
