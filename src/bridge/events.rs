//! The Rust -> JS half of the crossing: events queue here from any tokio thread and
//! reach JS in batches, one threadsafe-function call per batch, never one per request.
//!
//! A batch is one flat JS array, `STRIDE` slots per event, so JS walks it with no
//! per-event object allocation:
//!   request: [0, id, route, method, target, params | undefined]
//!   close:   [1, id, aborted, _, _, _]
//!   body:    [2, id, Buffer | undefined, error status, error message, _]
//!   closed:  [3, ...]             (the server finished shutting down)
//!   drain:   [4, id, ...]         (a stream's backlog fell back under its high-water mark)

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use napi::bindgen_prelude::{Array, Buffer, ToNapiValue, Undefined};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use parking_lot::Mutex;
use tokio::sync::Notify;

pub const STRIDE: u32 = 6;

pub enum Event {
  Request { id: u64, route: u32, method: String, target: String, params: Vec<String> },
  Close { id: u64, aborted: bool },
  Body { id: u64, result: Result<Bytes, (u32, String)> },
  Closed,
  Drain { id: u64 },
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

  /// Takes everything queued so far; runs on the JS thread.
  pub fn drain(&self) -> Vec<Event> {
    let mut q = self.pending.lock();
    self.scheduled.store(false, Ordering::Release);
    std::mem::take(&mut *q)
  }
}

/// What the threadsafe function hands JS: converted to the flat array described above.
pub struct Batch(pub Vec<Event>);

impl ToNapiValue for Batch {
  unsafe fn to_napi_value(raw_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut arr: Array = env.create_array(val.0.len() as u32 * STRIDE)?;
    for (i, ev) in val.0.into_iter().enumerate() {
      let at = i as u32 * STRIDE;
      match ev {
        Event::Request { id, route, method, target, params } => {
          arr.set(at, 0u32)?;
          arr.set(at + 1, id as f64)?;
          arr.set(at + 2, route)?;
          arr.set(at + 3, method)?;
          arr.set(at + 4, target)?;
          if params.is_empty() {
            arr.set(at + 5, Undefined::default())?;
          } else {
            arr.set(at + 5, params)?;
          }
        }
        Event::Close { id, aborted } => {
          arr.set(at, 1u32)?;
          arr.set(at + 1, id as f64)?;
          arr.set(at + 2, aborted)?;
        }
        Event::Body { id, result } => {
          arr.set(at, 2u32)?;
          arr.set(at + 1, id as f64)?;
          match result {
            Ok(bytes) => arr.set(at + 2, Buffer::from(Vec::from(bytes)))?,
            Err((status, msg)) => {
              arr.set(at + 3, status)?;
              arr.set(at + 4, msg)?;
            }
          }
        }
        Event::Closed => arr.set(at, 3u32)?,
        Event::Drain { id } => {
          arr.set(at, 4u32)?;
          arr.set(at + 1, id as f64)?;
        }
      }
    }
    Array::to_napi_value(raw_env, arr)
  }
}
