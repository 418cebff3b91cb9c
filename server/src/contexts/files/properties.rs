//! WebDAV dead properties: what a client stores on a node with PROPPATCH (Windows' file times,
//! an editor's tags), kept by node id so they follow moves and renames, removed with the node.
//! Setting them needs the right to change the space and no one else's lock on the node; a patch
//! applies whole or not at all. Bounded per node, so a client cannot grow the table without end.

use crate::contexts::auth::Principal;

use super::{FilesError, FilesService, Space};

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Properties one node may carry.
pub const MAX_PROPERTIES: u64 = 200;
/// The largest value (raw XML) of one property.
pub const MAX_PROPERTY_BYTES: usize = 64 * 1024;

/// One dead property: `namespace` is empty for none; `xml` is the value as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub namespace: String,
    pub name: String,
    pub prefix: Option<String>,
    pub xml: Vec<u8>,
}

impl FilesService {
    /// The dead properties of the node at `path` in a space the caller may read.
    pub async fn properties(
        &self,
        by: &Principal,
        space: &Space,
        path: &str,
    ) -> Result<Vec<Property>> {
        let node = self.node_by_path(by, &space.id, path).await?;
        self.property_store().of(&node.id).await
    }

    /// Sets and removes dead properties of the node at `path`, all or none.
    pub async fn patch_properties(
        &self,
        by: &Principal,
        space: &Space,
        path: &str,
        patch: Vec<(bool, Property)>,
    ) -> Result<()> {
        let node = self.node_by_path(by, &space.id, path).await?;
        self.writable(by, &node.space_id).await?;
        self.ensure_unlocked(by, &node.id).await?;
        if let Some((_, big)) = patch.iter().find(|(_, p)| p.xml.len() > MAX_PROPERTY_BYTES) {
            return Err(FilesError::Invalid(format!(
                "property {} is over {MAX_PROPERTY_BYTES} bytes",
                big.name
            )));
        }
        let held = self.property_store().count(&node.id).await?;
        let sets = patch.iter().filter(|(set, _)| *set).count() as u64;
        if held + sets > MAX_PROPERTIES + (patch.len() as u64 - sets) {
            return Err(FilesError::Invalid(format!(
                "a node carries at most {MAX_PROPERTIES} properties"
            )));
        }
        self.property_store().apply(&node.id, &patch).await
    }
}
