//! The TCP stream as hyper, and after an upgrade the WebSocket, sees it.
//!
//! Reads and writes pass straight through; bytes read tell the connection's [`Activity`] that
//! the client spoke. The stream holds the connection's place under the global cap, so the place
//! lasts as long as the descriptor: for an upgraded socket (hyper moves this stream into
//! `Upgraded`), until the WebSocket is dropped. Once the connection is upgraded the stream also
//! lets go of the HTTP bookkeeping ([`Tracked`]), which idle sockets would otherwise carry.
//!
//! [`Activity`]: super::activity::Activity

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::limits::Place;
use super::Tracked;

pub struct TrackedStream {
    stream: TcpStream,
    _place: Place,
    /// `None` once the connection has been upgraded.
    tracked: Option<Arc<Tracked>>,
}

impl TrackedStream {
    pub fn new(stream: TcpStream, place: Place, tracked: Arc<Tracked>) -> Self {
        Self {
            stream,
            _place: place,
            tracked: Some(tracked),
        }
    }

    /// Drops the HTTP bookkeeping once the connection is a WebSocket (its `101` gave back the
    /// per-address place).
    fn forget_if_upgraded(&mut self) {
        if self
            .tracked
            .as_ref()
            .is_some_and(|tracked| tracked.address.is_released())
        {
            self.tracked = None;
        }
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.forget_if_upgraded();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            if let Some(tracked) = &this.tracked {
                tracked.activity.bytes_received();
            }
        }
        result
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.forget_if_upgraded();
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.forget_if_upgraded();
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
