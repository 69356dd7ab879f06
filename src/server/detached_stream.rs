//! An SSE stream after hyper has written its head: this task writes the stream's
//! bytes straight to the socket and notices the client leaving.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer per connection for the
//! connection's life, and frames every event in chunked encoding (three iovecs and a
//! formatted hex size). An event stream needs neither: after its head nothing more is
//! read, and the body runs until the connection closes. So the head goes out
//! close-delimited (see server/conn_io.rs), hyper's connection is dropped with its
//! buffers, and this task owns the socket, the stream's body and the connection count.
//!
//! The socket is plain TCP (events may then also be written straight from the JS
//! thread, see http/stream.rs) or TLS over HTTP/1.1 (every byte through rustls, from
//! this task).

use std::future::Future;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::state::{Phase, ServerState};
use crate::http::body::ResponseBody;
use crate::http::stream::ConnectionKill;

/// Reads of client bytes (discarded) per wake-up before yielding to other tasks.
const READS_PER_WAKE: usize = 4;

/// What a detached stream is written to.
pub trait StreamSocket: Unpin {
  /// Lets the stream's queue write to the socket itself while nothing is queued.
  fn share_with(&self, body: &ResponseBody);
  /// True if the client closed or reset the connection (what it sends is dropped).
  fn client_left(&mut self, cx: &mut Context<'_>) -> bool;
  /// Writes some of `buf`; Pending while the socket is full.
  fn poll_send(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>>;
  /// Pushes out what `poll_send` took but still holds (TLS records), before waiting.
  fn poll_flush_sent(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    Poll::Ready(Ok(()))
  }
  /// Ends the write side after the last event (FIN, or TLS close_notify then FIN).
  fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
}

/// Writes `body` to `stream` until the stream ends or the client goes; a hand-written
/// future, as small as its fields, since one lives for each open stream. Dropping the
/// body at the end queues the exchange's `close` event, as when hyper drops it. Gives
/// back the socket, its write side shut down, when the stream ended normally: the
/// caller closes it in stages (server/lingering_close.rs).
pub struct StreamWriter<S: StreamSocket = Arc<TcpStream>> {
  /// Taken when the stream ended normally, to be closed in stages.
  stream: Option<S>,
  body: ResponseBody,
  /// Taken from the body, not yet on the socket.
  unsent: Bytes,
  connection: Arc<ConnectionKill>,
  state: Arc<ServerState>,
  /// Set once the body has ended: what is left is sending the FIN.
  finished: bool,
}

impl<S: StreamSocket> StreamWriter<S> {
  pub fn new(stream: S, body: ResponseBody, connection: Arc<ConnectionKill>, state: Arc<ServerState>) -> Self {
    stream.share_with(&body);
    Self { stream: Some(stream), body, unsent: Bytes::new(), connection, state, finished: false }
  }

  /// Ready(true) when the body ended with everything written; Ready(false) when the
  /// stream is dropped (client gone or cut off, or the server closing by force).
  fn poll_write_body(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
    if self.connection.poll_killed(cx.waker()) || self.state.phase_now() == Phase::Force {
      return Poll::Ready(false);
    }
    let Some(stream) = self.stream.as_mut() else { return Poll::Ready(false) };
    if stream.client_left(cx) {
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
          Poll::Pending => {
            return match stream.poll_flush_sent(cx) {
              Poll::Ready(Err(_)) => Poll::Ready(false),
              _ => Poll::Pending,
            };
          }
        }
      }
      match stream.poll_send(cx, &self.unsent) {
        Poll::Ready(Ok(n)) => self.unsent.advance(n),
        Poll::Ready(Err(_)) => return Poll::Ready(false),
        // The socket is full: the body is not polled again until it drains, so what
        // JS sends meanwhile queues (bounded by the slow-client policy).
        Poll::Pending => return Poll::Pending,
      }
    }
  }
}

impl<S: StreamSocket> Future for StreamWriter<S> {
  type Output = Option<S>;

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
    let Some(stream) = this.stream.as_mut() else { return Poll::Ready(None) };
    match std::task::ready!(stream.poll_finish(cx)) {
      Ok(()) => Poll::Ready(this.stream.take()),
      Err(_) => Poll::Ready(None),
    }
  }
}

impl StreamSocket for Arc<TcpStream> {
  fn share_with(&self, body: &ResponseBody) {
    if let Some(queue) = body.queue() {
      queue.attach_socket(self.clone());
    }
  }
  fn client_left(&mut self, cx: &mut Context<'_>) -> bool {
    tcp_client_left(self, cx)
  }
  fn poll_send(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
    loop {
      std::task::ready!(self.poll_write_ready(cx))?;
      match self.try_write(buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
        other => return Poll::Ready(other),
      }
    }
  }
  fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    // The queue let go of its clone (detach_socket): shut the write side down.
    match Arc::get_mut(self) {
      Some(stream) => Pin::new(stream).poll_shutdown(cx),
      None => Poll::Ready(Err(ErrorKind::Other.into())),
    }
  }
}

/// A TLS stream after hyper: the rustls session behind a lock beside the socket, so a
/// write from the JS thread can encrypt and send at once when nothing is queued (as
/// plaintext streams do), and the writer task sends the rest.
pub struct TlsSocket {
  tcp: TcpStream,
  session: parking_lot::Mutex<rustls::ServerConnection>,
  /// close_notify is queued (once).
  closing: std::sync::atomic::AtomicBool,
}

impl TlsSocket {
  pub fn new(tls: TlsStream<TcpStream>) -> Arc<Self> {
    let (tcp, session) = tls.into_inner();
    Arc::new(Self { tcp, session: parking_lot::Mutex::new(session), closing: std::sync::atomic::AtomicBool::new(false) })
  }

  pub fn tcp(&self) -> &TcpStream {
    &self.tcp
  }

  /// Sends the session's pending records without waiting; Ok(true) once none is left.
  fn send_records(&self, session: &mut rustls::ServerConnection) -> std::io::Result<bool> {
    while session.wants_write() {
      match session.write_tls(&mut TryWrite(&self.tcp)) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
        Err(e) => return Err(e),
      }
    }
    Ok(true)
  }

  /// Sends the pending records; Pending (woken when the socket can take more) while
  /// some are left.
  fn poll_send_records(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    loop {
      if self.send_records(&mut self.session.lock())? {
        return Poll::Ready(Ok(()));
      }
      std::task::ready!(self.tcp.poll_write_ready(cx))?;
    }
  }
}

/// `std::io::Write` over a non-blocking socket: WouldBlock instead of waiting.
struct TryWrite<'a>(&'a TcpStream);

impl std::io::Write for TryWrite<'_> {
  fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
    self.0.try_write(buf)
  }
  fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
    self.0.try_write_vectored(bufs)
  }
  fn flush(&mut self) -> std::io::Result<()> {
    Ok(())
  }
}

impl crate::http::stream::DirectSocket for TlsSocket {
  fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
    // The writer task has the session, or records from before are still waiting: the
    // bytes queue behind them.
    let Some(mut session) = self.session.try_lock() else { return Err(ErrorKind::WouldBlock.into()) };
    if session.wants_write() {
      return Err(ErrorKind::WouldBlock.into());
    }
    let n = std::io::Write::write(&mut session.writer(), buf)?;
    // rustls holds these bytes now: whatever sending them finds (a broken socket too)
    // is the writer task's to see, woken since records remain; never queue them twice.
    let _ = self.send_records(&mut session);
    Ok(n)
  }
  fn holds_unsent(&self) -> bool {
    self.session.lock().wants_write()
  }
}

impl StreamSocket for Arc<TlsSocket> {
  fn share_with(&self, body: &ResponseBody) {
    if let Some(queue) = body.queue() {
      queue.attach_socket(self.clone());
    }
  }
  fn client_left(&mut self, cx: &mut Context<'_>) -> bool {
    let mut scratch = [0u8; 2048];
    for _ in 0..READS_PER_WAKE {
      match self.tcp.poll_read_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return true,
        Poll::Pending => return false,
      }
      let n = match self.tcp.try_read(&mut scratch) {
        Ok(0) => return true,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
        Err(_) => return true,
      };
      // Records from the client (a close_notify, a key update): the session takes them;
      // application data is dropped, as on plaintext.
      let mut session = self.session.lock();
      let mut input = &scratch[..n];
      while !input.is_empty() {
        if session.read_tls(&mut input).is_err() || session.process_new_packets().is_err() {
          return true;
        }
      }
      let mut sink = [0u8; 2048];
      loop {
        match std::io::Read::read(&mut session.reader(), &mut sink) {
          Ok(0) => return true,
          Ok(_) => continue,
          Err(e) if e.kind() == ErrorKind::WouldBlock => break,
          Err(_) => return true,
        }
      }
    }
    cx.waker().wake_by_ref();
    false
  }
  fn poll_send(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
    loop {
      // Records from before go first (they hold earlier bytes).
      std::task::ready!(self.poll_send_records(cx))?;
      let mut session = self.session.lock();
      let n = std::io::Write::write(&mut session.writer(), buf)?;
      if n > 0 {
        self.send_records(&mut session)?;
        return Poll::Ready(Ok(n));
      }
      // The session's buffer is full: send, then try again.
      drop(session);
    }
  }
  fn poll_flush_sent(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    self.poll_send_records(cx)
  }
  fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    if !self.closing.swap(true, std::sync::atomic::Ordering::AcqRel) {
      // The client sees a clean end (close_notify), then the FIN.
      self.session.lock().send_close_notify();
    }
    std::task::ready!(self.poll_send_records(cx))?;
    match Arc::get_mut(self) {
      Some(socket) => Pin::new(&mut socket.tcp).poll_shutdown(cx),
      None => Poll::Ready(Err(ErrorKind::Other.into())),
    }
  }
}

/// True if the client closed or reset the connection. Bytes it sends are read and
/// dropped: an event stream takes no further requests on its connection.
fn tcp_client_left(stream: &TcpStream, cx: &mut Context<'_>) -> bool {
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

