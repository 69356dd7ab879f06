//! The calls JS makes once per response or per streamed event (`respond`, `write`,
//! `endStream`, `sseSend`, `sseComment`, `requestHeaders`, `requestHeader`), as raw
//! Node-API callbacks bound to one server's state through their `data` pointer. A `#[napi]` class method pays for
//! unwrapping `this`, checking its type tag and tracking borrows on every call
//! (~3,000 instructions, measured with callgrind); these read their arguments directly.
//!
//! Each function holds one `Arc<ServerState>`, released by its finalizer when the
//! function is garbage collected. A panic never unwinds into Node: it becomes a JS
//! error. Every value is checked here, as `#[napi]` would: a wrong type throws.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;
use napi::sys;
use napi::sys::ValueType;

use crate::http::body::ResponseBody;
use crate::http::head;
use crate::http::stream::Pushed;
use crate::server::state::ServerState;
use crate::sse::encode::{encode_comment, encode_event, Event as SseEvent};

/// Arguments past `argc` read as undefined.
type Call = unsafe fn(env: sys::napi_env, state: &ServerState, args: &[sys::napi_value], argc: usize) -> Result<Out, String>;

/// What a call returns to JS.
enum Out {
  Bool(bool),
  Text(String),
  Undefined,
}

const MAX_ARGS: usize = 5;

/// `{ respond, write, endStream, sseSend, sseComment, requestHeaders, requestHeader }`
/// for `state`.
pub fn create(env: sys::napi_env, state: &Arc<ServerState>) -> napi::Result<sys::napi_value> {
  let calls: [(&str, sys::napi_callback); 7] = [
    ("respond", Some(js_respond)),
    ("write", Some(js_write)),
    ("endStream", Some(js_end_stream)),
    ("sseSend", Some(js_sse_send)),
    ("sseComment", Some(js_sse_comment)),
    ("requestHeaders", Some(js_request_headers)),
    ("requestHeader", Some(js_request_header)),
  ];
  unsafe {
    let mut obj = ptr::null_mut();
    check(sys::napi_create_object(env, &mut obj), "creating the hot calls")?;
    for (name, cb) in calls {
      let data = Arc::into_raw(state.clone()) as *mut c_void;
      let mut f = ptr::null_mut();
      let name_c = CString::new(name).expect("static name");
      if let Err(e) = check(sys::napi_create_function(env, name_c.as_ptr(), name.len() as isize, cb, data, &mut f), "creating a hot call")
        .and_then(|_| check(sys::napi_add_finalizer(env, f, data, Some(release), ptr::null_mut(), ptr::null_mut()), "creating a hot call"))
      {
        drop(Arc::from_raw(data as *const ServerState));
        return Err(e);
      }
      check(sys::napi_set_named_property(env, obj, name_c.as_ptr(), f), "creating the hot calls")?;
    }
    Ok(obj)
  }
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  drop(Arc::from_raw(data as *const ServerState));
}

/// A Node-API status as a Result (`what` failed otherwise).
pub(super) fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::new(napi::Status::from(status), format!("{what} failed")))
  }
}

/// A JS string from `s`: Latin-1 when it is ASCII (a plain copy), UTF-8 otherwise.
pub(super) unsafe fn js_string(env: sys::napi_env, s: &str, out: &mut sys::napi_value) -> sys::napi_status {
  if s.is_ascii() {
    sys::napi_create_string_latin1(env, s.as_ptr() as *const c_char, s.len() as isize, out)
  } else {
    sys::napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len() as isize, out)
  }
}

macro_rules! entry_points {
  ($($js:ident => $f:ident),*) => {$(
    unsafe extern "C" fn $js(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
      call(env, info, $f)
    }
  )*};
}
entry_points!(
  js_respond => respond,
  js_write => write,
  js_end_stream => end_stream,
  js_sse_send => sse_send,
  js_sse_comment => sse_comment,
  js_request_headers => request_headers,
  js_request_header => request_header
);

/// The shared trampoline: arguments in, panics and errors turned into JS exceptions.
#[inline(always)]
unsafe fn call(env: sys::napi_env, info: sys::napi_callback_info, f: Call) -> sys::napi_value {
  let mut argc = MAX_ARGS;
  let mut args = [ptr::null_mut(); MAX_ARGS];
  let mut data = ptr::null_mut();
  if sys::napi_get_cb_info(env, info, &mut argc, args.as_mut_ptr(), ptr::null_mut(), &mut data) != sys::Status::napi_ok {
    return ptr::null_mut();
  }
  // Node-API fills the slots past the arguments given with undefined; `argc` is now
  // the number given.
  let state = &*(data as *const ServerState);
  let outcome = catch_unwind(AssertUnwindSafe(|| f(env, state, &args, argc))).unwrap_or_else(|_| Err("hyper-sse: internal error (a Rust panic) in a native call".to_string()));
  match outcome {
    Ok(Out::Bool(b)) => {
      let mut out = ptr::null_mut();
      sys::napi_get_boolean(env, b, &mut out);
      out
    }
    Ok(Out::Undefined) => {
      let mut out = ptr::null_mut();
      sys::napi_get_undefined(env, &mut out);
      out
    }
    Ok(Out::Text(t)) => {
      let mut out = ptr::null_mut();
      js_string(env, &t, &mut out);
      out
    }
    Err(msg) => {
      let msg = CString::new(msg.replace('\0', "")).unwrap_or_default();
      sys::napi_throw_error(env, c"InvalidArg".as_ptr(), msg.as_ptr());
      ptr::null_mut()
    }
  }
}

// -- arguments ---------------------------------------------------------------

unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> i32 {
  let mut t = 0;
  sys::napi_typeof(env, v, &mut t);
  t
}

unsafe fn number(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<f64, String> {
  let mut n = 0.0;
  if sys::napi_get_value_double(env, v, &mut n) != sys::Status::napi_ok {
    return Err(format!("{what} must be a number"));
  }
  Ok(n)
}

unsafe fn id(env: sys::napi_env, v: sys::napi_value) -> Result<u64, String> {
  Ok(number(env, v, "id")? as u64)
}

unsafe fn string(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<String, String> {
  // Most strings here are short (a body, a header, an event): try one call into a
  // stack buffer before asking Node-API for the length and copying again.
  let mut small = [0u8; 256];
  let mut written = 0;
  if sys::napi_get_value_string_utf8(env, v, small.as_mut_ptr() as *mut c_char, small.len(), &mut written) != sys::Status::napi_ok {
    return Err(format!("{what} must be a string"));
  }
  // Node-API writes valid UTF-8 (lone surrogates become U+FFFD) and never splits a
  // character, so a short write is the whole string.
  if written + 4 < small.len() {
    return Ok(String::from_utf8_unchecked(small[..written].to_vec()));
  }
  let mut len = 0;
  sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len);
  let mut buf = Vec::<u8>::with_capacity(len + 1);
  sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut written);
  buf.set_len(written);
  Ok(String::from_utf8_unchecked(buf))
}

/// undefined and null read as None.
unsafe fn optional_string(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<Option<String>, String> {
  match type_of(env, v) {
    ValueType::napi_undefined | ValueType::napi_null => Ok(None),
    _ => string(env, v, what).map(Some),
  }
}

/// A string (as UTF-8) or a Buffer / typed array (copied); undefined and null read as None.
unsafe fn chunk(env: sys::napi_env, v: sys::napi_value) -> Result<Option<Bytes>, String> {
  match type_of(env, v) {
    ValueType::napi_undefined | ValueType::napi_null => Ok(None),
    ValueType::napi_string => string(env, v, "chunk").map(|s| Some(Bytes::from(s))),
    _ => {
      let mut is_buffer = false;
      sys::napi_is_buffer(env, v, &mut is_buffer);
      if !is_buffer {
        return Err("a chunk must be a string or a Buffer".into());
      }
      let (mut data, mut len) = (ptr::null_mut(), 0);
      sys::napi_get_buffer_info(env, v, &mut data, &mut len);
      Ok(Some(if len == 0 { Bytes::new() } else { Bytes::copy_from_slice(std::slice::from_raw_parts(data as *const u8, len)) }))
    }
  }
}

/// Response headers: `"name\nvalue\nname\nvalue"` with `items` (names + values) given
/// apart, as lib/response.js sends them (one string crosses for a fraction of an
/// array's cost), or `[name, value, ...]`. A line feed inside a name or value would
/// add pieces, so a count that doesn't match is refused: no header can be smuggled in.
unsafe fn header_list(env: sys::napi_env, v: sys::napi_value, items: sys::napi_value) -> Result<Vec<String>, String> {
  if type_of(env, v) != ValueType::napi_string {
    return string_list(env, v);
  }
  let text = string(env, v, "headers")?;
  let list: Vec<String> = if text.is_empty() { Vec::new() } else { text.split('\n').map(str::to_owned).collect() };
  if list.len() as f64 != number(env, items, "the header item count")? {
    return Err("invalid value for header: a name or value holds a line feed".into());
  }
  Ok(list)
}

/// `[name, value, ...]` as strings.
unsafe fn string_list(env: sys::napi_env, v: sys::napi_value) -> Result<Vec<String>, String> {
  let mut len = 0;
  if sys::napi_get_array_length(env, v, &mut len) != sys::Status::napi_ok {
    return Err("headers must be an array".into());
  }
  let mut out = Vec::with_capacity(len as usize);
  for i in 0..len {
    let mut item = ptr::null_mut();
    sys::napi_get_element(env, v, i, &mut item);
    out.push(string(env, item, "a header name or value")?);
  }
  Ok(out)
}

// -- the calls -----------------------------------------------------------------

/// respond(id, status, headers, body?, items?): answers in one piece (`items` counts
/// the names and values in a joined `headers` string). False if the client is
/// gone or the exchange already answered; throws on an invalid status or header.
unsafe fn respond(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let status = head::status(number(env, a[1], "status")? as u32).map_err(|e| e.0)?;
  let head = head::headers(&header_list(env, a[2], a[4])?).map_err(|e| e.0)?;
  let mut resp = Response::new(chunk(env, a[3])?.map_or_else(ResponseBody::empty, ResponseBody::full));
  *resp.status_mut() = status;
  head.apply(&mut resp);
  Ok(Out::Bool(state.exchanges.respond(&state.handoff, id, resp)))
}

/// write(id, chunk): queues bytes on an open stream, as given. False if the client is
/// gone, or the stream is above its high-water mark (a `drain` event follows).
unsafe fn write(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let bytes = chunk(env, a[1])?.unwrap_or_default();
  // undefined: the stream is over (the client left); false: backpressure, a 'drain' follows.
  Ok(match state.exchanges.write(id, bytes) {
    Pushed::Closed => Out::Undefined,
    p => Out::Bool(accepted(p)),
  })
}

/// endStream(id, chunk?): ends an open stream, after `chunk` if given.
unsafe fn end_stream(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  Ok(Out::Bool(state.exchanges.end_stream(id, chunk(env, a[1])?)))
}

/// sseSend(id, data, event?, eventId?, retry?): encodes one SSE event and queues it.
/// Optional fields come last so the fan-out's common call, `sseSend(id, data)`, reads
/// two arguments only.
unsafe fn sse_send(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let data = string(env, a[1], "event data")?;
  let event = if argc > 2 { optional_string(env, a[2], "an event name")? } else { None };
  let event_id = if argc > 3 { optional_string(env, a[3], "an event id")? } else { None };
  let retry = match argc > 4 && !matches!(type_of(env, a[4]), ValueType::napi_undefined | ValueType::napi_null) {
    true => Some(number(env, a[4], "retry")?.clamp(0.0, u32::MAX as f64) as u32),
    false => None,
  };
  let bytes = encode_event(&SseEvent { id: event_id.as_deref(), event: event.as_deref(), data: &data, retry });
  Ok(Out::Bool(accepted(state.exchanges.stream(id).map_or(Pushed::Closed, |q| q.push_event(bytes)))))
}

/// sseComment(id, text): queues an SSE comment (one `:` line per line of `text`).
unsafe fn sse_comment(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let text = string(env, a[1], "a comment")?;
  Ok(Out::Bool(accepted(state.exchanges.write(id, encode_comment(&text)))))
}

/// requestHeaders(id): `"name\nvalue\nname\nvalue"`, names lower-case, in arrival order
/// ("" once the exchange is over). One string, split in JS: cheaper than an array of
/// strings built element by element.
unsafe fn request_headers(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let text = state
    .exchanges
    .with(id, |ex| ex.headers.text())
    .unwrap_or_default();
  Ok(Out::Text(text))
}

/// requestHeader(id, name): every value of one header (`name` lower-case) joined with
/// ", ", or undefined. A handler that reads one or two headers (`req.get`) skips
/// building the whole set.
unsafe fn request_header(env: sys::napi_env, state: &ServerState, a: &[sys::napi_value], _argc: usize) -> Result<Out, String> {
  let id = id(env, a[0])?;
  let name = string(env, a[1], "a header name")?;
  Ok(state.exchanges.with(id, |ex| ex.headers.get(&name)).flatten().map_or(Out::Undefined, Out::Text))
}

/// What a write returns to JS: true only if queued below the high-water mark.
pub fn accepted(p: Pushed) -> bool {
  matches!(p, Pushed::Queued { below_high_water: true })
}
