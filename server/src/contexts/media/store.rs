//! All of media's SQL (tables in the `media` schema), each statement next to its one caller.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use crate::db::{is_unique_violation, query, query_as, query_scalar, Db};
use crate::ids::{AlbumId, CommunityId, PhotoId, UploadId, UserId};

use super::{Album, Cursor, JobCounts, MediaError, Photo, PhotoFilter, Upload};

type Result<T, E = MediaError> = std::result::Result<T, E>;

#[derive(FromRow)]
struct FileRow {
    id: PhotoId,
    community_id: CommunityId,
    user_id: UserId,
    filename: String,
    original_filename: String,
    content_hash: String,
    mime_type: String,
    file_size_bytes: i64,
    width: Option<i32>,
    height: Option<i32>,
    duration_ms: Option<i64>,
    taken_at: Option<DateTime<Utc>>,
    metadata: Json<serde_json::Value>,
    processing_status: String,
    processing_error: Option<String>,
    has_renditions: bool,
    created_at: DateTime<Utc>,
}

const FILE_COLUMNS: &str =
    "f.id, f.community_id, f.user_id, f.filename, f.original_filename, f.content_hash, \
     f.mime_type, f.file_size_bytes, f.width, f.height, f.duration_ms, f.taken_at, f.metadata, \
     f.processing_status, f.processing_error, f.has_renditions, f.created_at";

impl FileRow {
    fn into_photo(self, tags: Vec<String>) -> Photo {
        Photo {
            id: self.id,
            community_id: self.community_id,
            user_id: self.user_id,
            filename: self.filename,
            original_filename: self.original_filename,
            content_hash: self.content_hash,
            mime_type: self.mime_type,
            file_size_bytes: self.file_size_bytes as u64,
            width: self.width.map(|w| w as u32),
            height: self.height.map(|h| h as u32),
            duration_ms: self.duration_ms.map(|d| d as u64),
            taken_at: self.taken_at,
            metadata: self.metadata.0,
            processing_status: self.processing_status,
            processing_error: self.processing_error,
            has_renditions: self.has_renditions,
            tags,
            created_at: self.created_at,
        }
    }
}

#[derive(FromRow)]
struct AlbumRow {
    id: AlbumId,
    community_id: CommunityId,
    owner_id: UserId,
    name: String,
    slug: String,
    description: Option<String>,
    is_public: bool,
    cover_file_id: Option<PhotoId>,
    photo_count: i64,
    created_at: DateTime<Utc>,
}

impl From<AlbumRow> for Album {
    fn from(r: AlbumRow) -> Self {
        Album {
            id: r.id,
            community_id: r.community_id,
            owner_id: r.owner_id,
            name: r.name,
            slug: r.slug,
            description: r.description,
            is_public: r.is_public,
            cover_file_id: r.cover_file_id,
            photo_count: r.photo_count as u64,
            created_at: r.created_at,
        }
    }
}

const ALBUM_COLUMNS: &str =
    "a.id, a.community_id, a.owner_id, a.name, a.slug, a.description, a.is_public, \
     a.cover_file_id, \
     (SELECT COUNT(*) FROM media.album_files m WHERE m.album_id = a.id) AS photo_count, \
     a.created_at";

#[derive(FromRow)]
struct UploadRow {
    id: UploadId,
    user_id: UserId,
    community_id: CommunityId,
    filename: String,
    size_bytes: i64,
    sha256: String,
    received_bytes: i64,
    status: String,
    file_id: Option<PhotoId>,
    expires_at: DateTime<Utc>,
}

impl From<UploadRow> for Upload {
    fn from(r: UploadRow) -> Self {
        Upload {
            id: r.id,
            user_id: r.user_id,
            community_id: r.community_id,
            filename: r.filename,
            size_bytes: r.size_bytes as u64,
            sha256: r.sha256,
            received_bytes: r.received_bytes as u64,
            status: r.status,
            file_id: r.file_id,
            expires_at: r.expires_at,
        }
    }
}

/// A file about to be stored.
pub(super) struct NewFile<'a> {
    pub id: &'a PhotoId,
    pub community_id: &'a CommunityId,
    pub user_id: &'a UserId,
    pub filename: &'a str,
    pub original_filename: &'a str,
    pub file_path: &'a str,
    pub content_hash: &'a str,
    pub mime_type: &'a str,
    pub size: u64,
    pub now: DateTime<Utc>,
}

/// What [`MediaStore::insert_file`] did.
#[derive(Debug, PartialEq)]
pub(super) enum FileInsert {
    Inserted,
    /// The community already had the same content (stored concurrently).
    Duplicate,
    /// The file does not fit in the quota; nothing was stored.
    OverQuota,
}

/// What processing learned about a file.
pub(super) struct Processed<'a> {
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub taken_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
    pub has_renditions: bool,
    pub tags: &'a [String],
}

/// Values per `IN (…)` list: well under SQLite's and PostgreSQL's bind-parameter limits.
const IN_BATCH: usize = 500;

/// A community's usage in bytes as an SQL expression: stored files plus open uploads'
/// reservations, except the upload whose id is `$releasing` (`''` for none).
macro_rules! usage_sql {
    ($community:literal, $releasing:literal) => {
        concat!(
            "(COALESCE((SELECT SUM(file_size_bytes) FROM media.files WHERE community_id = ",
            $community,
            "), 0) + COALESCE((SELECT SUM(size_bytes) FROM media.uploads WHERE community_id = ",
            $community,
            " AND status = 'open' AND id <> ",
            $releasing,
            "), 0))"
        )
    };
}

/// On PostgreSQL, serialises the quota checks of one community until the transaction ends:
/// under READ COMMITTED two concurrent `INSERT … SELECT … WHERE usage + size <= quota`
/// would both see the usage without the other and both pass. SQLite takes its write lock at
/// the start of a writing statement, so there the statement alone is atomic.
const LOCK_QUOTA: &str = "SELECT pg_advisory_xact_lock(hashtextextended('media.quota:' || $1, 0))";

/// Quotas are `u64` bytes; the database compares `BIGINT`s.
fn clamp_i64(value: u64) -> i64 {
    value.min(i64::MAX as u64) as i64
}

/// `$first, $first+1, …` for `count` bind parameters.
fn numbered_params(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone)]
pub(super) struct MediaStore {
    db: Db,
}

impl MediaStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Tags of all `rows` in one query per batch (not one per photo).
    async fn with_tags(&self, rows: Vec<FileRow>) -> Result<Vec<Photo>> {
        let mut tags: std::collections::HashMap<PhotoId, Vec<String>> =
            std::collections::HashMap::new();
        for batch in rows.chunks(IN_BATCH) {
            let sql = format!(
                "SELECT file_id, tag FROM media.file_tags WHERE file_id IN ({}) ORDER BY tag",
                numbered_params(1, batch.len())
            );
            let mut select = query_as::<(PhotoId, String)>(AssertSqlSafe(sql));
            for row in batch {
                select = select.bind(&row.id);
            }
            for (file_id, tag) in select.fetch_all(&self.db).await? {
                tags.entry(file_id).or_default().push(tag);
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let own = tags.remove(&row.id).unwrap_or_default();
                row.into_photo(own)
            })
            .collect())
    }

    pub async fn file(&self, id: &PhotoId) -> Result<Option<Photo>> {
        let row: Option<FileRow> = query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM media.files f WHERE f.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(self.with_tags(row.into_iter().collect()).await?.pop())
    }

    pub async fn file_by_hash(
        &self,
        community_id: &CommunityId,
        hash: &str,
    ) -> Result<Option<Photo>> {
        let row: Option<FileRow> = query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM media.files f \
             WHERE f.community_id = $1 AND f.content_hash = $2"
        )))
        .bind(community_id)
        .bind(hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(self.with_tags(row.into_iter().collect()).await?.pop())
    }

    /// Which of `hashes` the community does not have.
    pub async fn missing_hashes(
        &self,
        community_id: &CommunityId,
        hashes: &[String],
    ) -> Result<Vec<String>> {
        let mut present = std::collections::HashSet::new();
        for batch in hashes.chunks(IN_BATCH) {
            let sql = format!(
                "SELECT content_hash FROM media.files \
                 WHERE community_id = $1 AND content_hash IN ({})",
                numbered_params(2, batch.len())
            );
            let mut select = query_scalar::<String>(AssertSqlSafe(sql)).bind(community_id);
            for hash in batch {
                select = select.bind(hash.as_str());
            }
            present.extend(select.fetch_all(&self.db).await?);
        }
        Ok(hashes
            .iter()
            .filter(|h| !present.contains(*h))
            .cloned()
            .collect())
    }

    /// Bytes the community stores plus bytes reserved by open uploads (but `releasing`'s).
    pub async fn usage(
        &self,
        community_id: &CommunityId,
        releasing: Option<&UploadId>,
    ) -> Result<u64> {
        let sql = concat!("SELECT CAST(", usage_sql!("$1", "$2"), " AS BIGINT)");
        let used: i64 = query_scalar(sql)
            .bind(community_id)
            .bind(releasing.map_or("", UploadId::as_str))
            .fetch_one(&self.db)
            .await?;
        Ok(used.max(0) as u64)
    }

    /// Stores the file row and its processing job together, if the community's usage (but
    /// the `releasing` upload's reservation) plus the file stays within `quota`.
    pub async fn insert_file(
        &self,
        file: &NewFile<'_>,
        quota: u64,
        releasing: Option<&UploadId>,
    ) -> Result<FileInsert> {
        let _turn = self.db.write_turn().await;
        // An async block, so that a unique violation reaches the match below (as `Duplicate`)
        // instead of leaving `insert_file` through a `?`.
        let result: Result<bool> = async {
            let mut tx = self.db.begin().await?;
            if tx.is_postgres() {
                query(LOCK_QUOTA)
                    .bind(file.community_id)
                    .execute(&mut tx)
                    .await?;
            }
            let inserted = query(concat!(
                "INSERT INTO media.files (id, community_id, user_id, filename, original_filename, \
                 file_path, content_hash, mime_type, file_size_bytes, metadata, processing_status, \
                 created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11 WHERE ",
                usage_sql!("$2", "$13"),
                " + $9 <= $12"
            ))
            .bind(file.id)
            .bind(file.community_id)
            .bind(file.user_id)
            .bind(file.filename)
            .bind(file.original_filename)
            .bind(file.file_path)
            .bind(file.content_hash)
            .bind(file.mime_type)
            .bind(file.size as i64)
            .bind(Json(serde_json::json!({})))
            .bind(file.now)
            .bind(clamp_i64(quota))
            .bind(releasing.map_or("", UploadId::as_str))
            .execute(&mut tx)
            .await?
                == 1;
            if inserted {
                query(
                    "INSERT INTO media.jobs (id, file_id, status, created_at, updated_at) \
                     VALUES ($1, $2, 'queued', $3, $3)",
                )
                .bind(nanoid::nanoid!())
                .bind(file.id)
                .bind(file.now)
                .execute(&mut tx)
                .await?;
            }
            tx.commit().await?;
            Ok(inserted)
        }
        .await;
        match result {
            Ok(true) => Ok(FileInsert::Inserted),
            Ok(false) => Ok(FileInsert::OverQuota),
            Err(MediaError::Database(e)) if is_unique_violation(&e) => Ok(FileInsert::Duplicate),
            Err(e) => Err(e),
        }
    }

    pub async fn record_processing(
        &self,
        file_id: &PhotoId,
        p: &Processed<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query(
            "UPDATE media.files SET processing_status = $2, processing_error = $3, width = $4, \
             height = $5, duration_ms = $6, taken_at = $7, metadata = $8, has_renditions = $9, \
             updated_at = $10 WHERE id = $1",
        )
        .bind(file_id)
        .bind(p.status)
        .bind(p.error)
        .bind(p.width.map(|w| w as i32))
        .bind(p.height.map(|h| h as i32))
        .bind(p.duration_ms.map(|d| d as i64))
        .bind(p.taken_at)
        .bind(Json(p.metadata.clone()))
        .bind(p.has_renditions)
        .bind(now)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM media.file_tags WHERE file_id = $1")
            .bind(file_id)
            .execute(&mut tx)
            .await?;
        for tag in p.tags {
            query("INSERT INTO media.file_tags (file_id, tag) VALUES ($1, $2)")
                .bind(file_id)
                .bind(tag)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_file(&self, file_id: &PhotoId) -> Result<bool> {
        let deleted = query("DELETE FROM media.files WHERE id = $1")
            .bind(file_id)
            .execute(&self.db)
            .await?;
        Ok(deleted > 0)
    }

    /// Other files still pointing at the same content (then the blob stays).
    pub async fn hash_in_use(&self, hash: &str) -> Result<bool> {
        let found: Option<i64> = query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM media.files WHERE content_hash = $1 LIMIT 1",
        )
        .bind(hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(found.is_some())
    }

    /// The timeline: newest `taken_at` (or upload time) first, after `cursor`.
    pub async fn photos(
        &self,
        community_id: &CommunityId,
        filter: &PhotoFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Photo>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM media.files f WHERE f.community_id = $1 \
               AND ($2 IS NULL OR COALESCE(f.taken_at, f.created_at) >= $2) \
               AND ($3 IS NULL OR COALESCE(f.taken_at, f.created_at) < $3) \
               AND ($4 IS NULL OR EXISTS (SELECT 1 FROM media.album_files m \
                                          WHERE m.file_id = f.id AND m.album_id = $4)) \
               AND ($5 IS NULL OR EXISTS (SELECT 1 FROM media.file_tags t \
                                          WHERE t.file_id = f.id AND t.tag = $5)) \
               AND ($6 IS NULL OR COALESCE(f.taken_at, f.created_at) < $6 \
                    OR (COALESCE(f.taken_at, f.created_at) = $6 AND f.id < $7)) \
             ORDER BY COALESCE(f.taken_at, f.created_at) DESC, f.id DESC LIMIT $8"
        );
        let rows: Vec<FileRow> = query_as(AssertSqlSafe(sql))
            .bind(community_id)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.album_id.as_ref())
            .bind(filter.tag.as_deref())
            .bind(cursor.map(|c| c.time))
            .bind(cursor.map(|c| &c.id))
            .bind(limit as i64)
            .fetch_all(&self.db)
            .await?;
        self.with_tags(rows).await
    }

    pub async fn insert_album(&self, album: &Album) -> Result<()> {
        let result = query(
            "INSERT INTO media.albums \
             (id, community_id, owner_id, name, slug, description, is_public, created_at, \
              updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&album.id)
        .bind(&album.community_id)
        .bind(&album.owner_id)
        .bind(&album.name)
        .bind(&album.slug)
        .bind(&album.description)
        .bind(album.is_public)
        .bind(album.created_at)
        .execute(&self.db)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(MediaError::SlugTaken),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn album(&self, id: &AlbumId) -> Result<Option<Album>> {
        let row: Option<AlbumRow> = query_as(AssertSqlSafe(format!(
            "SELECT {ALBUM_COLUMNS} FROM media.albums a WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn album_by_slug(
        &self,
        community_id: &CommunityId,
        slug: &str,
    ) -> Result<Option<Album>> {
        let row: Option<AlbumRow> = query_as(AssertSqlSafe(format!(
            "SELECT {ALBUM_COLUMNS} FROM media.albums a WHERE a.community_id = $1 AND a.slug = $2"
        )))
        .bind(community_id)
        .bind(slug)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The community's albums, newest first.
    pub async fn albums(&self, community_id: &CommunityId) -> Result<Vec<Album>> {
        let rows: Vec<AlbumRow> = query_as(AssertSqlSafe(format!(
            "SELECT {ALBUM_COLUMNS} FROM media.albums a WHERE a.community_id = $1 \
             ORDER BY a.created_at DESC, a.id"
        )))
        .bind(community_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// True when the file is in some public album.
    pub async fn in_public_album(&self, file_id: &PhotoId) -> Result<bool> {
        let found: Option<i64> = query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM media.album_files m \
             JOIN media.albums a ON a.id = m.album_id \
             WHERE m.file_id = $1 AND a.is_public = TRUE LIMIT 1",
        )
        .bind(file_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(found.is_some())
    }

    pub async fn add_to_album(
        &self,
        album_id: &AlbumId,
        file_id: &PhotoId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let result = query(
            "INSERT INTO media.album_files (album_id, file_id, added_at) VALUES ($1, $2, $3)",
        )
        .bind(album_id)
        .bind(file_id)
        .bind(now)
        .execute(&self.db)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_from_album(&self, album_id: &AlbumId, file_id: &PhotoId) -> Result<bool> {
        let removed = query("DELETE FROM media.album_files WHERE album_id = $1 AND file_id = $2")
            .bind(album_id)
            .bind(file_id)
            .execute(&self.db)
            .await?;
        Ok(removed > 0)
    }

    pub async fn set_cover(
        &self,
        album_id: &AlbumId,
        file_id: Option<&PhotoId>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        query("UPDATE media.albums SET cover_file_id = $2, updated_at = $3 WHERE id = $1")
            .bind(album_id)
            .bind(file_id)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    pub async fn delete_album(&self, album_id: &AlbumId) -> Result<()> {
        query("DELETE FROM media.albums WHERE id = $1")
            .bind(album_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// A community's photos, their bytes and its albums.
    pub async fn community_totals(&self, community_id: &CommunityId) -> Result<(u64, u64, u64)> {
        let (photos, bytes, albums): (i64, i64, i64) = query_as(
            "SELECT (SELECT COUNT(*) FROM media.files WHERE community_id = $1), \
                    (SELECT CAST(COALESCE(SUM(file_size_bytes), 0) AS BIGINT) FROM media.files \
                     WHERE community_id = $1), \
                    (SELECT COUNT(*) FROM media.albums WHERE community_id = $1)",
        )
        .bind(community_id)
        .fetch_one(&self.db)
        .await?;
        Ok((
            photos.max(0) as u64,
            bytes.max(0) as u64,
            albums.max(0) as u64,
        ))
    }

    /// Queued and running jobs, and those that failed since `since`.
    pub async fn job_counts(&self, since: DateTime<Utc>) -> Result<JobCounts> {
        let (queued, running, failed): (i64, i64, i64) = query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN status = 'failed' AND updated_at >= $1 THEN 1 ELSE 0 END), 0) \
             FROM media.jobs",
        )
        .bind(since)
        .fetch_one(&self.db)
        .await?;
        Ok(JobCounts {
            queued: queued.max(0) as u64,
            running: running.max(0) as u64,
            failed_since: failed.max(0) as u64,
        })
    }

    /// Failed jobs go back to the queue with their attempts reset; returns how many.
    pub async fn retry_failed_jobs(&self, now: DateTime<Utc>) -> Result<u64> {
        let retried = query(
            "UPDATE media.jobs SET status = 'queued', attempts = 0, last_error = NULL, \
             updated_at = $1 WHERE status = 'failed'",
        )
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(retried)
    }

    /// Running jobs last touched before `stale_before` start over (a worker that stopped or
    /// died left them); with `now` as the bound, every running job does.
    pub async fn requeue_running_jobs(
        &self,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let requeued = query(
            "UPDATE media.jobs SET status = 'queued', updated_at = $2 \
             WHERE status = 'running' AND updated_at <= $1",
        )
        .bind(stale_before)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(requeued)
    }

    /// A running job is still being worked on (its lease is renewed).
    pub async fn touch_job(&self, job_id: &str, now: DateTime<Utc>) -> Result<()> {
        query("UPDATE media.jobs SET updated_at = $2 WHERE id = $1 AND status = 'running'")
            .bind(job_id)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Claims the oldest queued job: (job id, file id). On PostgreSQL, workers on several
    /// nodes skip rows another is claiming (`FOR UPDATE SKIP LOCKED`) instead of queueing
    /// behind it; the `status = 'queued'` re-check makes a claim exclusive on both backends.
    pub async fn claim_job(&self, now: DateTime<Utc>) -> Result<Option<(String, PhotoId)>> {
        let sql = if self.db.backend() == "postgres" {
            "UPDATE media.jobs SET status = 'running', attempts = attempts + 1, updated_at = $1 \
             WHERE id = (SELECT id FROM media.jobs WHERE status = 'queued' \
                         ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
               AND status = 'queued' RETURNING id, file_id"
        } else {
            "UPDATE media.jobs SET status = 'running', attempts = attempts + 1, updated_at = $1 \
             WHERE id = (SELECT id FROM media.jobs WHERE status = 'queued' \
                         ORDER BY created_at, id LIMIT 1) \
               AND status = 'queued' RETURNING id, file_id"
        };
        let claimed = query_as(sql).bind(now).fetch_optional(&self.db).await?;
        Ok(claimed)
    }

    pub async fn finish_job(
        &self,
        job_id: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let status = if error.is_some() { "failed" } else { "done" };
        query("UPDATE media.jobs SET status = $2, last_error = $3, updated_at = $4 WHERE id = $1")
            .bind(job_id)
            .bind(status)
            .bind(error)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Opens the upload, reserving its size, if the community's usage plus the size stays
    /// within `quota`; false (nothing reserved) otherwise.
    pub async fn reserve_upload(
        &self,
        upload: &Upload,
        now: DateTime<Utc>,
        quota: u64,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        if tx.is_postgres() {
            query(LOCK_QUOTA)
                .bind(&upload.community_id)
                .execute(&mut tx)
                .await?;
        }
        let reserved = query(concat!(
            "INSERT INTO media.uploads (id, community_id, user_id, filename, size_bytes, sha256, \
             received_bytes, status, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, 0, 'open', $7, $8 WHERE ",
            usage_sql!("$2", "''"),
            " + $5 <= $9"
        ))
        .bind(&upload.id)
        .bind(&upload.community_id)
        .bind(&upload.user_id)
        .bind(&upload.filename)
        .bind(upload.size_bytes as i64)
        .bind(&upload.sha256)
        .bind(now)
        .bind(upload.expires_at)
        .bind(clamp_i64(quota))
        .execute(&mut tx)
        .await?
            == 1;
        tx.commit().await?;
        Ok(reserved)
    }

    pub async fn upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        let row: Option<UploadRow> = query_as(
            "SELECT id, user_id, community_id, filename, size_bytes, sha256, received_bytes, \
                    status, file_id, expires_at \
             FROM media.uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Moves `received_bytes` from `from` to `to`; false when another chunk got there first.
    pub async fn advance_upload(&self, id: &UploadId, from: u64, to: u64) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let moved = query(
            "UPDATE media.uploads SET received_bytes = $3 \
             WHERE id = $1 AND received_bytes = $2 AND status = 'open'",
        )
        .bind(id)
        .bind(from as i64)
        .bind(to as i64)
        .execute(&self.db)
        .await?;
        Ok(moved == 1)
    }

    pub async fn close_upload(
        &self,
        id: &UploadId,
        status: &str,
        file_id: Option<&PhotoId>,
    ) -> Result<()> {
        query("UPDATE media.uploads SET status = $2, file_id = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(file_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::db::testing::{insert_community, insert_user, test_db};

    /// A store and a user of a community: (store, community id, user id).
    async fn setup() -> (MediaStore, CommunityId, UserId) {
        let db = test_db().await;
        let community = insert_community(&db).await;
        let user = insert_user(&db, &community).await;
        (MediaStore::new(db), community, user)
    }

    fn upload(community_id: &CommunityId, user_id: &UserId, size: u64) -> Upload {
        Upload {
            id: UploadId::new(),
            user_id: user_id.clone(),
            community_id: community_id.clone(),
            filename: "photo.jpg".into(),
            size_bytes: size,
            sha256: "0".repeat(64),
            received_bytes: 0,
            status: "open".into(),
            file_id: None,
            expires_at: Utc::now() + Duration::hours(1),
        }
    }

    async fn reserve(store: &MediaStore, upload: &Upload, quota: u64) -> bool {
        store
            .reserve_upload(upload, Utc::now(), quota)
            .await
            .unwrap()
    }

    /// Stores a file of `size` bytes with content `hash`; returns its id and what happened.
    async fn insert(
        store: &MediaStore,
        (community_id, user_id): (&CommunityId, &UserId),
        hash: &str,
        size: u64,
        (quota, releasing): (u64, Option<&UploadId>),
    ) -> (PhotoId, FileInsert) {
        let id = PhotoId::new();
        let file = NewFile {
            id: &id,
            community_id,
            user_id,
            filename: "photo.jpg",
            original_filename: "photo.jpg",
            file_path: hash,
            content_hash: hash,
            mime_type: "image/jpeg",
            size,
            now: Utc::now(),
        };
        let done = store.insert_file(&file, quota, releasing).await.unwrap();
        (id, done)
    }

    fn hash(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    #[tokio::test]
    async fn a_reservation_that_does_not_fit_the_quota_reserves_nothing() {
        let (store, community, user) = setup().await;
        let first = upload(&community, &user, 60);
        assert!(reserve(&store, &first, 100).await);
        let too_big = upload(&community, &user, 50);
        assert!(!reserve(&store, &too_big, 100).await);
        assert!(store.upload(&too_big.id).await.unwrap().is_none());
        let exact = upload(&community, &user, 40);
        assert!(reserve(&store, &exact, 100).await);
        assert_eq!(store.usage(&community, None).await.unwrap(), 100);
        // Only open uploads hold their reservation.
        store.close_upload(&first.id, "failed", None).await.unwrap();
        assert_eq!(store.usage(&community, None).await.unwrap(), 40);
        // Another community's usage is its own; no quota is larger than BIGINT.
        let elsewhere = insert_community(&store.db).await;
        let theirs = upload(&elsewhere, &user, 90);
        assert!(reserve(&store, &theirs, 100).await);
        assert!(reserve(&store, &upload(&community, &user, 1 << 40), u64::MAX).await);
    }

    #[tokio::test]
    async fn concurrent_reservations_never_exceed_the_quota() {
        let (store, community, user) = setup().await;
        let attempts = (0..8).map(|_| {
            let (store, upload) = (store.clone(), upload(&community, &user, 30));
            tokio::spawn(async move { reserve(&store, &upload, 100).await })
        });
        let mut reserved = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            reserved += attempt.await.unwrap() as u64;
        }
        assert_eq!(reserved, 3);
        assert_eq!(store.usage(&community, None).await.unwrap(), 90);
    }

    #[tokio::test]
    async fn a_file_counts_open_reservations_but_the_one_it_replaces() {
        let (store, community, user) = setup().await;
        let who = (&community, &user);
        let reserved = upload(&community, &user, 60);
        assert!(reserve(&store, &reserved, 100).await);
        let (id, done) = insert(&store, who, &hash(1), 60, (100, None)).await;
        assert_eq!(done, FileInsert::OverQuota);
        assert!(store.file(&id).await.unwrap().is_none());
        assert!(store.claim_job(Utc::now()).await.unwrap().is_none());

        let (id, done) = insert(&store, who, &hash(1), 60, (100, Some(&reserved.id))).await;
        assert_eq!(done, FileInsert::Inserted);
        // The file and its processing job, together.
        let (_, job_file) = store.claim_job(Utc::now()).await.unwrap().unwrap();
        assert_eq!(job_file, id);
        assert_eq!(
            store.usage(&community, Some(&reserved.id)).await.unwrap(),
            60
        );
        assert_eq!(store.usage(&community, None).await.unwrap(), 120);
        store
            .close_upload(&reserved.id, "done", Some(&id))
            .await
            .unwrap();
        assert_eq!(store.usage(&community, None).await.unwrap(), 60);
    }

    #[tokio::test]
    async fn content_is_deduplicated_per_community() {
        let (store, community, user) = setup().await;
        let elsewhere = insert_community(&store.db).await;
        let stranger = insert_user(&store.db, &elsewhere).await;
        let (ours, done) = insert(&store, (&community, &user), &hash(7), 10, (100, None)).await;
        assert_eq!(done, FileInsert::Inserted);
        let found = store.file_by_hash(&community, &hash(7)).await.unwrap();
        assert_eq!(found.map(|p| p.id), Some(ours.clone()));
        assert!(store
            .file_by_hash(&elsewhere, &hash(7))
            .await
            .unwrap()
            .is_none());
        // The same content again (a concurrent upload that passed the service's look-up).
        let (again, done) = insert(&store, (&community, &user), &hash(7), 10, (100, None)).await;
        assert_eq!(done, FileInsert::Duplicate);
        assert!(store.file(&again).await.unwrap().is_none());
        let wanted = [hash(7), hash(8)];
        let missing = store.missing_hashes(&community, &wanted).await.unwrap();
        assert_eq!(missing, [hash(8)]);
        let missing = store.missing_hashes(&elsewhere, &wanted).await.unwrap();
        assert_eq!(missing, wanted);

        // The same bytes in another community are that community's own file (one blob).
        let theirs = (&elsewhere, &stranger);
        let (their_id, done) = insert(&store, theirs, &hash(7), 10, (100, None)).await;
        assert_eq!(done, FileInsert::Inserted);
        assert!(store.delete_file(&ours).await.unwrap());
        assert!(store.hash_in_use(&hash(7)).await.unwrap());
        assert!(store.delete_file(&their_id).await.unwrap());
        assert!(!store.hash_in_use(&hash(7)).await.unwrap());
    }
}
