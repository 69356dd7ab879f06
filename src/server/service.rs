//! One HTTP request: route it in Rust, hand it to JS through the event queue, and
//! wait for the reply JS sends back through the exchange table.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::router::UNMATCHED;
use super::state::ServerState;
use crate::bridge::events::Event;
use crate::http::body::{CloseGuard, ResponseBody};
use crate::http::exchange::{Exchange, Reply};
use crate::http::stream::ConnectionKill;

pub async fn handle(
  state: Arc<ServerState>,
  remote: SocketAddr,
  connection: Arc<ConnectionKill>,
  req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
  let (parts, body) = req.into_parts();
  let matched = state.router.read().find(&parts.method, parts.uri.path());
  let (route, params) = match matched {
    Some(m) => (m.route, m.params),
    None if state.dispatch_unmatched.load(Ordering::Relaxed) => (UNMATCHED, Vec::new()),
    None => return Ok(plain(StatusCode::NOT_FOUND, "")),
  };

  state.stats.request();
  let id = state.next_id();
  let (reply, replied) = oneshot::channel();
  let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
  state.exchanges.insert(id, Exchange {
    headers: parts.headers,
    remote,
    version: parts.version,
    body: Some(body),
    reply: Reply::Pending(reply),
    watched: false,
    connection,
  });
  // From here on, however this future ends (answered, client gone, server closing),
  // the guard ends the exchange exactly once.
  let guard = CloseGuard::new(id, state.clone());
  if !state.events.push(Event::Request { id, route, method: parts.method.as_str().to_owned(), target, params }) {
    guard.disarm();
    return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
  }
  match replied.await {
    Ok(mut resp) => {
      if resp.body().is_stream() {
        resp.body_mut().attach_guard(guard);
      } else {
        guard.disarm();
      }
      Ok(resp)
    }
    Err(_) => {
      guard.disarm();
      Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"))
    }
  }
}

pub fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
  let mut resp = Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
  *resp.status_mut() = status;
  if !text.is_empty() {
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
  }
  resp
}
