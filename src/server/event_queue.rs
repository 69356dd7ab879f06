//! Events on their way from the runtime to JS (requests, closes, bodies, drains):
//! they queue here from any tokio thread and reach JS in batches, one wake-up per
//! batch, never one per request. The server state owns the queue; how a wake-up
//! reaches JS (a Node-API threadsafe function) and how a batch is laid out for it
//! belong to the bridge (bridge/events.rs), which the rest of the server never sees.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use hyper::{Method, Uri};
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Request methods sent as a number; the index is shared with lib/server.js.
pub const METHODS: [Method; 9] =
  [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD, Method::OPTIONS, Method::CONNECT, Method::TRACE];

/// Wakes the JS thread to take a batch (`EventQueue::drain`). False if it could not
/// be asked (no listener any more): the next event tries again.
pub trait JsWake: Send {
  fn wake(&self) -> bool;
  /// The concrete waker, for the bridge that made it (to ref/unref it with Node).
  fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// A piece of a request body streamed to JS (http/request_stream.rs).
pub enum Chunk {
  Data(Bytes),
  End,
  Aborted,
  Error(u32, String),
}

pub enum Event {
  Request { id: u64, route: u32, method: Method, target: Uri, params: Vec<String> },
  Close { id: u64, aborted: bool },
  Body { id: u64, result: Result<Bytes, (u32, String)> },
  Closed,
  Drain { id: u64 },
  Chunk { id: u64, chunk: Chunk },
  /// A TLS client asked for a host name no certificate was registered for.
  MissingServerName { name: String },
}

pub struct EventQueue {
  pending: Mutex<Vec<Event>>,
  /// A wake-up is already on its way to JS: later events ride along with it.
  scheduled: AtomicBool,
  wake: Mutex<Option<Box<dyn JsWake>>>,
  /// Runtime-side events wait for the flusher, which lets every task that is ready in
  /// this runtime turn run first, so requests arriving together reach JS in one batch.
  flush_soon: Notify,
  max_requests: usize,
}

/// Past this many queued events JS is woken at once, whatever the runtime is doing.
const FLUSH_AT: usize = 256;

/// Most bytes of text and buffers one batch carries to JS; the rest rides in the next
/// one. A V8 string holds at most 2^29 - 24 characters (~512 MiB) and failing to make
/// it is fatal to the process, while a JS thread that was blocked may find far more
/// than that queued (65,536 requests with long targets). One event alone stays far
/// below it: its text is bounded by the request head (`max_header_size`, at most half this).
pub const BATCH_BYTES: usize = 16 << 20;

impl EventQueue {
  pub fn new(max_requests: usize) -> Self {
    Self {
      pending: Mutex::new(Vec::with_capacity(64)),
      scheduled: AtomicBool::new(false),
      wake: Mutex::new(None),
      flush_soon: Notify::new(),
      max_requests,
    }
  }

  pub fn set_wake(&self, f: Option<Box<dyn JsWake>>) -> Option<Box<dyn JsWake>> {
    std::mem::replace(&mut *self.wake.lock(), f)
  }

  pub fn with_wake<R>(&self, f: impl FnOnce(&mut Option<Box<dyn JsWake>>) -> R) -> R {
    f(&mut self.wake.lock())
  }

  /// Queues an event. A request is refused (false) when the queue is full so the
  /// caller can answer 503 at once; every other event is always accepted.
  pub fn push(&self, ev: Event) -> bool {
    let len = {
      let mut q = self.pending.lock();
      if matches!(ev, Event::Request { .. }) && q.len() >= self.max_requests {
        return false;
      }
      q.push(ev);
      q.len()
    };
    let on_runtime = tokio::runtime::Handle::try_current().is_ok();
    if on_runtime && len < FLUSH_AT {
      if len == 1 {
        self.flush_soon.notify_one();
      }
    } else {
      self.wake_js();
    }
    true
  }

  /// One threadsafe-function call carries everything queued, unless one is on its way.
  fn wake_js(&self) {
    if !self.scheduled.swap(true, Ordering::AcqRel) {
      let called = self.wake.lock().as_ref().is_some_and(|f| f.wake());
      if !called {
        self.scheduled.store(false, Ordering::Release);
      }
    }
  }

  /// The flusher task, on the server's runtime.
  pub async fn flush_loop(self: std::sync::Arc<Self>) {
    loop {
      self.flush_soon.notified().await;
      // Let the tasks already ready in this turn (other connections' requests) queue first.
      tokio::task::yield_now().await;
      if !self.pending.lock().is_empty() {
        self.wake_js();
      }
    }
  }

  /// Takes what was queued so far, up to BATCH_BYTES of text and buffers (at least
  /// one event); runs on the JS thread. What is left goes in a batch of its own.
  pub fn drain(&self) -> Vec<Event> {
    let (batch, more) = {
      let mut q = self.pending.lock();
      self.scheduled.store(false, Ordering::Release);
      let mut bytes = 0;
      let cut = q.iter().position(|ev| {
        bytes += ev.payload_bytes();
        bytes > BATCH_BYTES
      });
      match cut {
        Some(at) => {
          let rest = q.split_off(at.max(1));
          (std::mem::replace(&mut *q, rest), !q.is_empty())
        }
        None => (std::mem::take(&mut *q), false),
      }
    };
    if more {
      self.wake_js();
    }
    batch
  }

  /// Puts back a batch that could not be handed to JS, ahead of what came since, so
  /// nothing is lost and order is kept; the next event wakes JS again.
  pub fn requeue(&self, mut events: Vec<Event>) {
    let mut q = self.pending.lock();
    events.append(&mut q);
    *q = events;
  }
}

impl Event {
  /// Bytes this event adds to a batch's text and buffers.
  fn payload_bytes(&self) -> usize {
    match self {
      Event::Request { method, target, params, .. } => {
        let m = if METHODS.contains(method) { 0 } else { method.as_str().len() };
        m + target.path_and_query().map_or(1, |pq| pq.as_str().len()) + params.iter().map(String::len).sum::<usize>()
      }
      Event::Body { result: Ok(b), .. } => b.len(),
      Event::Body { result: Err((_, msg)), .. } => msg.len(),
      Event::Chunk { chunk: Chunk::Data(b), .. } => b.len(),
      Event::Chunk { chunk: Chunk::Error(_, msg), .. } => msg.len(),
      Event::MissingServerName { name } => name.len(),
      Event::Chunk { .. } | Event::Close { .. } | Event::Closed | Event::Drain { .. } => 0,
    }
  }
}
