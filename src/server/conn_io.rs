//! The socket as hyper sees it: a `TcpStream` that can be taken back from hyper for an
//! SSE stream (see server/detached_stream.rs).
//!
//! hyper ends a connection (so the socket can be taken back) after a response only if
//! its body is close-delimited, and it writes a close-delimited body of unknown length
//! only for an HTTP/1.0 response; on HTTP/1.1 it always picks chunked framing. So a
//! stream that leaves hyper is asked of hyper as HTTP/1.0, and this wrapper puts
//! "HTTP/1.1" back in that one status line on the wire: an HTTP/1.1 response may run
//! until the server closes (RFC 9112, section 6.3). The two versions differ in one byte,
//! so the fix is one byte at a known offset, tracked across partial writes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::http::stream::ConnectionKill;

/// What hyper writes first for an HTTP/1.0 response head.
const HTTP10_STATUS: &[u8] = b"HTTP/1.0 ";
/// Offset of the minor-version digit in it.
const MINOR_DIGIT: usize = 7;

pub struct ConnIo {
  stream: TcpStream,
  connection: Arc<ConnectionKill>,
  /// Offset, from the start of hyper's next write, of the "0" to send as "1".
  fix_at: Option<usize>,
}

impl ConnIo {
  pub fn new(stream: TcpStream, connection: Arc<ConnectionKill>) -> Self {
    Self { stream, connection, fix_at: None }
  }

  pub fn into_stream(self) -> TcpStream {
    self.stream
  }

  fn poll_write_fixed(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    if self.fix_at.is_none() && self.connection.take_version_fix() {
      // The head of the handed-over response is next in hyper's buffer: it starts a
      // write of its own, since hyper flushes before it reads the next request.
      let first = bufs.iter().find(|b| !b.is_empty());
      if first.is_some_and(|b| b.starts_with(HTTP10_STATUS)) {
        self.fix_at = Some(MINOR_DIGIT);
      }
    }
    let Some(at) = self.fix_at else {
      return Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
    };
    let Some((first, rest)) = bufs.split_first().filter(|(b, _)| b.len() > at) else {
      // Not the layout hyper writes; leave the bytes as they are.
      self.fix_at = None;
      return Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
    };
    let mut slices = Vec::with_capacity(bufs.len() + 2);
    slices.push(IoSlice::new(&first[..at]));
    slices.push(IoSlice::new(b"1"));
    slices.push(IoSlice::new(&first[at + 1..]));
    slices.extend(rest.iter().map(|b| IoSlice::new(b)));
    let written = std::task::ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, &slices))?;
    self.fix_at = if written > at { None } else { Some(at - written) };
    Poll::Ready(Ok(written))
  }
}

impl AsyncRead for ConnIo {
  fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
  }
}

impl AsyncWrite for ConnIo {
  fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    self.get_mut().poll_write_fixed(cx, &[IoSlice::new(buf)])
  }

  fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    self.get_mut().poll_write_fixed(cx, bufs)
  }

  fn is_write_vectored(&self) -> bool {
    true
  }

  fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.get_mut().stream).poll_flush(cx)
  }

  fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let this = self.get_mut();
    if this.connection.has_handover() {
      // The socket goes on carrying the stream: hyper is done with it, not the client.
      return Poll::Ready(Ok(()));
    }
    Pin::new(&mut this.stream).poll_shutdown(cx)
  }
}
