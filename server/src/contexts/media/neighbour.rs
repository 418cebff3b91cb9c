//! Another context storing its bytes in media's blob store (files): [`BlobNeighbour`] is the
//! port media asks before it counts a community's quota or deletes a blob, so one quota and one
//! deduplicated store serve both without either reading the other's tables.

use async_trait::async_trait;

use super::MediaError;
use crate::ids::CommunityId;

#[async_trait]
pub trait BlobNeighbour: Send + Sync {
    /// Bytes the neighbour holds for `community_id` (counted against the same quota).
    async fn bytes_used(&self, community_id: &CommunityId) -> Result<u64, MediaError>;
    /// Whether the neighbour still refers to the blob with this SHA-256.
    async fn uses_blob(&self, hash: &str) -> Result<bool, MediaError>;
}
