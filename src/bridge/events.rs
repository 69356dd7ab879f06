//! The Rust -> JS half of the crossing: the events queued in server/event_queue.rs
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
//!   missing: [6, 0, host name length, 0, 0, 0]  (a TLS client asked for a host name
//!            with no certificate of its own: HyperExpress's `hosts` 'missing')

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Status};

use super::hot_calls::{self, js_string};
pub use crate::server::event_queue::{Chunk, Event, EventQueue, BATCH_BYTES, METHODS};
use crate::server::event_queue::JsWake;
use crate::server::handoff::Handoff;

pub const STRIDE: usize = 6;

pub const METHOD_OTHER: usize = 16;

pub const CHUNK_END: f64 = -1.0;
pub const CHUNK_ABORTED: f64 = -2.0;
pub const CHUNK_ERROR: f64 = -3.0;

/// The JS callback that receives batches. Weak: it never keeps Node alive by itself;
/// the server refs it while listening.
pub type BatchFn = ThreadsafeFunction<(), (), Batch, Status, false, true, 0>;

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
        Event::MissingServerName { ref name } => {
          let len = out.text(name);
          out.record(6, 0, len, 0.0, 0.0, 0.0);
        }
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

impl JsWake for BatchFn {
  fn wake(&self) -> bool {
    self.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
  }
  fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
    self
  }
}
