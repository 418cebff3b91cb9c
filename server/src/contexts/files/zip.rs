//! A folder as a zip stream: its live files, read as the caller (so only what they may read),
//! written entry by entry into a pipe the HTTP body drains, never the whole archive in memory
//! or on disk. Entries are stored, not deflated: photos and videos, most of what a community
//! keeps, do not compress, and the server's two cores are better spent elsewhere. Empty folders
//! are entries too, so the archive has the tree's shape.

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipDateTimeBuilder, ZipEntryBuilder};
use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};
use futures_util::io::AsyncWriteExt;
use futures_util::{Stream, StreamExt};
use tokio::io::DuplexStream;
use tokio_util::io::ReaderStream;

use crate::contexts::auth::Principal;
use crate::ids::NodeId;

use super::{sort_key, FilesError, FilesService, Node, MAX_LIST_PAGE};

type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Bytes buffered between the writer task and the HTTP body.
const PIPE_BYTES: usize = 256 * 1024;

/// What goes into the archive: `(path inside it, node)`, folders before what they hold.
async fn entries(files: &FilesService, folder: &Node) -> Result<Vec<(String, Node)>> {
    let mut out = Vec::new();
    let mut pending = vec![(String::new(), folder.clone())];
    while let Some((prefix, parent)) = pending.pop() {
        let mut after: Option<String> = None;
        loop {
            let rows = files
                .store()
                .children(&parent.id, after.as_deref(), MAX_LIST_PAGE)
                .await?;
            let full = rows.len() as u32 == MAX_LIST_PAGE;
            for row in rows {
                let path = format!("{}/{}", parent.path.trim_end_matches('/'), row.name);
                let child = row.into_node(path);
                after = Some(sort_key(&child));
                let inside = format!("{prefix}{}", child.name);
                if child.is_folder() {
                    pending.push((format!("{inside}/"), child.clone()));
                    out.push((format!("{inside}/"), child));
                } else {
                    out.push((inside, child));
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(out)
}

impl FilesService {
    /// A folder the caller may read, as a zip byte stream, with the archive's file name.
    pub async fn zip_folder(
        &self,
        by: &Principal,
        folder_id: &NodeId,
    ) -> Result<(String, impl Stream<Item = std::io::Result<Bytes>>)> {
        let folder = self.node(by, folder_id).await?;
        if !folder.is_folder() {
            return Err(FilesError::WrongKind("folder"));
        }
        let list = entries(self, &folder).await?;
        let name = if folder.name.is_empty() {
            "files.zip".to_string()
        } else {
            format!("{}.zip", folder.name)
        };
        let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
        let files = self.clone();
        let by = by.clone();
        tokio::spawn(async move {
            if let Err(error) = write(&files, &by, list, writer).await {
                // The client sees a truncated archive (the connection ends without the
                // central directory), which every unzip tool reports as damaged.
                tracing::warn!(%error, "a folder zip stopped early");
            }
        });
        Ok((name, ReaderStream::new(reader)))
    }
}

/// A zip entry's time (MS-DOS: local time without a zone, 2-second steps; UTC here).
fn zip_time(at: DateTime<Utc>) -> ZipDateTime {
    ZipDateTimeBuilder::new()
        .year(at.year())
        .month(at.month())
        .day(at.day())
        .hour(at.hour())
        .minute(at.minute())
        .second(at.second())
        .build()
}

async fn write(
    files: &FilesService,
    by: &Principal,
    list: Vec<(String, Node)>,
    pipe: DuplexStream,
) -> std::result::Result<(), String> {
    let mut zip = ZipFileWriter::with_tokio(pipe);
    for (path, node) in list {
        let entry = ZipEntryBuilder::new(path.into(), Compression::Stored)
            .last_modification_date(zip_time(node.modified_at));
        if node.is_folder() {
            zip.write_entry_whole(entry, &[])
                .await
                .map_err(|e| e.to_string())?;
            continue;
        }
        let mut read = match files.read(by, &node.id, None, None).await {
            Ok(read) => read,
            // Deleted or moved away since the listing: left out.
            Err(FilesError::NotFound) => continue,
            Err(e) => return Err(e.to_string()),
        };
        let mut out = zip
            .write_entry_stream(entry)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(chunk) = read.stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        out.close().await.map_err(|e| e.to_string())?;
    }
    zip.close().await.map_err(|e| e.to_string())?;
    Ok(())
}
