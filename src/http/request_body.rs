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
use tokio::runtime::Handle;

use super::exchange::Reply;
use crate::bridge::events::Event;
use crate::server::state::ServerState;

/// A body being read, or read before JS asked for it; kept in the request's exchange.
pub enum BodyRead {
  /// `wanted`: JS's limit, once JS has asked for the body.
  Reading { wanted: Option<usize> },
  Done(Result<Bytes, ReadError>),
}

pub enum ReadError {
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

/// Reads `body`, keeping at most `cap` bytes, on `rt`. The exchange must already say
/// `BodyRead::Reading`: the read may end before this returns. Past `cap`, a read JS
/// asked for stops (its answer will be a 413 and hyper will not reuse the connection);
/// an early one reads on to the end, discarding, so hyper goes on reading the socket
/// and sees the client leave.
fn spawn_read(rt: &Handle, state: &Arc<ServerState>, id: u64, mut body: Incoming, cap: usize, drain: bool) {
  let state = state.clone();
  rt.spawn(async move {
    let mut kept = BytesMut::new();
    let mut too_large = false;
    let result = loop {
      match body.frame().await {
        None => break if too_large { Err(ReadError::TooLarge) } else { Ok(kept.freeze()) },
        Some(Err(e)) => break Err(ReadError::Bad(format!("could not read the request body: {e}"))),
        Some(Ok(frame)) => {
          let Ok(data) = frame.into_data() else { continue };
          if too_large {
            continue;
          }
          if kept.len() + data.len() > cap {
            too_large = true;
            kept = BytesMut::new();
            if !drain {
              break Err(ReadError::TooLarge);
            }
          } else {
            kept.extend_from_slice(&data);
          }
        }
      }
    };
    finished(&state, id, result);
  });
}

/// A read ended: JS gets it if it asked, else the exchange keeps it for when it does.
fn finished(state: &ServerState, id: u64, result: Result<Bytes, ReadError>) {
  let mut result = Some(result);
  let wanted = state
    .exchanges
    .with(id, |ex| match ex.body_read.as_deref() {
      Some(&BodyRead::Reading { wanted: Some(limit) }) => {
        ex.body_read = None;
        Some(limit)
      }
      Some(BodyRead::Reading { wanted: None }) => {
        if matches!(result, Some(Err(ReadError::Bad(_)))) && matches!(ex.reply, Reply::Streaming(_)) {
          // The request broke off (most often: the client left) under a response that
          // is already streaming and cannot answer it: end the connection.
          ex.connection.kill();
        }
        ex.body_read = result.take().map(|r| Box::new(BodyRead::Done(r)));
        None
      }
      _ => None,
    })
    .flatten();
  if let (Some(limit), Some(result)) = (wanted, result) {
    deliver(state, id, limit, result);
  }
}

/// JS asks for the body, at most `limit` bytes.
pub fn ask(rt: &Handle, state: &Arc<ServerState>, id: u64, limit: usize) -> Asked {
  enum Found {
    Unread(Incoming),
    Ready(Result<Bytes, ReadError>),
    Waiting,
    Nothing,
  }
  let found = state.exchanges.with(id, |ex| {
    if let Some(body) = ex.body.take() {
      // Several Content-Length values (joined) don't parse: the limit decides.
      let declared = ex.headers.get(hyper::header::CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
      if declared.is_some_and(|n| n > limit as u64) {
        // Dropped unread: hyper stops reading it.
        return Found::Ready(Err(ReadError::TooLarge));
      }
      ex.body_read = Some(Box::new(BodyRead::Reading { wanted: Some(limit) }));
      return Found::Unread(body);
    }
    match ex.body_read.as_deref_mut() {
      Some(BodyRead::Reading { wanted }) if wanted.is_none() => {
        *wanted = Some(limit);
        Found::Waiting
      }
      Some(BodyRead::Done(_)) => match ex.body_read.take().map(|b| *b) {
        Some(BodyRead::Done(result)) => Found::Ready(result),
        _ => Found::Nothing,
      },
      _ => Found::Nothing,
    }
  });
  match found {
    None | Some(Found::Nothing) => Asked::Nothing,
    Some(Found::Waiting) => Asked::Coming,
    Some(Found::Ready(result)) => {
      deliver(state, id, limit, result);
      Asked::Coming
    }
    Some(Found::Unread(body)) => {
      spawn_read(rt, state, id, body, limit, false);
      Asked::Coming
    }
  }
}

/// Whether the request's body is still arriving or unread (a stream must then stay in
/// hyper): a body left unread starts being read here, up to `cap` bytes. Runs on the
/// runtime.
pub fn settle_for_stream(state: &Arc<ServerState>, id: u64, cap: usize) -> bool {
  state
    .exchanges
    .with(id, |ex| {
      if let Some(body) = ex.body.take() {
        if http_body::Body::is_end_stream(&body) {
          return false;
        }
        ex.body_read = Some(Box::new(BodyRead::Reading { wanted: None }));
        spawn_read(&Handle::current(), state, id, body, cap, true);
        return true;
      }
      matches!(ex.body_read.as_deref(), Some(BodyRead::Reading { .. }))
    })
    .unwrap_or(false)
}

fn deliver(state: &ServerState, id: u64, limit: usize, result: Result<Bytes, ReadError>) {
  let result = match result {
    Ok(bytes) if bytes.len() <= limit => Ok(bytes),
    Ok(_) | Err(ReadError::TooLarge) => Err((413, format!("request body is larger than the limit of {limit} bytes"))),
    Err(ReadError::Bad(message)) => Err((400, message)),
  };
  state.events.push(Event::Body { id, result });
}
