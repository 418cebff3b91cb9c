//! All of streaming's SQL (tables in the `streaming` schema), each statement next to its one
//! caller.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{
    HistoryEntry, Item, ItemFilter, ItemKind, ItemSort, Library, LibraryKind, Progress, Sidecar,
    StreamingError,
};
use crate::db::{contains_pattern, is_unique_violation, query, query_as, query_scalar, Db};
use crate::ids::{CommunityId, ItemId, LibraryId, UserId};

type Result<T, E = StreamingError> = std::result::Result<T, E>;

#[derive(FromRow)]
struct LibraryRow {
    id: LibraryId,
    community_id: CommunityId,
    name: String,
    path: String,
    kind: String,
    created_at: DateTime<Utc>,
    scanned_at: Option<DateTime<Utc>>,
}

impl LibraryRow {
    fn into_library(self) -> Library {
        Library {
            id: self.id,
            community_id: self.community_id,
            name: self.name,
            path: self.path,
            kind: LibraryKind::parse(&self.kind).unwrap_or(LibraryKind::Videos),
            created_at: self.created_at,
            scanned_at: self.scanned_at,
        }
    }
}

const LIBRARY_COLUMNS: &str = "id, community_id, name, path, kind, created_at, scanned_at";

#[derive(FromRow)]
struct ItemRow {
    id: ItemId,
    library_id: LibraryId,
    parent_id: Option<ItemId>,
    kind: String,
    title: String,
    year: Option<i32>,
    overview: Option<String>,
    season_number: Option<i32>,
    episode_number: Option<i32>,
    episode_end: Option<i32>,
    disc_number: Option<i32>,
    track_number: Option<i32>,
    artist: Option<String>,
    path: Option<String>,
    size_bytes: Option<i64>,
    duration_ms: Option<i64>,
    container: Option<String>,
    probe: Option<String>,
    sidecars: Option<String>,
    has_poster: i32,
    strip_interval_ms: Option<i64>,
    missing_since: Option<DateTime<Utc>>,
    added_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn number(value: Option<i32>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok())
}

impl ItemRow {
    fn into_item(self) -> Item {
        Item {
            id: self.id,
            library_id: self.library_id,
            parent_id: self.parent_id,
            kind: ItemKind::parse(&self.kind).unwrap_or(ItemKind::Video),
            title: self.title,
            year: self.year,
            overview: self.overview,
            season_number: number(self.season_number),
            episode_number: number(self.episode_number),
            episode_end: number(self.episode_end),
            disc_number: number(self.disc_number),
            track_number: number(self.track_number),
            artist: self.artist,
            path: self.path,
            size_bytes: self.size_bytes.map(|s| s.max(0) as u64),
            duration_ms: self.duration_ms,
            container: self.container,
            probe: self.probe.and_then(|p| serde_json::from_str(&p).ok()),
            sidecars: self
                .sidecars
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            has_poster: self.has_poster != 0,
            strip_interval_ms: self.strip_interval_ms,
            missing_since: self.missing_since,
            added_at: self.added_at,
            updated_at: self.updated_at,
        }
    }
}

const ITEM_COLUMNS: &str = "i.id, i.library_id, i.parent_id, i.kind, i.title, i.year, i.overview, \
     i.season_number, i.episode_number, i.episode_end, i.disc_number, i.track_number, i.artist, \
     i.path, i.size_bytes, i.duration_ms, i.container, i.probe, i.sidecars, i.has_poster, \
     i.strip_interval_ms, i.missing_since, i.added_at, i.updated_at";

/// What a scan knows of a file it stored before.
#[derive(FromRow)]
pub(super) struct KnownFile {
    pub id: ItemId,
    pub path: String,
    pub size_bytes: Option<i64>,
    pub mtime_ms: Option<i64>,
    pub missing: i32,
    pub sidecars: Option<String>,
}

/// A group item (show, season, album) a scan files items under.
pub(super) struct NewGroup<'a> {
    pub library_id: &'a LibraryId,
    pub parent_id: Option<&'a ItemId>,
    pub kind: ItemKind,
    pub group_key: &'a str,
    pub title: &'a str,
    pub year: Option<i32>,
    pub season_number: Option<u32>,
    pub artist: Option<&'a str>,
}

/// A media file's row, new or rescanned.
pub(super) struct FileRow<'a> {
    pub library_id: &'a LibraryId,
    pub parent_id: Option<&'a ItemId>,
    pub kind: ItemKind,
    pub title: &'a str,
    pub year: Option<i32>,
    pub overview: Option<&'a str>,
    pub season_number: Option<u32>,
    pub episode_number: Option<u32>,
    pub episode_end: Option<u32>,
    pub disc_number: Option<u32>,
    pub track_number: Option<u32>,
    pub artist: Option<&'a str>,
    pub path: &'a str,
    pub size_bytes: u64,
    pub mtime_ms: i64,
    pub duration_ms: Option<i64>,
    pub container: Option<&'a str>,
    pub probe: Option<&'a str>,
    pub sidecars: &'a str,
}

/// The key titles sort and are searched by: lower case, without a leading article.
pub fn sort_title(title: &str) -> String {
    let lower = title.trim().to_lowercase();
    for article in ["the ", "a ", "an ", "o ", "os ", "as "] {
        if let Some(rest) = lower.strip_prefix(article) {
            if !rest.trim().is_empty() {
                return rest.trim().to_string();
            }
        }
    }
    lower
}

fn opt_i32(value: Option<u32>) -> Option<i32> {
    value.and_then(|v| i32::try_from(v).ok())
}

#[derive(Clone)]
pub(super) struct StreamingStore {
    db: Db,
}

impl StreamingStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    // --- libraries ---

    pub async fn insert_library(&self, library: &Library) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO streaming.libraries (id, community_id, name, path, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&library.id)
        .bind(&library.community_id)
        .bind(&library.name)
        .bind(&library.path)
        .bind(library.kind.as_str())
        .bind(library.created_at)
        .execute(&self.db)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StreamingError::LibraryExists
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    pub async fn library(&self, id: &LibraryId) -> Result<Option<Library>> {
        let sql = format!("SELECT {LIBRARY_COLUMNS} FROM streaming.libraries WHERE id = $1");
        let row = query_as::<LibraryRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(LibraryRow::into_library))
    }

    pub async fn libraries(&self, community_id: &CommunityId) -> Result<Vec<Library>> {
        let sql = format!(
            "SELECT {LIBRARY_COLUMNS} FROM streaming.libraries WHERE community_id = $1 \
             ORDER BY name, id"
        );
        let rows = query_as::<LibraryRow>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(LibraryRow::into_library).collect())
    }

    /// Every community's libraries (scanned and watched at start).
    pub async fn all_libraries(&self) -> Result<Vec<Library>> {
        let sql = format!("SELECT {LIBRARY_COLUMNS} FROM streaming.libraries ORDER BY id");
        let rows = query_as::<LibraryRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(LibraryRow::into_library).collect())
    }

    pub async fn delete_library(&self, id: &LibraryId) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let deleted = query("DELETE FROM streaming.libraries WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(deleted > 0)
    }

    pub async fn set_scanned(&self, id: &LibraryId, at: DateTime<Utc>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE streaming.libraries SET scanned_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    // --- what a scan reads and writes ---

    pub async fn known_files(&self, library_id: &LibraryId) -> Result<Vec<KnownFile>> {
        Ok(query_as::<KnownFile>(
            "SELECT id, path, size_bytes, mtime_ms, \
             CASE WHEN missing_since IS NULL THEN 0 ELSE 1 END AS missing, sidecars \
             FROM streaming.items WHERE library_id = $1 AND path IS NOT NULL",
        )
        .bind(library_id)
        .fetch_all(&self.db)
        .await?)
    }

    /// The group's id, made if it does not exist yet (found again by `group_key`).
    pub async fn group(&self, group: &NewGroup<'_>, now: DateTime<Utc>) -> Result<ItemId> {
        let find = || async {
            query_scalar::<ItemId>(
                "SELECT id FROM streaming.items WHERE library_id = $1 AND group_key = $2",
            )
            .bind(group.library_id)
            .bind(group.group_key)
            .fetch_optional(&self.db)
            .await
        };
        if let Some(id) = find().await? {
            return Ok(id);
        }
        let id = ItemId::new();
        let _turn = self.db.write_turn().await;
        let inserted = query(
            "INSERT INTO streaming.items (id, library_id, parent_id, kind, title, sort_title, \
             year, season_number, artist, group_key, added_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&id)
        .bind(group.library_id)
        .bind(group.parent_id)
        .bind(group.kind.as_str())
        .bind(group.title)
        .bind(sort_title(group.title))
        .bind(group.year)
        .bind(opt_i32(group.season_number))
        .bind(group.artist)
        .bind(group.group_key)
        .bind(now)
        .execute(&self.db)
        .await;
        match inserted {
            Ok(_) => Ok(id),
            // Another scan of the same library made it first.
            Err(e) if is_unique_violation(&e) => find().await?.ok_or(e.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a new or rescanned file. A rescanned file keeps its id (and so everyone's
    /// progress) and when it was added; the rest is read again, its artwork made anew.
    pub async fn save_file(
        &self,
        id: &ItemId,
        row: &FileRow<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        const READ_AGAIN: &[&str] = &[
            "parent_id",
            "kind",
            "title",
            "sort_title",
            "year",
            "overview",
            "season_number",
            "episode_number",
            "episode_end",
            "disc_number",
            "track_number",
            "artist",
            "size_bytes",
            "mtime_ms",
            "duration_ms",
            "container",
            "probe",
            "sidecars",
            "updated_at",
        ];
        let updates: Vec<String> = READ_AGAIN
            .iter()
            .map(|column| format!("{column} = excluded.{column}"))
            .collect();
        let sql = format!(
            "INSERT INTO streaming.items (id, library_id, parent_id, kind, title, sort_title, \
             year, overview, season_number, episode_number, episode_end, disc_number, \
             track_number, artist, path, size_bytes, mtime_ms, duration_ms, container, probe, \
             sidecars, added_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22) \
             ON CONFLICT (id) DO UPDATE SET {}, missing_since = NULL, has_poster = 0, \
             strip_interval_ms = NULL",
            updates.join(", ")
        );
        let _turn = self.db.write_turn().await;
        query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(row.library_id)
            .bind(row.parent_id)
            .bind(row.kind.as_str())
            .bind(row.title)
            .bind(sort_title(row.title))
            .bind(row.year)
            .bind(row.overview)
            .bind(opt_i32(row.season_number))
            .bind(opt_i32(row.episode_number))
            .bind(opt_i32(row.episode_end))
            .bind(opt_i32(row.disc_number))
            .bind(opt_i32(row.track_number))
            .bind(row.artist)
            .bind(row.path)
            .bind(row.size_bytes.min(i64::MAX as u64) as i64)
            .bind(row.mtime_ms)
            .bind(row.duration_ms)
            .bind(row.container)
            .bind(row.probe)
            .bind(row.sidecars)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// An unchanged file found again: back from missing, its sidecars as they are now.
    pub async fn refresh_file(
        &self,
        id: &ItemId,
        sidecars: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "UPDATE streaming.items SET missing_since = NULL, sidecars = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(sidecars)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn mark_missing(&self, id: &ItemId, now: DateTime<Utc>) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "UPDATE streaming.items SET missing_since = $2 WHERE id = $1 AND missing_since IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn set_artwork(
        &self,
        id: &ItemId,
        has_poster: bool,
        strip_interval_ms: Option<i64>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE streaming.items SET has_poster = $2, strip_interval_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(i32::from(has_poster))
            .bind(strip_interval_ms)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Deletes the library's missing files, then the shows, seasons and albums left empty.
    pub async fn remove_missing(&self, library_id: &LibraryId) -> Result<Vec<ItemId>> {
        let _turn = self.db.write_turn().await;
        let mut removed: Vec<ItemId> = query_scalar(
            "SELECT id FROM streaming.items WHERE library_id = $1 AND missing_since IS NOT NULL",
        )
        .bind(library_id)
        .fetch_all(&self.db)
        .await?;
        query("DELETE FROM streaming.items WHERE library_id = $1 AND missing_since IS NOT NULL")
            .bind(library_id)
            .execute(&self.db)
            .await?;
        // Seasons first, then the shows they emptied.
        for kind in ["season", "album", "show"] {
            let empty: Vec<ItemId> = query_scalar(
                "SELECT g.id FROM streaming.items g WHERE g.library_id = $1 AND g.kind = $2 \
                 AND NOT EXISTS (SELECT 1 FROM streaming.items c WHERE c.parent_id = g.id)",
            )
            .bind(library_id)
            .bind(kind)
            .fetch_all(&self.db)
            .await?;
            for id in &empty {
                query("DELETE FROM streaming.items WHERE id = $1")
                    .bind(id)
                    .execute(&self.db)
                    .await?;
            }
            removed.extend(empty);
        }
        Ok(removed)
    }

    // --- reading items ---

    /// The item and its library's community.
    pub async fn item(&self, id: &ItemId) -> Result<Option<(Item, CommunityId)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            item: ItemRow,
            community_id: CommunityId,
        }
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, l.community_id FROM streaming.items i \
             JOIN streaming.libraries l ON l.id = i.library_id WHERE i.id = $1"
        );
        let row = query_as::<Row>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|r| (r.item.into_item(), r.community_id)))
    }

    /// A page of a library's items; the total is of the whole filtered listing.
    pub async fn items(
        &self,
        library_id: &LibraryId,
        filter: &ItemFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Item>, u64)> {
        let mut conditions = vec!["i.library_id = $1".to_string()];
        match (&filter.parent_id, filter.kind, &filter.search) {
            (Some(_), ..) => conditions.push("i.parent_id = $2".into()),
            // A search or a kind looks through the whole library.
            (None, Some(_), _) | (None, None, Some(_)) => {}
            (None, None, None) => conditions.push("i.parent_id IS NULL".into()),
        }
        if filter.kind.is_some() {
            conditions.push("i.kind = $3".into());
        }
        if filter.search.is_some() {
            conditions.push(
                "(i.sort_title LIKE $4 ESCAPE '\\' OR LOWER(COALESCE(i.artist, '')) LIKE $4 ESCAPE '\\')"
                    .into(),
            );
        }
        if !filter.include_missing {
            conditions.push("i.missing_since IS NULL".into());
        }
        // PostgreSQL wants every bound parameter used: the unused ones are referenced harmlessly.
        for n in 2..=4 {
            let marker = format!("${n}");
            if !conditions.iter().any(|c| c.contains(&marker)) {
                conditions.push(format!("({marker} IS NULL OR {marker} IS NOT NULL)"));
            }
        }
        let order = match filter.sort {
            ItemSort::Title => "i.sort_title",
            ItemSort::Added => "i.added_at",
            ItemSort::Year => "COALESCE(i.year, 0)",
        };
        let direction = if filter.descending { "DESC" } else { "ASC" };
        // Children read in their natural order: seasons, episodes and tracks by number.
        let order = if filter.parent_id.is_some() && filter.sort == ItemSort::Title {
            format!(
                "COALESCE(i.season_number, 0) {direction}, COALESCE(i.disc_number, 0) {direction}, \
                 COALESCE(i.episode_number, i.track_number, 0) {direction}, i.sort_title {direction}"
            )
        } else {
            format!("{order} {direction}, i.id {direction}")
        };
        let condition = conditions.join(" AND ");
        let search = filter
            .search
            .as_ref()
            .map(|s| contains_pattern(&s.trim().to_lowercase()));
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM streaming.items i WHERE {condition} \
             ORDER BY {order} LIMIT $5 OFFSET $6"
        );
        let rows = query_as::<ItemRow>(sqlx::AssertSqlSafe(sql))
            .bind(library_id)
            .bind(&filter.parent_id)
            .bind(filter.kind.map(ItemKind::as_str))
            .bind(&search)
            .bind(i64::from(limit))
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.db)
            .await?;
        let count_sql =
            format!("SELECT CAST(COUNT(*) AS BIGINT) FROM streaming.items i WHERE {condition}");
        let total: i64 = query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(library_id)
            .bind(&filter.parent_id)
            .bind(filter.kind.map(ItemKind::as_str))
            .bind(&search)
            .fetch_one(&self.db)
            .await?;
        Ok((
            rows.into_iter().map(ItemRow::into_item).collect(),
            total.max(0) as u64,
        ))
    }

    /// The community's newest movies, episodes, videos and albums.
    pub async fn recently_added(
        &self,
        community_id: &CommunityId,
        limit: u32,
    ) -> Result<Vec<Item>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM streaming.items i \
             JOIN streaming.libraries l ON l.id = i.library_id \
             WHERE l.community_id = $1 AND i.missing_since IS NULL \
             AND i.kind IN ('movie', 'episode', 'video', 'album') \
             ORDER BY i.added_at DESC, i.id DESC LIMIT $2"
        );
        let rows = query_as::<ItemRow>(sqlx::AssertSqlSafe(sql))
            .bind(community_id)
            .bind(i64::from(limit))
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(ItemRow::into_item).collect())
    }

    /// Items the user started and did not finish, most recent first (music left out).
    pub async fn continue_watching(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        limit: u32,
    ) -> Result<Vec<(Item, Progress)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            item: ItemRow,
            #[sqlx(flatten)]
            progress: ProgressRow,
        }
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, {PROGRESS_COLUMNS} FROM streaming.progress p \
             JOIN streaming.items i ON i.id = p.item_id \
             JOIN streaming.libraries l ON l.id = i.library_id \
             WHERE p.user_id = $1 AND l.community_id = $2 AND p.played = 0 \
             AND p.position_ms > 0 AND i.missing_since IS NULL \
             AND i.kind IN ('movie', 'episode', 'video') \
             ORDER BY p.updated_at DESC LIMIT $3"
        );
        let rows = query_as::<Row>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(community_id)
            .bind(i64::from(limit))
            .fetch_all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.item.into_item(), r.progress.into_progress()))
            .collect())
    }

    /// Shows the user watched an episode of, most recently watched first.
    pub async fn shows_in_progress(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
    ) -> Result<Vec<ItemId>> {
        Ok(query_scalar::<ItemId>(
            "SELECT s.parent_id FROM streaming.progress p \
             JOIN streaming.items e ON e.id = p.item_id \
             JOIN streaming.items s ON s.id = e.parent_id \
             JOIN streaming.libraries l ON l.id = e.library_id \
             WHERE p.user_id = $1 AND l.community_id = $2 AND e.kind = 'episode' \
             AND (p.played = 1 OR p.position_ms > 0) AND s.parent_id IS NOT NULL \
             GROUP BY s.parent_id ORDER BY MAX(p.updated_at) DESC",
        )
        .bind(user_id)
        .bind(community_id)
        .fetch_all(&self.db)
        .await?)
    }

    /// A show's episodes in order, each with whether the user played it.
    pub async fn episodes_of_show(
        &self,
        show_id: &ItemId,
        user_id: &UserId,
    ) -> Result<Vec<(Item, bool)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            item: ItemRow,
            played: i32,
        }
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, COALESCE(p.played, 0) AS played FROM streaming.items i \
             JOIN streaming.items s ON s.id = i.parent_id \
             LEFT JOIN streaming.progress p ON p.item_id = i.id AND p.user_id = $2 \
             WHERE s.parent_id = $1 AND i.kind = 'episode' AND i.missing_since IS NULL \
             ORDER BY COALESCE(i.season_number, s.season_number, 0), \
             COALESCE(i.episode_number, 0), i.sort_title"
        );
        let rows = query_as::<Row>(sqlx::AssertSqlSafe(sql))
            .bind(show_id)
            .bind(user_id)
            .fetch_all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.item.into_item(), r.played != 0))
            .collect())
    }

    /// Playable items at or below `id` (the item itself when it is a file).
    pub async fn playable_below(&self, id: &ItemId) -> Result<Vec<ItemId>> {
        Ok(query_scalar(
            "SELECT i.id FROM streaming.items i \
             LEFT JOIN streaming.items p ON p.id = i.parent_id \
             WHERE i.path IS NOT NULL AND (i.id = $1 OR i.parent_id = $1 OR p.parent_id = $1)",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?)
    }

    // --- progress and history ---

    pub async fn progress(&self, user_id: &UserId, item_id: &ItemId) -> Result<Option<Progress>> {
        let sql = format!(
            "SELECT {PROGRESS_COLUMNS} FROM streaming.progress p \
             WHERE p.user_id = $1 AND p.item_id = $2"
        );
        let row = query_as::<ProgressRow>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(item_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(ProgressRow::into_progress))
    }

    pub async fn save_progress(&self, progress: &Progress) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO streaming.progress (user_id, item_id, position_ms, duration_ms, played, \
             play_count, device, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (user_id, item_id) DO UPDATE SET position_ms = excluded.position_ms, \
             duration_ms = excluded.duration_ms, played = excluded.played, \
             play_count = excluded.play_count, device = excluded.device, \
             updated_at = excluded.updated_at",
        )
        .bind(&progress.user_id)
        .bind(&progress.item_id)
        .bind(progress.position_ms)
        .bind(progress.duration_ms)
        .bind(i32::from(progress.played))
        .bind(progress.play_count.min(i32::MAX as u32) as i32)
        .bind(&progress.device)
        .bind(progress.updated_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn add_history(&self, progress: &Progress) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO streaming.history (id, user_id, item_id, position_ms, played, device, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(nanoid::nanoid!())
        .bind(&progress.user_id)
        .bind(&progress.item_id)
        .bind(progress.position_ms)
        .bind(i32::from(progress.played))
        .bind(&progress.device)
        .bind(progress.updated_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn history(
        &self,
        user_id: &UserId,
        community_id: &CommunityId,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        #[derive(FromRow)]
        struct Row {
            item_id: ItemId,
            position_ms: i64,
            played: i32,
            device: Option<String>,
            at: DateTime<Utc>,
        }
        let rows = query_as::<Row>(
            "SELECT h.item_id, h.position_ms, h.played, h.device, h.at FROM streaming.history h \
             JOIN streaming.items i ON i.id = h.item_id \
             JOIN streaming.libraries l ON l.id = i.library_id \
             WHERE h.user_id = $1 AND l.community_id = $2 ORDER BY h.at DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(community_id)
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| HistoryEntry {
                item_id: r.item_id,
                position_ms: r.position_ms,
                played: r.played != 0,
                device: r.device,
                at: r.at,
            })
            .collect())
    }
}

#[derive(FromRow)]
struct ProgressRow {
    p_user_id: UserId,
    p_item_id: ItemId,
    p_position_ms: i64,
    p_duration_ms: Option<i64>,
    p_played: i32,
    p_play_count: i32,
    p_device: Option<String>,
    p_updated_at: DateTime<Utc>,
}

const PROGRESS_COLUMNS: &str = "p.user_id AS p_user_id, p.item_id AS p_item_id, \
     p.position_ms AS p_position_ms, p.duration_ms AS p_duration_ms, p.played AS p_played, \
     p.play_count AS p_play_count, p.device AS p_device, p.updated_at AS p_updated_at";

impl ProgressRow {
    fn into_progress(self) -> Progress {
        Progress {
            user_id: self.p_user_id,
            item_id: self.p_item_id,
            position_ms: self.p_position_ms,
            duration_ms: self.p_duration_ms,
            played: self.p_played != 0,
            play_count: self.p_play_count.max(0) as u32,
            device: self.p_device,
            updated_at: self.p_updated_at,
        }
    }
}

/// Sidecars as stored.
pub fn sidecars_json(sidecars: &[Sidecar]) -> String {
    serde_json::to_string(sidecars).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_sort_without_their_article() {
        assert_eq!(sort_title("The Wire"), "wire");
        assert_eq!(sort_title("O Auto da Compadecida"), "auto da compadecida");
        assert_eq!(sort_title("A"), "a");
        assert_eq!(sort_title("Alien"), "alien");
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
