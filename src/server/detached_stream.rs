//! An SSE stream after hyper has written its head: this task writes the stream's
//! bytes straight to the socket and notices the client leaving.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer per connection for the
//! connection's life, and frames every event in chunked encoding (three iovecs and a
//! formatted hex size). An event stream needs neither: after its head nothing more is
//! read, and the body runs until the connection closes. So the head goes out
//! close-delimited (see server/conn_io.rs), hyper's connection is dropped with its
//! buffers, and this task owns the socket, the stream's body and the connection count.

use std::future::Future;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::state::{Phase, ServerState};
use crate::http::body::ResponseBody;
use crate::http::stream::ConnectionKill;

/// Reads of client bytes (discarded) per wake-up before yielding to other tasks.
const READS_PER_WAKE: usize = 4;

/// Writes `body` to `stream` until the stream ends or the client goes; a hand-written
/// future, as small as its fields, since one lives for each open stream. Dropping the
/// body at the end queues the exchange's `close` event, as when hyper drops it. Gives
/// back the socket, its write side shut down, when the stream ended normally: the
/// caller closes it in stages (server/lingering_close.rs).
pub struct StreamWriter {
  /// Shared with the stream's queue, which writes to it directly when nothing is
  /// queued (see http/stream.rs); the queue lets go before the socket is shut down.
  stream: Arc<TcpStream>,
  body: ResponseBody,
  /// Taken from the body, not yet on the socket.
  unsent: Bytes,
  connection: Arc<ConnectionKill>,
  state: Arc<ServerState>,
  /// Set once the body has ended: what is left is sending the FIN.
  finished: bool,
}

impl StreamWriter {
  pub fn new(stream: TcpStream, body: ResponseBody, connection: Arc<ConnectionKill>, state: Arc<ServerState>) -> Self {
    let stream = Arc::new(stream);
    if let Some(queue) = body.queue() {
      queue.attach_socket(stream.clone());
    }
    Self { stream, body, unsent: Bytes::new(), connection, state, finished: false }
  }

  /// Ready(true) when the body ended with everything written; Ready(false) when the
  /// stream is dropped (client gone or cut off, or the server closing by force).
  fn poll_write_body(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
    if self.connection.poll_killed(cx.waker()) || self.state.phase_now() == Phase::Force {
      return Poll::Ready(false);
    }
    if client_left(&self.stream, cx) {
      return Poll::Ready(false);
    }
    loop {
      while self.unsent.is_empty() {
        match Pin::new(&mut self.body).poll_frame(cx) {
          Poll::Ready(Some(Ok(frame))) => {
            if let Ok(data) = frame.into_data() {
              self.unsent = data;
            }
          }
          // Cut off as a slow client.
          Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
          Poll::Ready(None) => return Poll::Ready(true),
          Poll::Pending => return Poll::Pending,
        }
      }
      match self.stream.poll_write_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return Poll::Ready(false),
        // The socket is full: the body is not polled again until it drains, so what
        // JS sends meanwhile queues (bounded by the slow-client policy).
        Poll::Pending => return Poll::Pending,
      }
      match self.stream.try_write(&self.unsent) {
        Ok(n) => self.unsent.advance(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return Poll::Ready(false),
      }
    }
  }
}

impl Future for StreamWriter {
  type Output = Option<Arc<TcpStream>>;

  fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
    let this = self.get_mut();
    if !this.finished {
      if !std::task::ready!(this.poll_write_body(cx)) {
        return Poll::Ready(None);
      }
      this.finished = true;
    }
    // FIN after the last event: the client sees the body end. The body (and with it
    // the exchange) goes when this future is dropped.
    if let Some(queue) = this.body.queue() {
      queue.detach_socket();
    }
    match Arc::get_mut(&mut this.stream) {
      Some(stream) => {
        let shut = std::task::ready!(Pin::new(stream).poll_shutdown(cx));
        Poll::Ready(shut.ok().map(|_| this.stream.clone()))
      }
      None => Poll::Ready(None),
    }
  }
}

/// True if the client closed or reset the connection. Bytes it sends are read and
/// dropped: an event stream takes no further requests on its connection.
fn client_left(stream: &TcpStream, cx: &mut Context<'_>) -> bool {
  let mut scratch = [0u8; 512];
  for _ in 0..READS_PER_WAKE {
    match stream.poll_read_ready(cx) {
      Poll::Ready(Ok(())) => {}
      Poll::Ready(Err(_)) => return true,
      Poll::Pending => return false,
    }
    match stream.try_read(&mut scratch) {
      Ok(0) => return true,
      Ok(_) => {}
      // Readiness is cleared: poll it again, so this task is woken by what comes next
      // (a FIN above all).
      Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
      Err(_) => return true,
    }
  }
  // A client that keeps sending: look again on the next turn, after other tasks.
  cx.waker().wake_by_ref();
  false
}

