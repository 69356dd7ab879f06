//! The Rust -> JS half of the crossing: events queue here from any tokio thread and
//! reach JS in batches, one threadsafe-function call per batch, never one per request.
//!
//! A batch reaches JS as `[numbers, text, buffers]`, built with a handful of Node-API
//! calls whatever its size (setting array slots one by one cost ~6,000 instructions
//! per request). `numbers` is a Float64Array of records, `STRIDE` slots each, plus
//! extra slots where the record says so; strings are cut from `text` by length (in
//! UTF-16 units, as JS counts them), in record order:
//!   request: [0, id, route, method, target length, n params, <n param lengths>]
//!            method < METHOD_OTHER indexes METHODS; otherwise its name comes first in
//!            `text`, METHOD_OTHER + its length; then the target, then the params
//!   close:   [1, id, aborted, 0, 0, 0]
//!   body:    [2, id, buffer index | -1, error status, error message length, 0]
//!   closed:  [3, 0, 0, 0, 0, 0]         (the server finished shutting down)
//!   drain:   [4, id, 0, 0, 0, 0]        (a stream's backlog fell back under its high-water mark)
//!   chunk:   [5, id, what, error status, error message length, 0]  (a streamed request body)
//!            what: a buffer index, CHUNK_END, CHUNK_ABORTED (the client left, or the
//!            exchange ended first) or CHUNK_ERROR (status and message follow)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Uri};
use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Status};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::handoff::Handoff;
use super::hot_calls::{self, js_string};

pub const STRIDE: usize = 6;

/// Request methods sent as a number; the index is shared with lib/server.js.
pub const METHODS: [Method; 9] =
  [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD, Method::OPTIONS, Method::CONNECT, Method::TRACE];
pub const METHOD_OTHER: usize = 16;

/// A piece of a request body streamed to JS (http/request_stream.rs).
pub enum Chunk {
  Data(Bytes),
  End,
  Aborted,
  Error(u32, String),
}

pub const CHUNK_END: f64 = -1.0;
pub const CHUNK_ABORTED: f64 = -2.0;
pub const CHUNK_ERROR: f64 = -3.0;

pub enum Event {
  Request { id: u64, route: u32, method: Method, target: Uri, params: Vec<String> },
  Close { id: u64, aborted: bool },
  Body { id: u64, result: Result<Bytes, (u32, String)> },
  Closed,
  Drain { id: u64 },
  Chunk { id: u64, chunk: Chunk },
}

/// The JS callback that receives batches. Weak: it never keeps Node alive by itself;
/// the server refs it while listening.
pub type BatchFn = ThreadsafeFunction<(), (), Batch, Status, false, true, 0>;

pub struct EventQueue {
  pending: Mutex<Vec<Event>>,
  /// A wake-up is already on its way to JS: later events ride along with it.
  scheduled: AtomicBool,
  wake: Mutex<Option<BatchFn>>,
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

  pub fn set_wake(&self, f: Option<BatchFn>) -> Option<BatchFn> {
    std::mem::replace(&mut *self.wake.lock(), f)
  }

  pub fn with_wake<R>(&self, f: impl FnOnce(&mut Option<BatchFn>) -> R) -> R {
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
      let called = self.wake.lock().as_ref().map(|f| f.call((), ThreadsafeFunctionCallMode::NonBlocking));
      if called != Some(Status::Ok) {
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
  fn requeue(&self, mut events: Vec<Event>) {
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
      Event::Chunk { .. } | Event::Close { .. } | Event::Closed | Event::Drain { .. } => 0,
    }
  }
}

/// What the threadsafe function hands JS: converted to `[numbers, text, buffers]`.
/// Once JS has it, the server's deliveries are held (`handoff`) until JS is done with
/// it (`releaseWakes`); on a failed conversion nothing is held and the events are put
/// back (`queue`).
pub struct Batch {
  pub events: Vec<Event>,
  pub queue: Option<Arc<EventQueue>>,
  pub handoff: Option<Arc<Handoff>>,
}

impl Batch {
  pub fn empty() -> Self {
    Self { events: Vec::new(), queue: None, handoff: None }
  }
}

/// A batch laid out as described at the top of this file.
#[derive(Default)]
struct Layout {
  numbers: Vec<f64>,
  text: String,
  /// Body buffers so far (they are taken from the events themselves).
  buffers: usize,
}

impl Layout {
  fn record(&mut self, kind: u32, id: u64, a: f64, b: f64, c: f64, d: f64) {
    self.numbers.extend_from_slice(&[kind as f64, id as f64, a, b, c, d]);
  }

  /// Appends `s` to the text; returns its length as JS counts it.
  fn text(&mut self, s: &str) -> f64 {
    self.text.push_str(s);
    (if s.is_ascii() { s.len() } else { s.encode_utf16().count() }) as f64
  }

  fn of(events: &[Event]) -> Self {
    let mut out = Layout { numbers: Vec::with_capacity(events.len() * STRIDE), ..Default::default() };
    for ev in events {
      match *ev {
        Event::Request { id, route, ref method, ref target, ref params } => {
          let method = match METHODS.iter().position(|m| m == method) {
            Some(code) => code as f64,
            None => METHOD_OTHER as f64 + out.text(method.as_str()),
          };
          let target_len = out.text(target.path_and_query().map_or("/", |pq| pq.as_str()));
          out.record(0, id, route as f64, method, target_len, params.len() as f64);
          for p in params {
            let len = out.text(p);
            out.numbers.push(len);
          }
        }
        Event::Close { id, aborted } => out.record(1, id, aborted as u32 as f64, 0.0, 0.0, 0.0),
        Event::Body { id, ref result } => match result {
          Ok(_) => {
            out.record(2, id, out.buffers as f64, 0.0, 0.0, 0.0);
            out.buffers += 1;
          }
          Err((status, msg)) => {
            let len = out.text(msg);
            out.record(2, id, -1.0, *status as f64, len, 0.0);
          }
        },
        Event::Closed => out.record(3, 0, 0.0, 0.0, 0.0, 0.0),
        Event::Drain { id } => out.record(4, id, 0.0, 0.0, 0.0, 0.0),
        Event::Chunk { id, ref chunk } => match chunk {
          Chunk::Data(_) => {
            out.record(5, id, out.buffers as f64, 0.0, 0.0, 0.0);
            out.buffers += 1;
          }
          Chunk::End => out.record(5, id, CHUNK_END, 0.0, 0.0, 0.0),
          Chunk::Aborted => out.record(5, id, CHUNK_ABORTED, 0.0, 0.0, 0.0),
          Chunk::Error(status, msg) => {
            let len = out.text(msg);
            out.record(5, id, CHUNK_ERROR, *status as f64, len, 0.0);
          }
        },
      }
    }
    out
  }
}

impl ToNapiValue for Batch {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    let out = match numbers_and_text(env, &Layout::of(&val.events)) {
      Ok(out) => out,
      Err(e) => {
        // JS never sees this batch: put it back rather than lose it.
        if let Some(q) = val.queue {
          q.requeue(val.events);
        }
        return Err(e);
      }
    };
    // Body buffers last: they are moved out of the events, not copied.
    let mut buffers = val.events.into_iter().filter_map(|ev| match ev {
      Event::Body { result: Ok(b), .. } | Event::Chunk { chunk: Chunk::Data(b), .. } => Some(b),
      _ => None,
    });
    if let Some(first) = buffers.next() {
      let mut list = std::ptr::null_mut();
      check(sys::napi_create_array_with_length(env, 1, &mut list))?;
      for (i, b) in std::iter::once(first).chain(buffers).enumerate() {
        let value = Buffer::to_napi_value(env, Buffer::from(Vec::from(b)))?;
        check(sys::napi_set_element(env, list, i as u32, value))?;
      }
      check(sys::napi_set_element(env, out, 2, list))?;
    }
    if let Some(h) = val.handoff {
      h.hold();
    }
    Ok(out)
  }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
  hot_calls::check(status, "building an event batch")
}

/// `[numbers, text]` of a batch.
unsafe fn numbers_and_text(env: sys::napi_env, layout: &Layout) -> napi::Result<sys::napi_value> {
  let mut out = std::ptr::null_mut();
  check(sys::napi_create_array_with_length(env, 3, &mut out))?;
  let bytes = layout.numbers.len() * 8;
  let (mut data, mut buffer, mut numbers) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
  check(sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer))?;
  if bytes > 0 {
    std::ptr::copy_nonoverlapping(layout.numbers.as_ptr() as *const u8, data as *mut u8, bytes);
  }
  check(sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, layout.numbers.len(), buffer, 0, &mut numbers))?;
  check(sys::napi_set_element(env, out, 0, numbers))?;
  let mut text = std::ptr::null_mut();
  check(js_string(env, &layout.text, &mut text))?;
  check(sys::napi_set_element(env, out, 1, text))?;
  Ok(out)
}
