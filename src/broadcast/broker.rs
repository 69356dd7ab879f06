//! Channels shared across processes through Redis (issue 15): the Redis side only.
//! Not wired to JS yet; see the module's tests for what it guarantees so far.
//!
//! Design (after Centrifugo's Redis engine): one Lua script per publish, so Redis does
//! a constant amount of work per event whatever the subscriber count:
//! - `HINCRBY <meta> offset 1` numbers the event; `<meta>.epoch` names this run of the
//!   channel's history (a new random epoch when Redis lost it: restarted empty, or the
//!   key expired), so an id `epoch-offset` never means two different events;
//! - `XADD <stream> MAXLEN ~ N <offset>-1 e <event>` keeps the history, trimmed;
//! - `PUBLISH <pubsub> <epoch>:<offset>:<event>` fans it out to every process.
//!
//! `<event>` is the event already encoded for the wire without its `id:` line (encoded
//! once, by the publisher); a subscriber puts `id: epoch-offset` in front. A client's
//! Last-Event-ID maps straight to `XRANGE <stream> (<offset>-1 +` when its epoch is the
//! current one; otherwise its missed range is gone, and the caller says so.

use redis::aio::ConnectionLike;
use redis::{RedisResult, Script};

/// Where an event sits in a channel's history: the history's epoch and the event's
/// offset in it. Written `epoch-offset` as the SSE id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventId {
  pub epoch: String,
  pub offset: u64,
}

impl EventId {
  pub fn parse(text: &str) -> Option<Self> {
    let (epoch, offset) = text.rsplit_once('-')?;
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_alphanumeric()) {
      return None;
    }
    Some(Self { epoch: epoch.to_string(), offset: offset.parse().ok()? })
  }
}

impl std::fmt::Display for EventId {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "{}-{}", self.epoch, self.offset)
  }
}

/// Redis keys and the Pub/Sub name of channel `name`.
pub struct Keys {
  pub meta: String,
  pub stream: String,
  pub pubsub: String,
}

impl Keys {
  pub fn of(name: &str) -> Self {
    // A hash tag keeps a channel's keys in one cluster slot.
    Self { meta: format!("hyper-sse:{{{name}}}:meta"), stream: format!("hyper-sse:{{{name}}}:stream"), pubsub: format!("hyper-sse:{name}") }
  }
}

const PUBLISH_LUA: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], offset .. '-1', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[4], epoch .. ':' .. offset .. ':' .. ARGV[1])
return {epoch, offset}
";

/// A new epoch name: the time and a process-local counter, in base 36 (unique enough:
/// it only has to differ from the epoch a history had before Redis lost it).
pub fn new_epoch() -> String {
  use std::sync::atomic::{AtomicU64, Ordering};
  static COUNTER: AtomicU64 = AtomicU64::new(0);
  let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
  let n = nanos ^ (std::process::id() as u64) << 40 ^ COUNTER.fetch_add(1, Ordering::Relaxed);
  radix36(n)
}

fn radix36(mut n: u64) -> String {
  const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
  let mut out = Vec::new();
  loop {
    out.push(DIGITS[(n % 36) as usize]);
    n /= 36;
    if n == 0 {
      break;
    }
  }
  out.reverse();
  String::from_utf8(out).expect("ascii")
}

/// Publishes `event` (encoded, without its id line) to channel `name`, keeping about
/// `history` events. Resolves once Redis has it, with its id.
pub async fn publish<C: ConnectionLike>(conn: &mut C, name: &str, event: &[u8], history: usize) -> RedisResult<EventId> {
  let keys = Keys::of(name);
  let (epoch, offset): (String, u64) = Script::new(PUBLISH_LUA)
    .key(&keys.meta)
    .key(&keys.stream)
    .arg(event)
    .arg(history.max(1))
    .arg(new_epoch())
    .arg(&keys.pubsub)
    .invoke_async(conn)
    .await?;
  Ok(EventId { epoch, offset })
}

/// One message from the channel's Pub/Sub: its id and its encoded event.
pub fn parse_message(payload: &[u8]) -> Option<(EventId, &[u8])> {
  let first = payload.iter().position(|&b| b == b':')?;
  let second = first + 1 + payload[first + 1..].iter().position(|&b| b == b':')?;
  let epoch = std::str::from_utf8(&payload[..first]).ok()?;
  let offset = std::str::from_utf8(&payload[first + 1..second]).ok()?.parse().ok()?;
  Some((EventId { epoch: epoch.to_string(), offset }, &payload[second + 1..]))
}

/// What a client that last saw `after` missed.
#[derive(Debug, PartialEq, Eq)]
pub enum Missed {
  /// Every event after it, in order (possibly none).
  Events(Vec<(EventId, Vec<u8>)>),
  /// Some of them are no longer kept (trimmed, or a new epoch): the client must be told.
  Gone,
}

/// The current epoch of channel `name`'s history, if it has one.
pub async fn epoch_of<C: ConnectionLike>(conn: &mut C, name: &str) -> RedisResult<Option<String>> {
  redis::cmd("HGET").arg(&Keys::of(name).meta).arg("epoch").query_async(conn).await
}

/// Every event of `epoch` still kept (a history that began while this process was cut
/// off from Redis: it was restarted empty).
pub async fn kept_since_start<C: ConnectionLike>(conn: &mut C, name: &str, epoch: &str) -> RedisResult<Vec<(EventId, Vec<u8>)>> {
  read_range(conn, name, epoch, "-").await
}

/// The stream's entries from `start` (an XRANGE bound) on, as events of `epoch`.
async fn read_range<C: ConnectionLike>(conn: &mut C, name: &str, epoch: &str, start: &str) -> RedisResult<Vec<(EventId, Vec<u8>)>> {
  let entries: Vec<(String, Vec<(String, Vec<u8>)>)> = redis::cmd("XRANGE").arg(&Keys::of(name).stream).arg(start).arg("+").query_async(conn).await?;
  Ok(entries
    .into_iter()
    .map(|(id, fields)| {
      let offset = id.split('-').next().and_then(|o| o.parse().ok()).unwrap_or(0);
      let event = fields.into_iter().find(|(k, _)| k == "e").map(|(_, v)| v).unwrap_or_default();
      (EventId { epoch: epoch.to_string(), offset }, event)
    })
    .collect())
}

/// The events of channel `name` after `after`, from the history.
pub async fn missed_since<C: ConnectionLike>(conn: &mut C, name: &str, after: &EventId) -> RedisResult<Missed> {
  if epoch_of(conn, name).await?.as_deref() != Some(after.epoch.as_str()) {
    return Ok(Missed::Gone);
  }
  let out = read_range(conn, name, &after.epoch, &format!("({}-1", after.offset)).await?;
  // The first one kept must follow `after` directly, or some were trimmed.
  let current: u64 = redis::cmd("HGET").arg(&Keys::of(name).meta).arg("offset").query_async::<Option<u64>>(conn).await?.unwrap_or(0);
  let expected = current.saturating_sub(after.offset) as usize;
  if out.len() != expected || out.first().is_some_and(|(id, _)| id.offset != after.offset + 1) {
    return Ok(Missed::Gone);
  }
  Ok(Missed::Events(out))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ids_round_trip_and_refuse_junk() {
    let id = EventId { epoch: "k3x9".into(), offset: 42 };
    assert_eq!(id.to_string(), "k3x9-42");
    assert_eq!(EventId::parse("k3x9-42"), Some(id));
    for junk in ["", "-1", "abc", "a-b", "a b-1", "a-1x"] {
      assert_eq!(EventId::parse(junk), None, "{junk:?}");
    }
  }

  #[test]
  fn pubsub_messages_split_at_the_first_two_colons() {
    let (id, event) = parse_message(b"ep1:7:data: a:b\n\n").unwrap();
    assert_eq!(id, EventId { epoch: "ep1".into(), offset: 7 });
    assert_eq!(event, b"data: a:b\n\n");
    assert!(parse_message(b"nocolon").is_none());
  }

  #[test]
  fn epochs_differ() {
    assert_ne!(new_epoch(), new_epoch());
    assert!(new_epoch().bytes().all(|b| b.is_ascii_alphanumeric()));
  }
}
