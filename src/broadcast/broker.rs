//! Channels shared across processes through Redis: the Redis side (the wiring to
//! local channels is bridge/native_broker.rs).
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
//! current one; otherwise its missed range is gone, and the client gets a gap notice
//! (`gap_event`) before whatever is still kept.

use bytes::Bytes;
use redis::aio::ConnectionLike;
use redis::{RedisResult, Script};

use super::channel::with_id;

/// Where an event sits in a channel's history: the history's epoch and the event's
/// offset in it. Written `epoch-offset` as the SSE id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventId {
  pub epoch: String,
  pub offset: u64,
}

impl EventId {
  /// Stands before any history (a process that subscribed before the first event):
  /// every event of the history to come follows it.
  pub fn before_any() -> Self {
    Self { epoch: String::new(), offset: 0 }
  }

  /// In `other`'s history, at or past it (so `other` was delivered, or is not newer).
  pub fn reaches(&self, other: &EventId) -> bool {
    self.epoch == other.epoch && self.offset >= other.offset
  }

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
  /// The key that remembers publish `token`'s id for a few seconds.
  pub fn token(&self, token: &str) -> String {
    format!("{}:sent:{token}", self.meta.trim_end_matches(":meta"))
  }

  pub fn of(name: &str) -> Self {
    // A hash tag keeps a channel's keys in one cluster slot.
    Self { meta: format!("hyper-sse:{{{name}}}:meta"), stream: format!("hyper-sse:{{{name}}}:stream"), pubsub: format!("hyper-sse:{name}") }
  }
}

/// KEYS: the meta hash, the stream, and this publish's token key. ARGV: event, history,
/// a new epoch, the Pub/Sub name, and the epoch and offset the publishing process has
/// reached. A publish sent again (its connection dropped after Redis took it) finds its
/// token and gets the id it was given, and is not published twice. A history behind
/// what a process has seen (Redis restarted from an older snapshot) is given a new
/// epoch, so an id never names two events; its stream then holds only the new epoch's.
const PUBLISH_LUA: &str = r"
local done = redis.call('GET', KEYS[3])
if done then
  local at = string.find(done, ':', 1, true)
  return {string.sub(done, 1, at - 1), tonumber(string.sub(done, at + 1))}
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
if not epoch or (epoch == ARGV[5] and offset < tonumber(ARGV[6])) then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('DEL', KEYS[2])
end
offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], offset .. '-1', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[4], epoch .. ':' .. offset .. ':' .. ARGV[1])
redis.call('SET', KEYS[3], epoch .. ':' .. offset, 'EX', 10)
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

/// One event to publish: channel `name`, the event encoded without its id line, about
/// `history` events to keep, and how far the publishing process has seen the history.
pub struct ToPublish<'a> {
  /// Unique to this publish (`new_epoch()` makes one): sending it again is harmless.
  pub token: &'a str,
  pub name: &'a str,
  pub event: &'a [u8],
  pub history: usize,
  pub reached: Option<&'a EventId>,
}

fn publish_script() -> &'static Script {
  static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
  SCRIPT.get_or_init(|| Script::new(PUBLISH_LUA))
}

/// Publishes `event` (encoded, without its id line) to channel `name`, keeping about
/// `history` events; `reached` is how far the publishing process has seen the history.
/// Resolves once Redis has it, with its id.
pub async fn publish<C: ConnectionLike>(conn: &mut C, name: &str, event: &[u8], history: usize, reached: Option<&EventId>) -> RedisResult<EventId> {
  let token = new_epoch();
  publish_all(conn, &[ToPublish { token: &token, name, event, history, reached }]).await?.pop().expect("one result per event")
}

fn is_noscript(r: &RedisResult<(String, u64)>) -> bool {
  matches!(r, Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
}

/// Publishes `events` in one round trip (a pipeline: Redis runs them in this order),
/// each with its own result. Err only when the round trip itself failed (then some of
/// them may have been taken: sending them again is safe, see PUBLISH_LUA).
pub async fn publish_all<C: ConnectionLike>(conn: &mut C, events: &[ToPublish<'_>]) -> RedisResult<Vec<RedisResult<EventId>>> {
  let script = publish_script();
  let pipeline = |events: &[ToPublish<'_>]| {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for e in events {
      let keys = Keys::of(e.name);
      pipe
        .cmd("EVALSHA")
        .arg(script.get_hash())
        .arg(3)
        .arg(&keys.meta)
        .arg(&keys.stream)
        .arg(keys.token(e.token))
        .arg(e.event)
        .arg(e.history.max(1))
        .arg(new_epoch())
        .arg(&keys.pubsub)
        .arg(e.reached.map_or("", |r| r.epoch.as_str()))
        .arg(e.reached.map_or(0, |r| r.offset));
    }
    pipe
  };
  let mut results: Vec<RedisResult<(String, u64)>> = pipeline(events).query_async(conn).await?;
  // Redis lost its script cache (a restart, SCRIPT FLUSH): from the first refusal on,
  // none ran. Load it and send those again.
  if let Some(first) = results.iter().position(is_noscript) {
    if results[first..].iter().all(is_noscript) {
      redis::cmd("SCRIPT").arg("LOAD").arg(PUBLISH_LUA).query_async::<String>(conn).await?;
      let again: Vec<RedisResult<(String, u64)>> = pipeline(&events[first..]).query_async(conn).await?;
      results.truncate(first);
      results.extend(again);
    }
  }
  Ok(results.into_iter().map(|r| r.map(|(epoch, offset)| EventId { epoch, offset })).collect())
}

/// One message from the channel's Pub/Sub: its id and its encoded event.
pub fn parse_message(payload: &[u8]) -> Option<(EventId, &[u8])> {
  let first = payload.iter().position(|&b| b == b':')?;
  let second = first + 1 + payload[first + 1..].iter().position(|&b| b == b':')?;
  let epoch = std::str::from_utf8(&payload[..first]).ok()?;
  let offset = std::str::from_utf8(&payload[first + 1..second]).ok()?.parse().ok()?;
  Some((EventId { epoch: epoch.to_string(), offset }, &payload[second + 1..]))
}

/// Why a client (or a process) cannot have every event it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
  /// Its events were trimmed from the history (it was away longer than `history` events).
  Trimmed,
  /// The history it knew is gone: Redis lost it (restarted empty), or the id is of no
  /// history Redis has.
  Reset,
  /// Redis could not be read: what was missed is unknown (the client keeps its id).
  Unavailable,
}

impl GapReason {
  pub fn as_str(self) -> &'static str {
    match self {
      Self::Trimmed => "trimmed",
      Self::Reset => "reset",
      Self::Unavailable => "unavailable",
    }
  }
}

/// What a client that last saw some event missed: a gap first when some of it is gone
/// (with the id to resume from after the gap, if there is a history to resume in),
/// then every event still kept after it, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Missed {
  pub gap: Option<(GapReason, Option<EventId>)>,
  pub events: Vec<(EventId, Vec<u8>)>,
}

/// The channel's history as one read saw it: its epoch (none if Redis has none), the
/// last offset given, and the kept events after the client's (all of them when the
/// client's epoch is not the current one).
#[derive(Debug)]
pub struct HistoryRead {
  pub epoch: Option<String>,
  pub offset: u64,
  pub events: Vec<(EventId, Vec<u8>)>,
}

/// One script, so the epoch, the offset and the range are one moment's (a publish
/// between separate reads would look like a trimmed event). ARGV: the epoch and offset
/// read after, a new epoch, and "1" if a history behind that offset is to get the new
/// epoch (only for a process's own position, never for a client's claim).
const READ_LUA: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {'', '0', {}} end
local offset = redis.call('HGET', KEYS[1], 'offset') or '0'
if ARGV[4] == '1' and epoch == ARGV[1] and tonumber(offset) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[3])
  redis.call('DEL', KEYS[2])
  return {ARGV[3], offset, {}}
end
local from = '-'
if epoch == ARGV[1] then from = '(' .. ARGV[2] .. '-1' end
return {epoch, offset, redis.call('XRANGE', KEYS[2], from, '+')}
";

/// Reads what came after `after` in channel `name`'s history. `own`: `after` is this
/// process's own position (a history found behind it is given a new epoch).
pub async fn read_after<C: ConnectionLike>(conn: &mut C, name: &str, after: &EventId, own: bool) -> RedisResult<HistoryRead> {
  let keys = Keys::of(name);
  type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;
  let (epoch, offset, entries): (String, u64, Entries) = Script::new(READ_LUA)
    .key(&keys.meta)
    .key(&keys.stream)
    .arg(&after.epoch)
    .arg(after.offset)
    .arg(new_epoch())
    .arg(if own { "1" } else { "0" })
    .invoke_async(conn)
    .await?;
  let events = entries
    .into_iter()
    .map(|(id, fields)| {
      let offset = id.split('-').next().and_then(|o| o.parse().ok()).unwrap_or(0);
      let event = fields.into_iter().find(|(k, _)| k == "e").map(|(_, v)| v).unwrap_or_default();
      (EventId { epoch: epoch.clone(), offset }, event)
    })
    .collect();
  Ok(HistoryRead { epoch: (!epoch.is_empty()).then_some(epoch), offset, events })
}

/// Where the histories of channels `names` stand, in one round trip: each one's epoch
/// and last offset (`""`-0 when it has none yet: every event of the history to come
/// follows it).
pub async fn positions<C: ConnectionLike>(conn: &mut C, names: &[&str]) -> RedisResult<Vec<EventId>> {
  let mut pipe = redis::pipe();
  for name in names {
    pipe.cmd("HMGET").arg(&Keys::of(name).meta).arg("epoch").arg("offset");
  }
  let read: Vec<(Option<String>, Option<u64>)> = pipe.query_async(conn).await?;
  Ok(read.into_iter().map(|(epoch, offset)| EventId { epoch: epoch.unwrap_or_default(), offset: offset.unwrap_or(0) }).collect())
}

/// What a client that last saw `after` missed, given a read of the history. An
/// `after` of epoch `""` stands before any history: it missed everything kept.
pub fn missed(after: &EventId, read: HistoryRead) -> Missed {
  let Some(epoch) = read.epoch else {
    if after.epoch.is_empty() {
      return Missed { gap: None, events: Vec::new() };
    }
    // No history at all (Redis restarted empty and nothing was published since).
    return Missed { gap: Some((GapReason::Reset, None)), events: Vec::new() };
  };
  // Where the gap leaves the client: just before the first event it gets, or at the end.
  let resume = |events: &[(EventId, Vec<u8>)]| EventId { epoch: epoch.clone(), offset: events.first().map_or(read.offset, |(id, _)| id.offset - 1) };
  if after.epoch.is_empty() && read.events.first().is_none_or(|(id, _)| id.offset == 1) {
    return Missed { gap: None, events: read.events };
  }
  if epoch != after.epoch {
    return Missed { gap: Some((GapReason::Reset, Some(resume(&read.events)))), events: read.events };
  }
  if read.offset < after.offset {
    // Behind what the client saw: Redis went back to an older snapshot.
    return Missed { gap: Some((GapReason::Reset, Some(resume(&read.events)))), events: read.events };
  }
  let whole = read.offset == after.offset || read.events.first().is_some_and(|(id, _)| id.offset == after.offset + 1);
  if whole {
    return Missed { gap: None, events: read.events };
  }
  Missed { gap: Some((GapReason::Trimmed, Some(resume(&read.events)))), events: read.events }
}

/// The events of channel `name` after `after`, from the history, in one read (`own`:
/// see `read_after`).
pub async fn missed_since<C: ConnectionLike>(conn: &mut C, name: &str, after: &EventId, own: bool) -> RedisResult<Missed> {
  Ok(missed(after, read_after(conn, name, after, own).await?))
}

/// What a held stream gets when its replay from Redis is released (see
/// Channel::release): the events to queue, and the id through which it must still skip
/// live events (its client is ahead of this process). `reached`: the id the channel has
/// reached; everything after it comes to the stream live, so the replay carries only
/// what is at or before it. At most `history` replayed events, the newest, after a gap
/// notice. A gap this process lags behind (its own catch-up will tell every stream) is
/// not told twice.
pub fn replay_plan(after: &EventId, missed: Missed, history: usize, last_event_id: &str, reached: Option<&str>, kept: Vec<(Option<String>, Bytes)>) -> (Vec<Bytes>, Option<EventId>) {
  let reached = reached.map(EventId::parse);
  // At or before what this process has delivered (never told where it stands, as when
  // Redis was down at its start: all of it, a duplicate rather than a loss).
  let covered = |id: &EventId| match &reached {
    Some(Some(r)) => r.reaches(id),
    Some(None) => false,
    None => true,
  };
  if let Some(Some(r)) = &reached {
    if after.reaches(r) {
      // The client is ahead of this process (or level): nothing to replay; live events
      // up to its id are skipped.
      return (Vec::new(), (after.offset > r.offset).then(|| after.clone()));
    }
  }
  let mut carried: Vec<(EventId, Vec<u8>)> = missed.events.into_iter().filter(|(id, _)| covered(id)).collect();
  let mut gap = missed.gap.filter(|(_, resume)| match resume {
    Some(id) => covered(id),
    // No history at all: this process finds the same on its catch-up, unless it never knew one.
    None => !matches!(reached, Some(Some(_))),
  });
  if carried.len() > history {
    let cut = carried.len() - history;
    let resume = carried[cut - 1].0.clone();
    carried.drain(..cut);
    gap = Some((gap.map_or(GapReason::Trimmed, |(reason, _)| reason), Some(resume)));
  }
  let mut out = Vec::with_capacity(carried.len() + kept.len() + 1);
  let mut floor = after.clone();
  if let Some((reason, resume)) = gap {
    let notice = gap_event(reason, last_event_id);
    match resume {
      Some(id) => {
        out.push(with_id(&id.to_string(), &notice));
        floor = id;
      }
      None => out.push(Bytes::from(notice)),
    }
  }
  for (id, body) in carried {
    out.push(with_id(&id.to_string(), &body));
    floor = id;
  }
  // Published here during the read: those the replay did not carry.
  for (id, bytes) in kept {
    match id.as_deref().and_then(EventId::parse) {
      Some(id) if floor.reaches(&id) => {}
      _ => out.push(bytes),
    }
  }
  (out, None)
}

/// The gap notice a client gets (`event: gap`), encoded without its id line: `data` is
/// JSON with the reason and the id the client had.
pub fn gap_event(reason: GapReason, last_event_id: &str) -> Vec<u8> {
  let data = format!("{{\"reason\":\"{}\",\"last_event_id\":{}}}", reason.as_str(), json_string(last_event_id));
  crate::sse::encode::encode_event(&crate::sse::encode::Event { id: None, event: Some("gap"), data: &data, retry: None }).to_vec()
}

fn json_string(s: &str) -> String {
  let mut out = String::with_capacity(s.len() + 2);
  out.push('"');
  for c in s.chars() {
    match c {
      '"' => out.push_str("\\\""),
      '\\' => out.push_str("\\\\"),
      c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
      c => out.push(c),
    }
  }
  out.push('"');
  out
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

  fn read(epoch: &str, offset: u64, kept: &[u64]) -> HistoryRead {
    let events = kept.iter().map(|&o| (EventId { epoch: epoch.into(), offset: o }, format!("data: {o}\n\n").into_bytes())).collect();
    HistoryRead { epoch: (!epoch.is_empty()).then(|| epoch.to_string()), offset, events }
  }

  fn offsets(m: &Missed) -> Vec<u64> {
    m.events.iter().map(|(id, _)| id.offset).collect()
  }

  #[test]
  fn missed_events_whole_trimmed_or_of_another_history() {
    let after = EventId { epoch: "e1".into(), offset: 5 };
    let id = |e: &str, o| Some(EventId { epoch: e.into(), offset: o });
    // Everything after 5 is kept: no gap.
    let m = missed(&after, read("e1", 8, &[6, 7, 8]));
    assert_eq!((m.gap.clone(), offsets(&m)), (None, vec![6, 7, 8]));
    // Nothing missed.
    assert_eq!(missed(&after, read("e1", 5, &[])), Missed { gap: None, events: vec![] });
    // Redis went back to an older snapshot: told, and resumes where Redis is.
    assert_eq!(missed(&after, read("e1", 3, &[])).gap, Some((GapReason::Reset, id("e1", 3))));
    // 6 and 7 were trimmed: a gap that resumes at 7, then 8 and 9.
    let m = missed(&after, read("e1", 9, &[8, 9]));
    assert_eq!((m.gap.clone(), offsets(&m)), (Some((GapReason::Trimmed, id("e1", 7))), vec![8, 9]));
    // Everything after it trimmed: resume at the end.
    let m = missed(&after, read("e1", 9, &[]));
    assert_eq!((m.gap.clone(), offsets(&m)), (Some((GapReason::Trimmed, id("e1", 9))), vec![]));
    // Another history (Redis restarted empty): a gap, then all of the new one.
    let m = missed(&after, read("e2", 2, &[1, 2]));
    assert_eq!((m.gap.clone(), offsets(&m)), (Some((GapReason::Reset, id("e2", 0))), vec![1, 2]));
    // No history at all: a gap with nowhere to resume.
    assert_eq!(missed(&after, read("", 0, &[])).gap, Some((GapReason::Reset, None)));
    // A process that started before any history: everything, no gap, unless trimmed.
    let before = EventId::before_any();
    assert_eq!(missed(&before, read("e2", 2, &[1, 2])).gap, None);
    assert_eq!(missed(&before, read("e2", 2, &[1, 2])).events.len(), 2);
    assert_eq!(missed(&before, read("e2", 9, &[8, 9])).gap, Some((GapReason::Reset, id("e2", 7))));
  }

  fn plan(after: u64, read_offset: u64, kept_in_redis: &[u64], history: usize, reached: &str, kept: &[u64]) -> (Vec<String>, Option<u64>) {
    let after = EventId { epoch: "e".into(), offset: after };
    let after_it: Vec<u64> = kept_in_redis.iter().copied().filter(|&o| o > after.offset).collect();
    let m = missed(&after, read("e", read_offset, &after_it));
    let kept = kept.iter().map(|o| (Some(format!("e-{o}")), Bytes::from(format!("id: e-{o}\ndata: {o}\n\n")))).collect();
    let (out, skip) = replay_plan(&after, m, history, &after.to_string(), Some(reached), kept);
    let out = out
      .iter()
      .map(|b| {
        let t = String::from_utf8(b.to_vec()).unwrap();
        let id = t.lines().find_map(|l| l.strip_prefix("id: ")).unwrap_or("-").to_string();
        if t.contains("event: gap") { format!("gap@{id}") } else { id }
      })
      .collect();
    (out, skip.map(|s| s.offset))
  }

  #[test]
  fn replays_carry_only_what_the_process_reached() {
    // Redis has 1..10, this process reached 6: the replay stops there, 7..10 come live.
    assert_eq!(plan(2, 10, &(1..=10).collect::<Vec<_>>(), 100, "e-6", &[]), (vec!["e-3".into(), "e-4".into(), "e-5".into(), "e-6".into()], None));
    // Kept during the hold and already carried: not twice.
    assert_eq!(plan(4, 10, &(1..=10).collect::<Vec<_>>(), 100, "e-6", &[5, 6]).0, vec!["e-5", "e-6"]);
    // A client ahead of this process: nothing now, and live events through its id skipped.
    assert_eq!(plan(10, 10, &(1..=10).collect::<Vec<_>>(), 100, "e-3", &[]), (vec![], Some(10)));
    assert_eq!(plan(3, 10, &(1..=10).collect::<Vec<_>>(), 100, "e-3", &[]), (vec![], None));
    // The history bound counts what the replay carries (what comes live is not lost):
    // a notice just before what it carries.
    assert_eq!(plan(1, 10, &(1..=10).collect::<Vec<_>>(), 2, "e-3", &[]), (vec!["e-2".into(), "e-3".into()], None));
    assert_eq!(plan(1, 10, &(1..=10).collect::<Vec<_>>(), 2, "e-6", &[]), (vec!["gap@e-4".into(), "e-5".into(), "e-6".into()], None));
    assert_eq!(plan(0, 10, &(1..=10).collect::<Vec<_>>(), 0, "e-10", &[]), (vec!["gap@e-10".into()], None));
    // History 0 and nothing missed: no notice.
    assert_eq!(plan(10, 10, &(1..=10).collect::<Vec<_>>(), 0, "e-10", &[]), (vec![], None));
    // Trimmed beyond what this process reached: its own catch-up tells; not twice.
    assert_eq!(plan(1, 10, &[9, 10], 100, "e-3", &[]), (vec![], None));
    // Trimmed within it: told here.
    assert_eq!(plan(1, 10, &[3, 4, 5, 6, 7, 8, 9, 10], 100, "e-6", &[]), (vec!["gap@e-2".into(), "e-3".into(), "e-4".into(), "e-5".into(), "e-6".into()], None));
  }

  #[test]
  fn gap_events_are_json_and_one_event() {
    let e = String::from_utf8(gap_event(GapReason::Trimmed, "a\"b")).unwrap();
    assert_eq!(e, "event: gap\ndata: {\"reason\":\"trimmed\",\"last_event_id\":\"a\\\"b\"}\n\n");
  }

  #[test]
  fn epochs_differ() {
    assert_ne!(new_epoch(), new_epoch());
    assert!(new_epoch().bytes().all(|b| b.is_ascii_alphanumeric()));
  }
}
