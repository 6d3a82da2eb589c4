//! When the agent was last heard from, counted in bytes at the socket, as
//! the protocol counts silence: a slow link that still moves bytes is not
//! silent, whatever size the frame in flight is. [`Heard`] wraps the TCP
//! stream, under TLS, and marks a [`LastHeard`] clock on every read that
//! brings at least one byte; the reading half waits on that clock.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The instant of the last byte received, shared between the socket
/// wrapper and the reader that waits on it.
#[derive(Debug)]
pub(crate) struct LastHeard {
    base: Instant,
    /// Nanoseconds after `base`.
    at: AtomicU64,
}

impl LastHeard {
    /// A clock that last heard something now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            at: AtomicU64::new(0),
        })
    }

    fn mark(&self) {
        let nanos = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.at.fetch_max(nanos, Ordering::Relaxed);
    }

    /// When the last byte arrived.
    pub(crate) fn get(&self) -> Instant {
        self.base + std::time::Duration::from_nanos(self.at.load(Ordering::Relaxed))
    }
}

/// A stream that marks its [`LastHeard`] whenever a read brings bytes;
/// writes pass through.
#[derive(Debug)]
pub(crate) struct Heard<S> {
    inner: S,
    clock: Arc<LastHeard>,
}

impl<S> Heard<S> {
    pub(crate) fn new(inner: S, clock: Arc<LastHeard>) -> Self {
        Self { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Heard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.mark();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Heard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
