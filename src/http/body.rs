//! Response bodies handed to hyper, and the guard that turns the end of an exchange
//! (normal or a vanished client) into exactly one `close` event for JS.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::bridge::events::Event;
use crate::server::state::ServerState;

/// Most bytes one socket write gathers from a stream's queue.
const COALESCE_LIMIT: usize = 64 * 1024;

pub struct ResponseBody {
  kind: Kind,
  /// Present while a stream is open: dropped with the body when hyper is done with it
  /// (finished, or the connection died).
  guard: Option<CloseGuard>,
}

enum Kind {
  Full(Option<Bytes>),
  Stream(mpsc::UnboundedReceiver<Bytes>),
}

impl ResponseBody {
  pub fn full(bytes: Bytes) -> Self {
    Self { kind: Kind::Full((!bytes.is_empty()).then_some(bytes)), guard: None }
  }

  pub fn empty() -> Self {
    Self::full(Bytes::new())
  }

  pub fn stream(rx: mpsc::UnboundedReceiver<Bytes>) -> Self {
    Self { kind: Kind::Stream(rx), guard: None }
  }

  pub fn is_stream(&self) -> bool {
    matches!(self.kind, Kind::Stream(_))
  }

  pub fn attach_guard(&mut self, guard: CloseGuard) {
    self.guard = Some(guard);
  }
}

impl Body for ResponseBody {
  type Data = Bytes;
  type Error = Infallible;

  fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
    let this = self.get_mut();
    match &mut this.kind {
      Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
      Kind::Stream(rx) => match rx.poll_recv(cx) {
        Poll::Ready(Some(first)) => {
          // Everything already queued goes out in the same write.
          let mut more = match rx.try_recv() {
            Ok(next) => next,
            Err(_) => return Poll::Ready(Some(Ok(Frame::data(first)))),
          };
          let mut buf = BytesMut::with_capacity(first.len() + more.len());
          buf.extend_from_slice(&first);
          loop {
            buf.extend_from_slice(&more);
            if buf.len() >= COALESCE_LIMIT {
              break;
            }
            match rx.try_recv() {
              Ok(next) => more = next,
              Err(_) => break,
            }
          }
          Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
        }
        Poll::Ready(None) => {
          if let Some(g) = this.guard.as_mut() {
            g.finished = true;
          }
          Poll::Ready(None)
        }
        Poll::Pending => Poll::Pending,
      },
    }
  }

  fn is_end_stream(&self) -> bool {
    matches!(self.kind, Kind::Full(None))
  }

  fn size_hint(&self) -> SizeHint {
    match &self.kind {
      Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
      Kind::Stream(_) => SizeHint::default(),
    }
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
