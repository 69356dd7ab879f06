//! One HTTP request: route it in Rust, hand it to JS through the event queue, and
//! wait for the reply JS sends back through the exchange table.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::sync::oneshot;

use super::router::UNMATCHED;
use super::state::ServerState;
use crate::server::event_queue::Event;
use crate::http::body::{CloseGuard, ResponseBody};
use crate::http::exchange::{Exchange, Reply, RequestHeaders};
use crate::http::request_body;
use crate::http::stream::ConnectionKill;

/// Serves one request. A panic anywhere on this path becomes a 500 for this request
/// only; it never crosses into Node and never takes the connection's other work down.
pub async fn handle(
  state: Arc<ServerState>,
  remote: SocketAddr,
  connection: Arc<ConnectionKill>,
  req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
  connection.request_started();
  // Busy until the response body is dropped; if hyper drops this future first (an h2
  // stream reset before the reply), the guard says the request is over.
  let busy = Busy(Some(connection.clone()));
  let done = connection.clone();
  let version = req.version();
  let head_only = req.method() == Method::HEAD;
  let (mut resp, body_unread) = match AssertUnwindSafe(route_to_js(state, remote, connection, req)).catch_unwind().await {
    Ok(answer) => answer,
    Err(_) => (plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"), false),
  };
  // The connection counts as busy (no head deadline) until this body is dropped.
  busy.hand_to_body();
  resp.body_mut().on_done(done.clone());
  if resp.body().is_full() && !head_only {
    // A one-piece body's own size rules (hyper writes it). A HEAD reply keeps the
    // handler's, which tells the size a GET would get.
    resp.headers_mut().remove(CONTENT_LENGTH);
  }
  if head_only {
    resp.body_mut().end_head_only();
  }
  if version == Version::HTTP_2 && (head_only || matches!(resp.status(), StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)) {
    resp.body_mut().drop_bytes();
  }
  let event_stream = is_event_stream(&resp);
  if event_stream {
    // An event stream has no length (a handler's writeHead may still give one, as
    // Node would ignore for a chunked reply): hyper would hold the body to it and fail
    // the connection before the head went out.
    resp.headers_mut().remove(CONTENT_LENGTH);
    resp.headers_mut().remove(TRANSFER_ENCODING);
  } else if let Some(len) = declared_length(&resp) {
    // hyper stops polling a sized body at its last byte: the body must know it ended.
    resp.body_mut().set_length(len);
  }
  // A request body nobody has read yet keeps hyper reading, so hyper's connection would
  // never finish and the stream never leave it: such a stream stays in hyper (chunked),
  // where the handler can still read the body later.
  if !head_only && !body_unread && event_stream && done.can_hand_over() && version != Version::HTTP_2 {
    // hyper writes the head and lets go of the socket; the stream itself is written
    // by the connection task with no HTTP/1 framing (server/detached_stream.rs).
    done.hand_over(resp.body_mut().hand_over(), version == Version::HTTP_11);
    *resp.version_mut() = Version::HTTP_10;
  }
  Ok(resp)
}

/// `request_done` for a request whose future hyper dropped before its reply had a body
/// to carry it.
struct Busy(Option<Arc<ConnectionKill>>);

impl Busy {
  fn hand_to_body(mut self) {
    self.0 = None;
  }
}

impl Drop for Busy {
  fn drop(&mut self) {
    if let Some(c) = self.0.take() {
      c.request_done();
    }
  }
}

/// h2 sends a request's cookies as separate fields and its host as `:authority`; JS
/// and its middleware read them as HTTP/1.1 has them (RFC 9113, section 8.2.3: joined
/// with "; "; a Host header).
fn as_http1_headers(headers: &mut hyper::HeaderMap, uri: &hyper::Uri) {
  use hyper::header::{HeaderValue, COOKIE, HOST};
  if headers.get_all(COOKIE).iter().nth(1).is_some() {
    let joined: Vec<u8> = headers.get_all(COOKIE).iter().map(|v| v.as_bytes()).collect::<Vec<_>>().join(&b"; "[..]);
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
      headers.insert(COOKIE, value);
    }
  }
  if !headers.contains_key(HOST) {
    if let Some(value) = uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
      headers.insert(HOST, value);
    }
  }
}

/// An SSE stream: it is written to the socket directly, not through hyper.
fn is_event_stream(resp: &Response<ResponseBody>) -> bool {
  const SSE: &[u8] = b"text/event-stream";
  resp.status() == StatusCode::OK
    && resp.body().is_stream()
    && resp.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().len() >= SSE.len() && v.as_bytes()[..SSE.len()].eq_ignore_ascii_case(SSE))
}

/// The Content-Length a handler set on a streamed response.
fn declared_length(resp: &Response<ResponseBody>) -> Option<u64> {
  if !resp.body().is_stream() {
    return None;
  }
  resp.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// The response, and whether the request's body is still there unread (so not finished).
async fn route_to_js(state: Arc<ServerState>, remote: SocketAddr, connection: Arc<ConnectionKill>, req: Request<Incoming>) -> (Response<ResponseBody>, bool) {
  if state.limits.panic_test_hook && req.headers().contains_key("x-hyper-sse-test-panic") {
    panic!("hyper-sse test hook: deliberate panic in the request path");
  }
  let (mut parts, body) = req.into_parts();
  if parts.version == Version::HTTP_2 {
    as_http1_headers(&mut parts.headers, &parts.uri);
  }
  let matched = state.router.read().find(&parts.method, parts.uri.path());
  let (route, params) = match matched {
    Some(m) if m.body_limit.is_some_and(|limit| declared_body(&parts.headers) > limit) => {
      // As HyperExpress: the handler never runs. The body is read and dropped, so a
      // client still sending gets the 413 and no reset (and the connection lives on).
      request_body::discard(body);
      return (plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"), false);
    }
    Some(m) => (m.route, m.params),
    None if state.dispatch_unmatched.load(Ordering::Relaxed) => (UNMATCHED, Vec::new()),
    None => return (plain(StatusCode::NOT_FOUND, ""), false),
  };

  state.stats.request();
  let id = state.next_id();
  let (reply, replied) = oneshot::channel();
  state.exchanges.insert(id, Exchange {
    headers: RequestHeaders::Map(Box::new(parts.headers)),
    remote,
    version: parts.version,
    body: Some(body),
    body_read: None,
    body_flow: None,
    reply: Reply::Pending(reply),
    watched: false,
    connection,
    started_ms: state.clock.now_ms(),
  });
  // From here on, however this future ends (answered, client gone, server closing),
  // the guard ends the exchange exactly once.
  let guard = CloseGuard::new(id, state.clone());
  if !state.events.push(Event::Request { id, route, method: parts.method, target: parts.uri, params }) {
    guard.disarm();
    return (plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"), false);
  }
  // A handler that never answers is answered by the deadline sweep
  // (handler_deadline.rs), through this same channel.
  match replied.await {
    Ok(mut resp) => {
      let mut body_unread = false;
      if resp.body().is_stream() {
        body_unread = request_body::settle_for_stream(&state, id, state.limits.max_body);
        resp.body_mut().attach_guard(guard);
      } else {
        guard.disarm();
      }
      (resp, body_unread)
    }
    Err(_) => {
      guard.disarm();
      (plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"), false)
    }
  }
}

/// The Content-Length a request declares (0 if none or unreadable).
fn declared_body(headers: &hyper::HeaderMap) -> u64 {
  headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

pub fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
  let mut resp = Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
  *resp.status_mut() = status;
  if !text.is_empty() {
    resp.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
  }
  resp
}
