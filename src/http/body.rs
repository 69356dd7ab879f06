//! Response bodies handed to hyper, and the guard that turns the end of an exchange
//! (normal or a vanished client) into exactly one `close` event for JS.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::stream::{ConnectionKill, StreamQueue, Take};
use crate::server::event_queue::Event;
use crate::server::state::ServerState;

/// The keep-alive comment a heartbeat writes on an idle stream.
const HEARTBEAT: &[u8] = b":\n\n";

/// Why a streaming body stopped early: the client was too slow and was cut off.
#[derive(Debug)]
pub struct SlowClientCutOff;

impl std::fmt::Display for SlowClientCutOff {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str("client fell too far behind; disconnected")
  }
}

impl std::error::Error for SlowClientCutOff {}

pub struct ResponseBody {
  kind: Kind,
  /// Present while a stream is open: dropped with the body when hyper is done with it
  /// (finished, or the connection died).
  guard: Option<CloseGuard>,
  /// Told when hyper is done with this body: the connection is idle again.
  connection: Option<Arc<ConnectionKill>>,
}

enum Kind {
  Full(Option<Bytes>),
  /// Stands in for a stream that left hyper: ends at once, with no length, so hyper
  /// writes the head close-delimited and then lets go of the connection.
  HandedOver,
  Stream {
    queue: Arc<StreamQueue>,
    heartbeat: Option<(u32, Pin<Box<Sleep>>)>,
    /// Bytes still owed under a Content-Length the handler set: hyper stops polling
    /// at the last one, so reaching 0 is this body's normal end.
    length_left: Option<u64>,
  },
}

impl ResponseBody {
  pub fn full(bytes: Bytes) -> Self {
    Self { kind: Kind::Full((!bytes.is_empty()).then_some(bytes)), guard: None, connection: None }
  }

  pub fn empty() -> Self {
    Self::full(Bytes::new())
  }

  pub fn stream(queue: Arc<StreamQueue>) -> Self {
    Self { kind: Kind::Stream { queue, heartbeat: None, length_left: None }, guard: None, connection: None }
  }

  /// Takes the stream out of this body, leaving the stand-in hyper finishes with.
  pub fn hand_over(&mut self) -> ResponseBody {
    std::mem::replace(self, Self { kind: Kind::HandedOver, guard: None, connection: None })
  }

  /// The queue behind a streaming body.
  pub fn queue(&self) -> Option<&Arc<StreamQueue>> {
    match &self.kind {
      Kind::Stream { queue, .. } => Some(queue),
      _ => None,
    }
  }

  /// A one-piece body (its size is known to hyper).
  pub fn is_full(&self) -> bool {
    matches!(self.kind, Kind::Full(_))
  }

  pub fn is_stream(&self) -> bool {
    matches!(self.kind, Kind::Stream { .. })
  }

  /// The handler declared this stream's length.
  pub fn set_length(&mut self, len: u64) {
    if let Kind::Stream { length_left, .. } = &mut self.kind {
      *length_left = Some(len);
    }
    if len == 0 {
      self.mark_finished();
    }
  }

  /// A response to HEAD: hyper sends the head and never polls the body, so the stream
  /// is over (a normal end) as soon as it starts; later writes see it closed.
  /// No body bytes at all, whatever the handler gave (h2 HEAD, 204, 304: hyper's h2
  /// would send them as DATA, which the client must refuse).
  pub fn drop_bytes(&mut self) {
    if let Some(q) = self.queue() {
      q.end();
    }
    if !matches!(self.kind, Kind::HandedOver) {
      self.kind = Kind::Full(None);
    }
    self.mark_finished();
  }

  pub fn end_head_only(&mut self) {
    if let Some(q) = self.queue() {
      q.end();
    }
    self.mark_finished();
  }

  fn mark_finished(&mut self) {
    finish(&mut self.guard);
  }

  pub fn attach_guard(&mut self, guard: CloseGuard) {
    self.guard = Some(guard);
  }

  /// `connection.request_done()` runs when hyper drops this body.
  pub fn on_done(&mut self, connection: Arc<ConnectionKill>) {
    self.connection = Some(connection);
  }
}

impl Body for ResponseBody {
  type Data = Bytes;
  type Error = SlowClientCutOff;

  fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, SlowClientCutOff>>> {
    let this = self.get_mut();
    let (queue, heartbeat, length_left) = match &mut this.kind {
      Kind::Full(b) => return Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
      Kind::HandedOver => return Poll::Ready(None),
      Kind::Stream { queue, heartbeat, length_left } => (queue, heartbeat, length_left),
    };
    match queue.poll_take(cx) {
      Poll::Ready(Take::Data { bytes, drained }) => {
        if let Some(left) = length_left.as_mut() {
          *left = left.saturating_sub(bytes.len() as u64);
          if *left == 0 {
            finish(&mut this.guard);
          }
        }
        if let Some(g) = this.guard.as_ref() {
          g.state.stats.written(bytes.len() as u64);
          if drained {
            g.state.events.push(Event::Drain { id: g.id });
          }
        }
        if let Some((ms, sleep)) = heartbeat.as_mut() {
          sleep.as_mut().reset(Instant::now() + Duration::from_millis(*ms as u64));
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
      }
      Poll::Ready(Take::End) => {
        // Ended short of a declared length, the reply is cut (hyper ends the
        // connection): the client did not get it all.
        if length_left.is_none_or(|left| left == 0) {
          finish(&mut this.guard);
        }
        Poll::Ready(None)
      }
      Poll::Ready(Take::Kill) => Poll::Ready(Some(Err(SlowClientCutOff))),
      Poll::Pending => {
        // Idle: a Rust timer writes the keep-alive comment; no JS timer per client.
        let ms = queue.heartbeat_ms();
        if ms == 0 {
          *heartbeat = None;
          return Poll::Pending;
        }
        let every = Duration::from_millis(ms as u64);
        match heartbeat {
          Some((current, _)) if *current == ms => {}
          _ => *heartbeat = Some((ms, Box::pin(tokio::time::sleep(every)))),
        }
        let (_, sleep) = heartbeat.as_mut().expect("armed above");
        if sleep.as_mut().poll(cx).is_ready() {
          // Writes that went straight to the socket (http/stream.rs) count as activity.
          if let Some(last) = queue.last_push().map(Instant::from_std) {
            if last + every > Instant::now() {
              sleep.as_mut().reset(last + every);
              let _ = sleep.as_mut().poll(cx);
              return Poll::Pending;
            }
          }
          sleep.as_mut().reset(Instant::now() + every);
          let _ = sleep.as_mut().poll(cx);
          if !queue.writer_took() {
            // Bytes arrived since poll_take looked: they go first, the heartbeat waits.
            cx.waker().wake_by_ref();
            return Poll::Pending;
          }
          if let Some(g) = this.guard.as_ref() {
            g.state.stats.written(HEARTBEAT.len() as u64);
          }
          return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(HEARTBEAT)))));
        }
        Poll::Pending
      }
    }
  }

  fn is_end_stream(&self) -> bool {
    matches!(self.kind, Kind::Full(None))
  }

  fn size_hint(&self) -> SizeHint {
    match &self.kind {
      Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
      Kind::Stream { .. } | Kind::HandedOver => SizeHint::default(),
    }
  }
}

impl Drop for ResponseBody {
  fn drop(&mut self) {
    // Whatever hyper did with us, later writes must see a closed stream.
    if let Kind::Stream { queue, .. } = &self.kind {
      queue.close();
    }
    if let Some(c) = self.connection.take() {
      c.request_done();
    }
  }
}

/// The exchange ended normally: its `close` will not say aborted.
fn finish(guard: &mut Option<CloseGuard>) {
  if let Some(g) = guard.as_mut() {
    g.finished = true;
  }
}

/// Owned by the request's service future, then by its streaming body. Dropping it
/// ends the exchange: the record is removed and, if JS is watching, one `close`
/// event (`aborted` unless the response had finished) is queued.
pub struct CloseGuard {
  id: u64,
  state: Arc<ServerState>,
  finished: bool,
  armed: bool,
}

impl CloseGuard {
  pub fn new(id: u64, state: Arc<ServerState>) -> Self {
    Self { id, state, finished: false, armed: true }
  }

  /// The exchange ended without anything left to report (a one-piece reply).
  pub fn disarm(mut self) {
    self.armed = false;
    self.state.exchanges.remove(self.id);
  }
}

impl Drop for CloseGuard {
  fn drop(&mut self) {
    if !self.armed {
      return;
    }
    if let Some(ex) = self.state.exchanges.remove(self.id) {
      if ex.watched {
        self.state.events.push(Event::Close { id: self.id, aborted: !self.finished });
      }
    }
  }
}
