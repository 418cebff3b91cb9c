//! The SQL of WebDAV dead properties (`files.properties`), next to [`super::properties`].

use sqlx::FromRow;

use crate::db::{query, query_as, query_scalar, Db};
use crate::ids::NodeId;

use super::properties::Property;
use super::FilesError;

type Result<T, E = FilesError> = std::result::Result<T, E>;

#[derive(FromRow)]
struct PropertyRow {
    namespace: String,
    name: String,
    prefix: Option<String>,
    xml: Option<Vec<u8>>,
}

#[derive(Clone)]
pub(super) struct PropertyStore {
    db: Db,
}

impl PropertyStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn of(&self, node_id: &NodeId) -> Result<Vec<Property>> {
        let rows = query_as::<PropertyRow>(
            "SELECT namespace, name, prefix, xml FROM files.properties WHERE node_id = $1 \
             ORDER BY namespace, name",
        )
        .bind(node_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Property {
                namespace: r.namespace,
                name: r.name,
                prefix: r.prefix,
                xml: r.xml.unwrap_or_default(),
            })
            .collect())
    }

    pub async fn count(&self, node_id: &NodeId) -> Result<u64> {
        let n: i64 = query_scalar("SELECT COUNT(*) FROM files.properties WHERE node_id = $1")
            .bind(node_id)
            .fetch_one(&self.db)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Applies one PROPPATCH in one transaction, in the client's order (a set then a remove
    /// of one name removes it), all of it or none (RFC 4918 §9.2). `true` sets, `false` removes.
    pub async fn apply(&self, node_id: &NodeId, patch: &[(bool, Property)]) -> Result<()> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        for (set, p) in patch {
            query(
                "DELETE FROM files.properties WHERE node_id = $1 AND namespace = $2 AND name = $3",
            )
            .bind(node_id)
            .bind(&p.namespace)
            .bind(&p.name)
            .execute(&mut tx)
            .await?;
            if *set {
                query(
                    "INSERT INTO files.properties (node_id, namespace, name, prefix, xml) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(node_id)
                .bind(&p.namespace)
                .bind(&p.name)
                .bind(&p.prefix)
                .bind(&p.xml)
                .execute(&mut tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
