//! A request body streamed to JS chunk by chunk as it arrives (the request as a
//! `stream.Readable`: `pipe`, `on('data')`, `for await`), with backpressure back to the
//! socket: while JS has paused, the body is not read, so hyper stops reading the socket
//! and the client's sends stall in its TCP window.
//!
//! The whole-body read (http/request_body.rs) stays for `req.buffer()` and a stream
//! opened before the body was read: a body taken by one is not there for the other.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::request_body::declared_length;
use crate::server::event_queue::{Chunk, Event};
use crate::server::state::ServerState;

/// Most bytes sent to JS ahead of what its stream has taken (lib/request.js grants the
/// next window): a JS thread that is busy for a while never finds more than this of
/// one body queued for it.
const WINDOW: usize = 256 * 1024;

/// JS's say over a streamed read: pause and resume it; the exchange ending abandons it.
#[derive(Default)]
pub struct BodyFlow {
  paused: AtomicBool,
  /// Bytes sent to JS since it last granted a window.
  unacked: AtomicUsize,
  abandoned: AtomicBool,
  /// The body has been read to its end (or failed): nothing is in flight.
  ended: AtomicBool,
  changed: Notify,
}

impl BodyFlow {
  /// Pauses the read, or resumes it with a fresh window.
  pub fn pause(&self, paused: bool) {
    if !paused {
      self.unacked.store(0, Ordering::Release);
    }
    self.paused.store(paused, Ordering::Release);
    self.changed.notify_one();
  }

  pub fn is_reading(&self) -> bool {
    !self.ended.load(Ordering::Acquire)
  }
}

/// Held by the exchange: when the exchange ends (the reply is out, or the client left),
/// the read stops and drops the body, so hyper finishes the connection instead of
/// waiting for a reader that went away.
pub struct FlowHandle(pub Arc<BodyFlow>);

impl Drop for FlowHandle {
  fn drop(&mut self) {
    self.0.abandoned.store(true, Ordering::Release);
    self.0.changed.notify_one();
  }
}

/// What JS's request to stream the body found.
pub enum Streamed {
  /// No body to read (none, or already read): the stream ends empty.
  Nothing,
  /// Chunks come as events.
  Coming,
  /// A whole-body read has it already (a stream opened first): ask for that instead.
  ReadWhole,
}

/// Starts streaming request `id`'s body to JS, at most `limit` bytes (past it: a 413
/// error event, and the rest is not read).
pub fn start(rt: &Handle, state: &Arc<ServerState>, id: u64, limit: usize) -> Streamed {
  let found = state.exchanges.with(id, |ex| {
    if let Some(body) = ex.body.take() {
      let declared = declared_length(ex);
      let flow = Arc::new(BodyFlow::default());
      ex.body_flow = Some(FlowHandle(flow.clone()));
      return Some((body, flow, declared));
    }
    None
  });
  match found {
    Some(Some((body, flow, declared))) => {
      if declared.is_some_and(|n| n > limit as u64) {
        flow.ended.store(true, Ordering::Release);
        state.events.push(Event::Chunk { id, chunk: too_large(limit) });
      } else {
        rt.spawn(read(state.clone(), id, body, flow, limit));
      }
      Streamed::Coming
    }
    Some(None) if state.exchanges.with(id, |ex| ex.body_read.is_some()).unwrap_or(false) => Streamed::ReadWhole,
    _ => Streamed::Nothing,
  }
}

fn too_large(limit: usize) -> Chunk {
  Chunk::Error(413, format!("request body is larger than the limit of {limit} bytes"))
}

async fn read(state: Arc<ServerState>, id: u64, mut body: Incoming, flow: Arc<BodyFlow>, limit: usize) {
  let mut total = 0usize;
  let declared = http_body::Body::size_hint(&body).exact();
  let last = loop {
    if flow.abandoned.load(Ordering::Acquire) {
      break Chunk::Aborted;
    }
    if flow.paused.load(Ordering::Acquire) || flow.unacked.load(Ordering::Acquire) >= WINDOW {
      flow.changed.notified().await;
      continue;
    }
    // A sized body is over at its last byte: asking for another frame would wait for
    // the connection's next bytes.
    let frame = if http_body::Body::is_end_stream(&body) {
      None
    } else {
      tokio::select! {
        biased;
        // Paused or abandoned meanwhile: look again (a frame future loses nothing).
        _ = flow.changed.notified() => continue,
        frame = body.frame() => frame,
      }
    };
    match frame {
      // h2: a body whose stream the client reset ends as if whole (see request_body.rs).
      None if declared.is_some_and(|n| (total as u64) < n) => break Chunk::Aborted,
      None => break Chunk::End,
      // Most often the client left mid-body: the exchange ends with it (its `abort`
      // and `close` fire), as hyper alone would not notice before the reply.
      Some(Err(_)) => {
        state.exchanges.with(id, |ex| ex.connection.cut_off_exchange());
        break Chunk::Aborted;
      }
      Some(Ok(frame)) => {
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        if total > limit {
          break too_large(limit);
        }
        if !data.is_empty() {
          flow.unacked.fetch_add(data.len(), Ordering::AcqRel);
          state.events.push(Event::Chunk { id, chunk: Chunk::Data(data) });
        }
      }
    }
  };
  // Dropped before JS hears the end, so a reply sent then finds the body gone.
  drop(body);
  flow.ended.store(true, Ordering::Release);
  state.events.push(Event::Chunk { id, chunk: last });
}
