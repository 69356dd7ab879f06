//! A request body read whole in Rust, up to a limit: for JS's `req.buffer()` (and its
//! `text()`/`json()`), and for a response stream that starts before its request's body
//! was read. The second case matters because hyper reads a connection's socket only for
//! whoever reads the request body: with nobody reading it, a client that leaves goes
//! unnoticed until the next write, and a stream never leaves hyper (server/service.rs).
//! So such a body is read early and kept until JS asks for it.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::runtime::Handle;

use super::exchange::{Exchange, Reply};
use crate::server::event_queue::Event;
use crate::server::state::ServerState;

/// The most a read reserves before the bytes arrive.
const INITIAL_CAPACITY_MAX: u64 = 64 * 1024;

/// A body read under way or done, shared by the exchange and the reading task: the
/// exchange may end first (a reply sent while the body still arrives), and JS still
/// gets what it asked for.
#[derive(Default)]
pub struct BodyRead(Mutex<ReadState>);

#[derive(Default)]
struct ReadState {
  /// JS's limit, once JS has asked.
  wanted: Option<usize>,
  /// The result, read before JS asked.
  done: Option<Result<Bytes, ReadError>>,
  /// The reading task is done with the body (hyper may finish the connection).
  ended: bool,
}

enum ReadError {
  TooLarge,
  Bad(String),
}

/// What JS's request for the body found.
pub enum Asked {
  /// Nothing to read (none, or already read): JS gets an empty body.
  Nothing,
  /// The result comes as a body event.
  Coming,
}

/// Reads `body` on `rt`, keeping at most `cap` bytes (`declared`: its Content-Length).
/// Past `cap`, JS hears at once (HyperExpress answers 413) and the rest is drained, so a
/// client still sending gets that reply and no reset, and hyper goes on reading the
/// socket and sees a client that leaves. A read that breaks off under a stream (most
/// often: the client left) ends the connection, for the same reason.
fn spawn_read(rt: &Handle, state: &Arc<ServerState>, id: u64, slot: Arc<BodyRead>, mut body: Incoming, cap: usize, declared: Option<u64>) {
  let state = state.clone();
  rt.spawn(async move {
    // Sized from what the client declares, within reason: it need not send it.
    let mut kept = BytesMut::with_capacity(declared.map_or(0, |n| n.min(cap as u64).min(INITIAL_CAPACITY_MAX) as usize));
    let result = loop {
      // A sized body is over at its last byte: asking hyper for another frame would
      // wait for the connection's next bytes.
      let frame = if http_body::Body::is_end_stream(&body) { None } else { body.frame().await };
      match frame {
        // h2: hyper ends a body whose stream the client reset (CANCEL, NO_ERROR) as if
        // it were whole; short of its declared length, it is not.
        None if declared.is_some_and(|n| (kept.len() as u64) < n) => {
          break Err(ReadError::Bad("the request body ended before its Content-Length".into()));
        }
        None => break Ok(exact(kept)),
        Some(Err(e)) => {
          cut_off_stream(&state, id);
          break Err(ReadError::Bad(format!("could not read the request body: {e}")));
        }
        Some(Ok(frame)) => {
          let Ok(data) = frame.into_data() else { continue };
          if kept.len() + data.len() > cap {
            break Err(ReadError::TooLarge);
          }
          kept.extend_from_slice(&data);
        }
      }
    };
    let too_large = matches!(result, Err(ReadError::TooLarge));
    report(&state, id, &slot, result);
    if too_large && drain(&mut body).await {
      cut_off_stream(&state, id);
    }
    drop(body);
    slot.0.lock().ended = true;
  });
}

/// A stream whose request body broke off ends its connection: hyper, no longer asked
/// for the body, would not see the client leave.
fn cut_off_stream(state: &ServerState, id: u64) {
  state.exchanges.with(id, |ex| {
    if is_streaming(&ex.reply) {
      ex.connection.cut_off_exchange();
    }
  });
}

/// Longest a refused body is read and dropped.
const DISCARD_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads the rest of `body` and drops it, for at most DISCARD_FOR; true if it broke off
/// (the client left).
async fn drain(body: &mut Incoming) -> bool {
  let until = tokio::time::Instant::now() + DISCARD_FOR;
  while !http_body::Body::is_end_stream(body) {
    match tokio::time::timeout_at(until, body.frame()).await {
      Ok(Some(Ok(_))) => {}
      Ok(Some(Err(_))) => return true,
      // The end, or sent for too long: the reply went out long ago.
      Ok(None) | Err(_) => return false,
    }
  }
  false
}

/// Drains `body` in a task of its own (see `drain`): a reply that refused it goes out
/// meanwhile, and the client, still sending, sees no reset.
pub fn discard(mut body: Incoming) {
  tokio::spawn(async move {
    drain(&mut body).await;
  });
}

fn is_streaming(reply: &Reply) -> bool {
  matches!(reply, Reply::Streaming(_))
}

/// The bytes without the spare capacity of a growing buffer: a kept body may live as
/// long as its stream.
fn exact(kept: BytesMut) -> Bytes {
  if kept.capacity() - kept.len() > kept.len() / 8 {
    Bytes::copy_from_slice(&kept)
  } else {
    kept.freeze()
  }
}

/// A read's result: JS gets it if it asked, else the slot keeps it for when it does.
fn report(state: &ServerState, id: u64, slot: &BodyRead, result: Result<Bytes, ReadError>) {
  let wanted = {
    let mut read = slot.0.lock();
    if read.wanted.is_none() {
      read.done = Some(result);
      return;
    }
    read.wanted
  };
  if let Some(limit) = wanted {
    deliver(state, id, limit, result);
  }
}

/// JS asks for the body, at most `limit` bytes.
pub fn ask(rt: &Handle, state: &Arc<ServerState>, id: u64, limit: usize) -> Asked {
  enum Found {
    Unread(Incoming, Arc<BodyRead>, Option<u64>),
    Reading(Arc<BodyRead>),
    TooLarge,
    Nothing,
  }
  let found = state.exchanges.with(id, |ex| {
    if let Some(body) = ex.body.take() {
      let declared = declared_length(ex);
      if declared.is_some_and(|n| n > limit as u64) {
        // Dropped unread: hyper stops reading it.
        return Found::TooLarge;
      }
      let slot = Arc::new(BodyRead(Mutex::new(ReadState { wanted: Some(limit), ..ReadState::default() })));
      ex.body_read = Some(slot.clone());
      return Found::Unread(body, slot, declared);
    }
    match &ex.body_read {
      Some(slot) => Found::Reading(slot.clone()),
      None => Found::Nothing,
    }
  });
  match found {
    None | Some(Found::Nothing) => Asked::Nothing,
    Some(Found::TooLarge) => {
      deliver(state, id, limit, Err(ReadError::TooLarge));
      Asked::Coming
    }
    Some(Found::Unread(body, slot, declared)) => {
      spawn_read(rt, state, id, slot, body, limit, declared);
      Asked::Coming
    }
    Some(Found::Reading(slot)) => {
      let done = {
        let mut read = slot.0.lock();
        if read.wanted.is_some() {
          // Asked before: its answer is on the way (JS asks once per request).
          return Asked::Nothing;
        }
        read.wanted = Some(limit);
        read.done.take()
      };
      if let Some(result) = done {
        deliver(state, id, limit, result);
      }
      Asked::Coming
    }
  }
}

/// Whether the request's body is still arriving or unread (a stream must then stay in
/// hyper): a body left unread starts being read here, up to `cap` bytes. Runs on the
/// runtime.
pub fn settle_for_stream(state: &Arc<ServerState>, id: u64, cap: usize) -> bool {
  enum Found {
    Unread(Incoming, Arc<BodyRead>, Option<u64>),
    Reading,
    Finished,
  }
  let found = state.exchanges.with(id, |ex| {
    if let Some(body) = ex.body.take() {
      if http_body::Body::is_end_stream(&body) {
        return Found::Finished;
      }
      let slot = Arc::new(BodyRead::default());
      ex.body_read = Some(slot.clone());
      return Found::Unread(body, slot, declared_length(ex));
    }
    // Still being read for JS (a finished read leaves its result in the slot), or
    // streamed to JS.
    if ex.body_flow.as_ref().is_some_and(|f| f.0.is_reading()) {
      return Found::Reading;
    }
    match &ex.body_read {
      Some(slot) if !slot.0.lock().ended => Found::Reading,
      _ => Found::Finished,
    }
  });
  match found {
    Some(Found::Unread(body, slot, declared)) => {
      spawn_read(&Handle::current(), state, id, slot, body, cap, declared);
      true
    }
    Some(Found::Reading) => true,
    Some(Found::Finished) | None => false,
  }
}

/// The Content-Length the request declares. Several values (joined) don't parse: the
/// limit decides then.
pub(super) fn declared_length(ex: &Exchange) -> Option<u64> {
  ex.headers.get(hyper::header::CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<u64>().ok())
}

fn deliver(state: &ServerState, id: u64, limit: usize, result: Result<Bytes, ReadError>) {
  let result = match result {
    Ok(bytes) if bytes.len() <= limit => Ok(bytes),
    Ok(_) | Err(ReadError::TooLarge) => Err((413, format!("request body is larger than the limit of {limit} bytes"))),
    Err(ReadError::Bad(message)) => Err((400, message)),
  };
  state.events.push(Event::Body { id, result });
}
