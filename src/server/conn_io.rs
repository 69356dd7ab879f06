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

pub struct ConnIo<S = TcpStream> {
  stream: S,
  connection: Arc<ConnectionKill>,
  /// Offset, from the start of hyper's next write, of the "0" to send as "1".
  fix_at: Option<usize>,
}

impl<S: AsyncWrite + Unpin> ConnIo<S> {
  pub fn new(stream: S, connection: Arc<ConnectionKill>) -> Self {
    Self { stream, connection, fix_at: None }
  }

  pub fn into_stream(self) -> S {
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ConnIo<S> {
  fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
  }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnIo<S> {
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

#[cfg(test)]
mod tests {
  use super::*;
  use std::task::Waker;

  /// Accepts at most `per_write` bytes per call and keeps them.
  struct Trickle {
    out: Vec<u8>,
    per_write: usize,
  }

  impl AsyncWrite for Trickle {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
      let this = self.get_mut();
      let n = buf.len().min(this.per_write);
      this.out.extend_from_slice(&buf[..n]);
      Poll::Ready(Ok(n))
    }
    fn poll_write_vectored(self: Pin<&mut Self>, _cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
      let this = self.get_mut();
      let mut total = 0;
      for b in bufs {
        let want = (this.per_write - total).min(b.len());
        this.out.extend_from_slice(&b[..want]);
        total += want;
        if total == this.per_write {
          break;
        }
      }
      Poll::Ready(Ok(total))
    }
    fn is_write_vectored(&self) -> bool {
      true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
      Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
      Poll::Ready(Ok(()))
    }
  }

  /// Writes `parts` the way hyper does: the same bytes again, advanced past what was taken.
  fn write_all(io: &mut ConnIo<Trickle>, parts: &[&[u8]]) {
    let mut cx = Context::from_waker(Waker::noop());
    let joined: Vec<u8> = parts.concat();
    let bounds: Vec<usize> = parts.iter().scan(0, |at, p| { *at += p.len(); Some(*at) }).collect();
    let mut done = 0;
    while done < joined.len() {
      let mut start = done;
      let mut slices = Vec::new();
      for &end in &bounds {
        if end > start {
          slices.push(IoSlice::new(&joined[start..end]));
          start = end;
        }
      }
      match Pin::new(&mut *io).poll_write_vectored(&mut cx, &slices) {
        Poll::Ready(Ok(n)) => done += n,
        other => panic!("unexpected {other:?}"),
      }
    }
  }

  fn io(per_write: usize) -> (ConnIo<Trickle>, Arc<ConnectionKill>) {
    let kill = Arc::new(ConnectionKill::default());
    (ConnIo::new(Trickle { out: Vec::new(), per_write }, kill.clone()), kill)
  }

  #[test]
  fn restores_http11_in_the_handed_over_head_across_partial_writes() {
    for per_write in [1, 3, 7, 8, 9, 64] {
      let (mut io, kill) = io(per_write);
      write_all(&mut io, &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"hi"]);
      kill.hand_over(crate::http::body::ResponseBody::empty(), true);
      write_all(&mut io, &[b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"]);
      write_all(&mut io, &[b"HTTP/1.0 in a later write is left alone"]);
      let out = String::from_utf8(io.into_stream().out).unwrap();
      assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nHTTP/1.0 in a later write is left alone",
        "per_write {per_write}"
      );
    }
  }

  #[test]
  fn leaves_an_http10_client_and_other_layouts_alone() {
    let (mut io, kill) = io(5);
    kill.hand_over(crate::http::body::ResponseBody::empty(), false);
    write_all(&mut io, &[b"HTTP/1.0 200 OK\r\n\r\n"]);
    kill.hand_over(crate::http::body::ResponseBody::empty(), true);
    write_all(&mut io, &[b"earlier bytes", b"HTTP/1.0 200 OK\r\n\r\n"]);
    assert_eq!(io.into_stream().out, b"HTTP/1.0 200 OK\r\n\r\nearlier bytesHTTP/1.0 200 OK\r\n\r\n");
  }
}
