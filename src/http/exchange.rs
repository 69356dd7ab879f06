//! The per-request record: what Rust keeps for a request while JS handles it, keyed
//! by the id JS holds, and the reply state machine JS drives through it.
//!
//!   Pending (JS has not answered) -> Full (one-shot reply, record removed)
//!                                  -> Streaming (write / SSE) -> Ended
//! A stale id (the exchange is over) is never an error: writes just return false.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{HeaderMap, Response};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::body::ResponseBody;
use super::request_body::BodyRead;
use super::request_stream::FlowHandle;
use super::stream::{ConnectionKill, Pushed, StreamQueue};
use crate::server::handoff::Handoff;

pub enum Reply {
  Pending(oneshot::Sender<Response<ResponseBody>>),
  Streaming(Arc<StreamQueue>),
  Ended,
}

/// The request headers JS may still ask for. An open stream keeps them as one compact
/// string: the map's values point into hyper's 8 KiB read buffer, and holding them
/// would keep that buffer alive for as long as the stream lasts. The map is boxed so
/// that every slot of the exchange table (one per open stream) stays small.
pub enum RequestHeaders {
  Map(Box<HeaderMap>),
  /// `"name\nvalue\nname\nvalue"`, as `text()` gives it.
  Compact(Box<str>),
}

impl RequestHeaders {
  /// `"name\nvalue\nname\nvalue"`, names lower-case, in arrival order. Neither names
  /// nor values can hold a line feed.
  pub fn text(&self) -> String {
    match self {
      Self::Compact(t) => t.to_string(),
      Self::Map(map) => {
        let mut out = String::with_capacity(map.len() * 32);
        for (name, value) in map.iter() {
          if !out.is_empty() {
            out.push('\n');
          }
          out.push_str(name.as_str());
          out.push('\n');
          out.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        out
      }
    }
  }

  /// Every value of `name` (lower-case) joined with ", ", as Node joins them; None if
  /// the request has no such header.
  pub fn get(&self, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    let mut add = |v: &str| match out.as_mut() {
      None => out = Some(v.to_string()),
      Some(o) => {
        o.push_str(", ");
        o.push_str(v);
      }
    };
    match self {
      Self::Map(map) => {
        for v in map.get_all(name) {
          add(&String::from_utf8_lossy(v.as_bytes()));
        }
      }
      Self::Compact(t) => {
        let mut parts = t.split('\n');
        while let (Some(n), Some(v)) = (parts.next(), parts.next()) {
          if n == name {
            add(v);
          }
        }
      }
    }
    out
  }

  fn compact(&mut self) {
    if let Self::Map(_) = self {
      *self = Self::Compact(self.text().into_boxed_str());
    }
  }
}

pub struct Exchange {
  pub headers: RequestHeaders,
  pub remote: SocketAddr,
  pub version: hyper::Version,
  /// The request body, until someone reads it (http/request_body.rs).
  pub body: Option<Incoming>,
  /// Its reading, once started.
  pub body_read: Option<Arc<BodyRead>>,
  /// Its streaming to JS, once started (http/request_stream.rs).
  pub body_flow: Option<FlowHandle>,
  pub reply: Reply,
  /// JS wants to hear when this exchange ends (close/abort listeners, streams).
  pub watched: bool,
  /// Cuts this request's connection off (a stream whose client is too slow).
  pub connection: Arc<ConnectionKill>,
  /// When the request reached JS, on the server's coarse clock (handler deadline).
  pub started_ms: u64,
}

impl Exchange {
  /// Takes the reply channel if JS has not answered yet, leaving `next` in its place.
  fn take_pending(&mut self, next: Reply) -> Option<oneshot::Sender<Response<ResponseBody>>> {
    if !matches!(self.reply, Reply::Pending(_)) {
      return None;
    }
    match std::mem::replace(&mut self.reply, next) {
      Reply::Pending(tx) => Some(tx),
      _ => None,
    }
  }
}

/// Ids are a counter, not attacker-chosen: a multiplicative hash spreads them over the
/// table's bits for a fraction of SipHash's cost (three lookups per request).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for b in bytes {
      self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
  }
  fn write_u64(&mut self, id: u64) {
    self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
  }
}

#[derive(Default)]
pub struct Exchanges {
  map: Mutex<HashMap<u64, Exchange, BuildHasherDefault<IdHasher>>>,
}

impl Exchanges {
  pub fn insert(&self, id: u64, ex: Exchange) {
    self.map.lock().insert(id, ex);
  }

  pub fn remove(&self, id: u64) -> Option<Exchange> {
    self.map.lock().remove(&id)
  }

  pub fn with<R>(&self, id: u64, f: impl FnOnce(&mut Exchange) -> R) -> Option<R> {
    self.map.lock().get_mut(&id).map(f)
  }

  /// Ends every open stream (server shutdown), after `last` if given: each one's body
  /// finishes cleanly.
  pub fn end_all_streams(&self, last: Option<&Bytes>) {
    for ex in self.map.lock().values_mut() {
      if let Reply::Streaming(q) = &ex.reply {
        if let Some(b) = last {
          q.push_event(b.clone());
        }
        q.end();
        ex.reply = Reply::Ended;
      }
    }
  }

  /// Sends a head with a streaming body fed by `queue`. Returns false if the client is
  /// gone or the exchange already answered.
  pub fn start_stream(
    &self,
    handoff: &Handoff,
    id: u64,
    new_queue: impl FnOnce(Arc<ConnectionKill>) -> Arc<StreamQueue>,
    head: impl FnOnce() -> hyper::http::response::Builder,
  ) -> Result<bool, hyper::http::Error> {
    let mut map = self.map.lock();
    let Some(ex) = map.get_mut(&id) else { return Ok(false) };
    if !matches!(ex.reply, Reply::Pending(_)) {
      return Ok(false);
    }
    let queue = new_queue(ex.connection.clone());
    ex.headers.compact();
    let resp = head().body(ResponseBody::stream(queue.clone()))?;
    let Some(reply) = ex.take_pending(Reply::Streaming(queue)) else { return Ok(false) };
    ex.watched = true;
    if !handoff.reply(reply, resp) {
      map.remove(&id);
      return Ok(false);
    }
    Ok(true)
  }

  /// The queue of an open stream (to subscribe it to a channel, or tune it).
  pub fn stream(&self, id: u64) -> Option<Arc<StreamQueue>> {
    match self.map.lock().get(&id).map(|ex| &ex.reply) {
      Some(Reply::Streaming(q)) => Some(q.clone()),
      _ => None,
    }
  }

  /// Queues bytes on an open stream.
  pub fn write(&self, id: u64, bytes: Bytes) -> Pushed {
    // Clone the queue out so the table lock is not held while pushing.
    match self.stream(id) {
      Some(q) => q.push(bytes),
      None => Pushed::Closed,
    }
  }

  /// Ends an open stream, after `last` if given. False if the client is gone.
  pub fn end_stream(&self, id: u64, last: Option<Bytes>) -> bool {
    let queue = {
      let mut map = self.map.lock();
      let Some(ex) = map.get_mut(&id) else { return false };
      let Reply::Streaming(q) = std::mem::replace(&mut ex.reply, Reply::Ended) else { return false };
      q
    };
    let ok = match last {
      Some(b) => !matches!(queue.push(b), Pushed::Closed),
      None => queue.is_open(),
    };
    queue.end();
    ok
  }

  /// Forgets every exchange JS has not started answering since `cutoff_ms`; returns
  /// their ids, whether JS watches them, and their reply channels.
  pub fn expire_pending(&self, cutoff_ms: u64) -> Vec<(u64, bool, oneshot::Sender<Response<ResponseBody>>)> {
    let mut expired = Vec::new();
    self.map.lock().retain(|id, ex| {
      if ex.started_ms > cutoff_ms {
        return true;
      }
      match ex.take_pending(Reply::Ended) {
        Some(tx) => {
          expired.push((*id, ex.watched, tx));
          false
        }
        None => true,
      }
    });
    expired
  }

  /// Answers a pending exchange in one piece. The record stays until the request's
  /// task on the runtime sees the reply and removes it (its guard), so it is freed on
  /// the thread that made it and not copied out here.
  pub fn respond(&self, handoff: &Handoff, id: u64, resp: Response<ResponseBody>) -> bool {
    let reply = self.map.lock().get_mut(&id).and_then(|ex| ex.take_pending(Reply::Ended));
    reply.is_some_and(|to| handoff.reply(to, resp))
  }
}
