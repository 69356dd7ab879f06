//! The per-request record: what Rust keeps for a request while JS handles it, keyed
//! by the id JS holds, and the reply state machine JS drives through it.
//!
//!   Pending (JS has not answered) -> Full (one-shot reply, record removed)
//!                                  -> Streaming (write / SSE) -> Ended
//! A stale id (the exchange is over) is never an error: writes just return false.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{HeaderMap, Response};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::body::ResponseBody;

pub enum Reply {
  Pending(oneshot::Sender<Response<ResponseBody>>),
  Streaming(mpsc::UnboundedSender<Bytes>),
  Ended,
}

pub struct Exchange {
  pub headers: HeaderMap,
  pub remote: SocketAddr,
  pub version: hyper::Version,
  pub body: Option<Incoming>,
  pub reply: Reply,
  /// JS wants to hear when this exchange ends (close/abort listeners, streams).
  pub watched: bool,
}

#[derive(Default)]
pub struct Exchanges {
  map: Mutex<HashMap<u64, Exchange>>,
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

  pub fn len(&self) -> usize {
    self.map.lock().len()
  }

  /// Ends every open stream (server shutdown): each one's body finishes cleanly.
  pub fn end_all_streams(&self) {
    for ex in self.map.lock().values_mut() {
      if matches!(ex.reply, Reply::Streaming(_)) {
        ex.reply = Reply::Ended;
      }
    }
  }

  /// Sends a head with a streaming body. Returns false if the client is gone or the
  /// exchange already answered.
  pub fn start_stream(&self, id: u64, head: impl FnOnce() -> hyper::http::response::Builder) -> Result<bool, hyper::http::Error> {
    let mut map = self.map.lock();
    let Some(ex) = map.get_mut(&id) else { return Ok(false) };
    let Reply::Pending(_) = ex.reply else { return Ok(false) };
    let (tx, rx) = mpsc::unbounded_channel();
    let resp = head().body(ResponseBody::stream(rx))?;
    let Reply::Pending(reply) = std::mem::replace(&mut ex.reply, Reply::Streaming(tx)) else { unreachable!() };
    ex.watched = true;
    if reply.send(resp).is_err() {
      map.remove(&id);
      return Ok(false);
    }
    Ok(true)
  }

  /// Queues bytes on an open stream.
  pub fn write(&self, id: u64, bytes: Bytes) -> bool {
    let map = self.map.lock();
    match map.get(&id).map(|ex| &ex.reply) {
      Some(Reply::Streaming(tx)) => tx.send(bytes).is_ok(),
      _ => false,
    }
  }

  /// Ends an open stream, after `last` if given.
  pub fn end_stream(&self, id: u64, last: Option<Bytes>) -> bool {
    let mut map = self.map.lock();
    let Some(ex) = map.get_mut(&id) else { return false };
    let Reply::Streaming(tx) = std::mem::replace(&mut ex.reply, Reply::Ended) else { return false };
    match last {
      Some(b) if !b.is_empty() => tx.send(b).is_ok(),
      _ => !tx.is_closed(),
    }
  }

  /// Answers a pending exchange in one piece and forgets it.
  pub fn respond(&self, id: u64, resp: Response<ResponseBody>) -> bool {
    let Some(ex) = self.map.lock().remove(&id) else { return false };
    match ex.reply {
      Reply::Pending(reply) => reply.send(resp).is_ok(),
      other => {
        // Already streaming: put it back untouched.
        self.map.lock().insert(id, Exchange { reply: other, ..ex });
        false
      }
    }
  }
}
