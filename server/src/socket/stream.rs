//! Streaming a stored file to a TV over binary frames, with credit-based flow control.
//!
//! The client joins `stream:{file_id}` (a photo or video of media) or `item:{item_id}` (a
//! streaming library item's file or its remux) and grants credit in bytes (`credit {bytes}`); the
//! server sends binary pushes `data` whose payload is MessagePack `{offset, data}` and never
//! more bytes than granted. `seek {offset}` moves the stream, `pause`/`resume` hold it, and a
//! rejoin with `{offset}` resumes after a reconnect. Frames go on the bulk lane, so chat and
//! heartbeats on the same socket are never stuck behind them.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use taina_protocol::chunk::Chunk;
use taina_protocol::phoenix;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::contexts::media::{MediaService, Photo, Rendition};
use crate::realtime::{Conn, Frame, Lane};

/// The stream waits while this share of the outbox is taken, so bulk data never crowds it.
const OUTBOX_SHARE: usize = 4;

#[derive(Default)]
struct Control {
    credit: u64,
    offset: u64,
    paused: bool,
}

/// A running stream; dropping it stops the task.
pub struct StreamHandle {
    control: Arc<Mutex<Control>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
    size: u64,
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StreamHandle {
    pub fn grant(&self, bytes: u64) {
        let mut control = self.control.lock().expect("stream lock");
        control.credit = control.credit.saturating_add(bytes);
        drop(control);
        self.wake.notify_one();
    }

    /// Moves to `offset`; false when it is past the end.
    pub fn seek(&self, offset: u64) -> bool {
        if offset > self.size {
            return false;
        }
        self.control.lock().expect("stream lock").offset = offset;
        self.wake.notify_one();
        true
    }

    pub fn set_paused(&self, paused: bool) {
        self.control.lock().expect("stream lock").paused = paused;
        self.wake.notify_one();
    }

    pub fn position(&self) -> u64 {
        self.control.lock().expect("stream lock").offset
    }
}

/// Where a stream's bytes come from.
pub enum Source {
    /// A photo or video in media's blob store.
    Photo {
        media: MediaService,
        photo: Box<Photo>,
        rendition: Rendition,
    },
    /// A file on the server's disk (a library item, or its remux in the cache).
    File(PathBuf),
}

impl Source {
    /// The bytes in `range`; `None` when they cannot be read.
    async fn read(&self, range: Range<u64>) -> Option<Vec<u8>> {
        let len = (range.end - range.start) as usize;
        match self {
            Source::Photo {
                media,
                photo,
                rendition,
            } => {
                let mut read = media.read(photo, *rendition, Some(range)).await.ok()?;
                let mut data = Vec::with_capacity(len);
                while let Some(chunk) = read.stream.next().await {
                    data.extend_from_slice(&chunk.ok()?);
                }
                Some(data)
            }
            Source::File(path) => {
                let mut file = tokio::fs::File::open(path).await.ok()?;
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .ok()?;
                let mut data = vec![0; len];
                file.read_exact(&mut data).await.ok()?;
                Some(data)
            }
        }
    }
}

/// What to stream, from where, with how much credit already granted.
pub struct StreamRequest {
    pub source: Source,
    pub size: u64,
    pub offset: u64,
    pub credit: u64,
}

/// Starts streaming to the `stream:` join `topic`/`join_ref` of `conn`.
pub fn start(
    conn: Arc<Conn>,
    join_ref: String,
    topic: String,
    request: StreamRequest,
    chunk_bytes: usize,
    outbox_limit: usize,
) -> StreamHandle {
    let StreamRequest {
        source,
        size,
        offset,
        credit,
    } = request;
    let control = Arc::new(Mutex::new(Control {
        credit,
        offset: offset.min(size),
        paused: false,
    }));
    let wake = Arc::new(Notify::new());
    let chunk_size = chunk_bytes as u64;
    let task = {
        let control = control.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let mut announced_end = false;
            loop {
                let (from, len) = {
                    let control = control.lock().expect("stream lock");
                    let remaining = size - control.offset.min(size);
                    (
                        control.offset,
                        remaining.min(control.credit).min(chunk_size),
                    )
                };
                let paused = control.lock().expect("stream lock").paused;
                if from >= size {
                    if !announced_end {
                        announced_end = true;
                        let end = phoenix::encode_text(
                            Some(&join_ref),
                            None,
                            &topic,
                            "end",
                            &json!({ "size": size }),
                        );
                        conn.send(Lane::Bulk, Frame::Text(end.into()));
                    }
                    wake.notified().await;
                    continue;
                }
                announced_end = false;
                if paused || len == 0 {
                    wake.notified().await;
                    continue;
                }
                if conn.outbox.queued_bytes() > outbox_limit / OUTBOX_SHARE {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                let data = source.read(from..from + len).await;
                let Some(data) = data else {
                    let error = phoenix::encode_text(
                        Some(&join_ref),
                        None,
                        &topic,
                        "error",
                        &json!({ "reason": "read_failed" }),
                    );
                    conn.send(Lane::Bulk, Frame::Text(error.into()));
                    return;
                };
                let sent = data.len() as u64;
                {
                    let mut control = control.lock().expect("stream lock");
                    // A seek while reading: drop this chunk, the loop reads from the new offset.
                    if control.offset != from {
                        continue;
                    }
                    control.offset = from + sent;
                    control.credit -= sent.min(control.credit);
                }
                let payload = Chunk { offset: from, data }.encode();
                match phoenix::encode_server_push(Some(&join_ref), &topic, "data", &payload) {
                    Ok(frame) => {
                        if !conn.send(Lane::Bulk, Frame::Binary(frame.into())) {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        })
    };
    StreamHandle {
        control,
        wake,
        task,
        size,
    }
}
