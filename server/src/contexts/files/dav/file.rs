//! WebDAV's view of a node: its metadata, and an open file (read by ranges from the blob
//! store, or written through an upload that becomes a version when complete).

use std::fmt;
use std::io::SeekFrom;
use std::time::SystemTime;

use bytes::{Buf, Bytes};
use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, FsResult};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::fs::{fs_error, Caller};
use crate::contexts::files::{FilesService, Node};
use crate::contexts::media::{Ingest, MediaError};

/// A node's metadata as WebDAV shows it; the ETag is the node's own (it changes when the node
/// or anything below it does).
#[derive(Clone, Debug)]
pub struct NodeMeta {
    pub size: u64,
    pub is_dir: bool,
    pub modified: SystemTime,
    pub created: SystemTime,
    pub etag: String,
}

impl NodeMeta {
    pub fn of(node: &Node) -> Self {
        NodeMeta {
            size: node.size,
            is_dir: node.is_folder(),
            modified: node.modified_at.into(),
            created: node.created_at.into(),
            etag: node.etag.clone(),
        }
    }
}

impl DavMetaData for NodeMeta {
    fn len(&self) -> u64 {
        self.size
    }

    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }

    fn created(&self) -> FsResult<SystemTime> {
        Ok(self.created)
    }

    fn is_dir(&self) -> bool {
        self.is_dir
    }

    fn etag(&self) -> Option<String> {
        Some(self.etag.clone())
    }
}

/// An open read of a blob (behind a mutex: the DAV file must be `Sync`).
type BlobStream = std::sync::Mutex<BoxStream<'static, Result<Bytes, MediaError>>>;

/// A file open for reading: bytes come from the blob store from the current position on.
pub struct ReadFile {
    pub files: FilesService,
    pub caller: Caller,
    pub node: Node,
    pub position: u64,
    /// The open read and the bytes of its last chunk not handed out yet; `None` after a seek.
    pub reading: Option<(BlobStream, Bytes)>,
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFile")
            .field("node", &self.node.id)
            .field("position", &self.position)
            .finish()
    }
}

impl DavFile for ReadFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(NodeMeta::of(&self.node));
        Box::pin(async move { Ok(meta) })
    }

    fn write_buf(&mut self, _buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        Box::pin(async { Err(FsError::Forbidden) })
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        Box::pin(async { Err(FsError::Forbidden) })
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        Box::pin(async move {
            if self.position >= self.node.size || count == 0 {
                return Ok(Bytes::new());
            }
            if self.reading.is_none() {
                let read = self
                    .files
                    .read(
                        &self.caller.principal,
                        &self.node.id,
                        self.node.version_id.as_ref(),
                        Some(self.position..self.node.size),
                    )
                    .await
                    .map_err(fs_error)?;
                self.reading = Some((std::sync::Mutex::new(read.stream), Bytes::new()));
            }
            let (stream, pending) = self.reading.as_mut().expect("opened above");
            if pending.is_empty() {
                let stream = stream.get_mut().unwrap_or_else(|e| e.into_inner());
                match stream.next().await {
                    Some(Ok(chunk)) => *pending = chunk,
                    Some(Err(_)) => return Err(FsError::GeneralFailure),
                    None => return Ok(Bytes::new()),
                }
            }
            let take = count.min(pending.len());
            let out = pending.split_to(take);
            self.position += take as u64;
            Ok(out)
        })
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        Box::pin(async move {
            let size = self.node.size as i64;
            let target = match pos {
                SeekFrom::Start(n) => n as i64,
                SeekFrom::End(n) => size + n,
                SeekFrom::Current(n) => self.position as i64 + n,
            };
            if target < 0 {
                return Err(FsError::GeneralFailure);
            }
            if target as u64 != self.position {
                self.position = target as u64;
                self.reading = None;
            }
            Ok(self.position)
        })
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A file open for writing: bytes stream into an upload (refused the moment they pass the
/// size limit or the quota), which becomes the file's new version when flushed complete.
pub struct WriteFile {
    pub files: FilesService,
    pub caller: Caller,
    pub path: String,
    /// `Content-Length`, when sent: fewer bytes at the end store nothing.
    pub expected: Option<u64>,
    pub written: u64,
    pub ingest: Option<std::sync::Mutex<Ingest>>,
    /// The node once stored.
    pub stored: Option<Node>,
}

impl fmt::Debug for WriteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteFile")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish()
    }
}

impl WriteFile {
    async fn write(&mut self, bytes: &[u8]) -> FsResult<()> {
        let Some(ingest) = self.ingest.as_mut() else {
            return Err(FsError::GeneralFailure);
        };
        let ingest = ingest.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = ingest.write(bytes).await {
            // Dropping the upload removes its partial file.
            self.ingest = None;
            return Err(fs_error(e.into()));
        }
        self.written += bytes.len() as u64;
        Ok(())
    }
}

impl DavFile for WriteFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        Box::pin(async move {
            let meta: Box<dyn DavMetaData> = match &self.stored {
                Some(node) => Box::new(NodeMeta::of(node)),
                None => {
                    let now = SystemTime::now();
                    Box::new(NodeMeta {
                        size: self.written,
                        is_dir: false,
                        modified: now,
                        created: now,
                        etag: String::new(),
                    })
                }
            };
            Ok(meta)
        })
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        Box::pin(async move {
            while buf.has_remaining() {
                let chunk = buf.copy_to_bytes(buf.chunk().len());
                self.write(&chunk).await?;
            }
            Ok(())
        })
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        Box::pin(async move { self.write(&buf).await })
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        Box::pin(async { Err(FsError::Forbidden) })
    }

    /// Only where the upload already is: partial writes (`Content-Range`) are not offered.
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        Box::pin(async move {
            match pos {
                SeekFrom::Start(n) if n == self.written => Ok(n),
                SeekFrom::Current(0) => Ok(self.written),
                _ => Err(FsError::NotImplemented),
            }
        })
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        Box::pin(async move {
            let Some(ingest) = self.ingest.take() else {
                return match self.stored {
                    Some(_) => Ok(()),
                    None => Err(FsError::GeneralFailure),
                };
            };
            if self.expected.is_some_and(|n| n != self.written) {
                // A cut upload: nothing is stored (the dropped ingest removes its file).
                return Err(FsError::GeneralFailure);
            }
            let ingest = ingest.into_inner().unwrap_or_else(|e| e.into_inner());
            let ingested = ingest.finish().await.map_err(|e| fs_error(e.into()))?;
            let written = self
                .files
                .store_upload(
                    &self.caller.principal,
                    &self.caller.space.id,
                    &self.path,
                    ingested,
                    None,
                    Some("WebDAV"),
                )
                .await
                .map_err(fs_error)?;
            self.stored = Some(written.node);
            Ok(())
        })
    }
}
