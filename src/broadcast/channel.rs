//! A channel: publish once, and the same encoded bytes are queued to every
//! subscriber's stream, with a bounded history for Last-Event-ID replay.
//!
//! `publish` takes plain Rust values and touches no JS, so a channel can be fed by
//! JS (`Channel.publish`) or by any other source (a broker subscription, for channels
//! shared across processes through Redis Pub/Sub) through the same path.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::server::handoff::Handoff;
use crate::http::stream::{Membership, Pushed, StreamQueue};
use crate::sse::encode::{encode_event, encode_retry, Event};

#[derive(Clone, Copy, Debug, Default)]
pub struct ChannelOptions {
  /// Events kept for replay (0 = none).
  pub history: usize,
  /// `retry:` hint sent to each new subscriber.
  pub retry: Option<u32>,
}

/// Which events a stream that is live again still skips (by id): those its client
/// already has.
pub type Skip = Box<dyn Fn(Option<&str>) -> bool + Send>;

struct HeldStream {
  queue: Arc<StreamQueue>,
  /// While its replay is read: what is published meanwhile (id, bytes), to follow it.
  kept: Vec<(Option<String>, Bytes)>,
  /// Once released but ahead of this channel: events are queued to it from the first
  /// one this does not skip, and from then on it is an ordinary subscriber.
  skip: Option<Skip>,
}

/// One event as published.
pub struct Publish<'a> {
  pub id: Option<&'a str>,
  pub event: Option<&'a str>,
  pub data: &'a str,
  pub retry: Option<u32>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
  /// Subscribers the event was queued for.
  pub queued: u32,
  /// Subscribers that were too far behind to take it (slow-client policy "drop").
  pub dropped: u32,
}

struct Stored {
  /// Position in the channel's sequence (monotonic).
  seq: u64,
  id: Option<String>,
  bytes: Bytes,
}

struct Inner {
  subscribers: Vec<Arc<StreamQueue>>,
  /// Streams waiting for a replay read elsewhere (a broker's history), or live but
  /// still skipping what their client already has.
  held: Vec<HeldStream>,
  history: VecDeque<Stored>,
  next_seq: u64,
  closed: bool,
  /// For a channel a broker feeds: the id of the last event delivered here, or where
  /// the broker stood when it subscribed (see `set_reached`).
  reached: Option<String>,
}

pub struct Channel {
  options: ChannelOptions,
  inner: Mutex<Inner>,
}

impl Channel {
  pub fn new(options: ChannelOptions) -> Self {
    Self { options, inner: Mutex::new(Inner { subscribers: Vec::new(), held: Vec::new(), history: VecDeque::new(), next_seq: 1, closed: false, reached: None }) }
  }

  /// Encodes `ev` once and queues the same bytes to every subscriber. Without an id,
  /// a channel that keeps history numbers its events (1, 2, ...) so clients can resume.
  pub fn publish(&self, ev: &Publish<'_>) -> Delivery {
    let mut inner = self.inner.lock();
    if inner.closed {
      return Delivery::default();
    }
    let seq = inner.next_seq;
    inner.next_seq += 1;
    let generated;
    let id = match ev.id {
      Some(id) => Some(id),
      None if self.options.history > 0 => {
        generated = seq.to_string();
        Some(generated.as_str())
      }
      None => None,
    };
    let bytes = encode_event(&Event { id, event: ev.event, data: ev.data, retry: ev.retry });
    self.fan_out(inner, seq, id, bytes)
  }

  /// Delivers an event published elsewhere (a broker): `body` is the event encoded
  /// without its id line, `id` (if any) goes in front. Kept in the history like a publish.
  pub fn deliver_encoded(&self, id: Option<&str>, body: &[u8]) -> Delivery {
    let mut inner = self.inner.lock();
    if inner.closed {
      return Delivery::default();
    }
    let seq = inner.next_seq;
    inner.next_seq += 1;
    let bytes = match id {
      Some(id) => {
        inner.reached = Some(id.to_string());
        with_id(id, body)
      }
      None => Bytes::copy_from_slice(body),
    };
    self.fan_out(inner, seq, id, bytes)
  }

  /// Keeps `bytes` in the history (if any) and queues them to every subscriber.
  fn fan_out(&self, mut inner: parking_lot::MutexGuard<'_, Inner>, seq: u64, id: Option<&str>, bytes: Bytes) -> Delivery {
    if self.options.history > 0 {
      if inner.history.len() == self.options.history {
        inner.history.pop_front();
      }
      inner.history.push_back(Stored { seq, id: id.map(|s| strip_id(s)), bytes: bytes.clone() });
    }
    let mut delivery = Delivery::default();
    // Each server's deliveries wait until every subscriber has its event: one wake-up
    // of the runtime per publish, not one racing the rest of the loop.
    let mut held = Held(Vec::new());
    // Subscribers whose stream is over leave here, by themselves.
    inner.subscribers.retain(|q| {
      if !held.0.iter().any(|h| Arc::ptr_eq(h, q.handoff())) {
        q.handoff().hold();
        held.0.push(q.handoff().clone());
      }
      match q.push_event(bytes.clone()) {
      Pushed::Queued { .. } => {
        delivery.queued += 1;
        true
      }
      Pushed::Dropped => {
        delivery.dropped += 1;
        true
      }
      Pushed::Closed => false,
      }
    });
    if !inner.held.is_empty() {
      let mut caught_up = Vec::new();
      for (i, h) in inner.held.iter_mut().enumerate() {
        match &h.skip {
          None => h.kept.push((id.map(str::to_string), bytes.clone())),
          Some(skip) if skip(id) => {}
          Some(_) => {
            let _ = h.queue.push_event(bytes.clone());
            caught_up.push(i);
          }
        }
      }
      for i in caught_up.into_iter().rev() {
        let h = inner.held.swap_remove(i);
        inner.subscribers.push(h.queue);
      }
    }
    drop(inner);
    drop(held);
    delivery
  }

  /// Adds a stream. Events after `last_event_id` still in the history are queued
  /// first, in order; done under the channel lock so no publish can slip between
  /// replay and live events (no gap, no duplicate). Returns the events replayed.
  pub fn subscribe(self: &Arc<Self>, queue: Arc<StreamQueue>, last_event_id: Option<&str>) -> Option<u32> {
    let mut inner = self.inner.lock();
    if !self.admit(&inner, &queue)? {
      return Some(0);
    }
    let replayed = match last_event_id {
      Some(last) => queue_all(&queue, replay_after(&inner.history, &strip_id(last)).map(|s| s.bytes.clone())),
      None => 0,
    };
    inner.subscribers.push(queue);
    Some(replayed)
  }

  /// Lets `queue` join (its `retry:` hint queued): Some(true). Some(false) if it is in
  /// already; None if the channel or the stream is closed.
  fn admit(self: &Arc<Self>, inner: &Inner, queue: &Arc<StreamQueue>) -> Option<bool> {
    if inner.closed || !queue.is_open() {
      return None;
    }
    if inner.subscribers.iter().chain(inner.held.iter().map(|h| &h.queue)).any(|q| Arc::ptr_eq(q, queue)) {
      return Some(false);
    }
    // The stream tells us when it closes (see `leave`); refused if it just did.
    let me: Weak<dyn Membership> = Arc::downgrade(self) as Weak<dyn Membership>;
    if !queue.join(me) {
      return None;
    }
    if let Some(ms) = self.options.retry {
      queue.push(encode_retry(ms));
    }
    Some(true)
  }

  /// Adds a stream whose missed events must come from elsewhere (a broker's history)
  /// unless the local history holds `last_event_id`: then it is subscribed and replayed
  /// here at once (`Replayed`). Otherwise it is held (`Held`): events published from
  /// now on are kept for it until `release` queues the replay and then them.
  pub fn subscribe_or_hold(self: &Arc<Self>, queue: Arc<StreamQueue>, last_event_id: &str) -> Join {
    let mut inner = self.inner.lock();
    match self.admit(&inner, &queue) {
      None => return Join::Refused,
      Some(false) => return Join::Replayed(0),
      Some(true) => {}
    }
    let last = strip_id(last_event_id);
    match inner.history.iter().rposition(|s| s.id.as_deref() == Some(last.as_str())) {
      Some(i) => {
        let replayed = queue_all(&queue, inner.history.iter().skip(i + 1).map(|s| s.bytes.clone()));
        inner.subscribers.push(queue);
        Join::Replayed(replayed)
      }
      None => {
        inner.held.push(HeldStream { queue, kept: Vec::new(), skip: None });
        Join::Held
      }
    }
  }

  /// Ends a hold: queues what `plan` returns, given the id this channel has reached
  /// and the events published during the hold (id, bytes), and makes the stream live:
  /// it gets every event after the reached id, except those `plan`'s skip (if any)
  /// says its client has. Under the channel lock, so nothing is published between the
  /// plan and going live. None if the stream or the channel is gone.
  pub fn release(&self, queue: &Arc<StreamQueue>, plan: impl FnOnce(Option<&str>, Vec<(Option<String>, Bytes)>) -> (Vec<Bytes>, Option<Skip>)) -> Option<u32> {
    let mut inner = self.inner.lock();
    let i = inner.held.iter().position(|h| Arc::ptr_eq(&h.queue, queue) && h.skip.is_none())?;
    let held = inner.held.swap_remove(i);
    if inner.closed || !held.queue.is_open() {
      return None;
    }
    let (replay, skip) = plan(inner.reached.as_deref(), held.kept);
    let sent = queue_all(&held.queue, replay.into_iter());
    match skip {
      Some(skip) => inner.held.push(HeldStream { queue: held.queue, kept: Vec::new(), skip: Some(skip) }),
      None => inner.subscribers.push(held.queue),
    }
    Some(sent)
  }

  /// Notes how far a broker feeding this channel has got, if no event reached it yet.
  pub fn set_reached_if_unset(&self, id: &str) {
    self.inner.lock().reached.get_or_insert_with(|| id.to_string());
  }

  pub fn unsubscribe(&self, queue: &Arc<StreamQueue>) -> bool {
    let removed = self.remove(queue);
    if removed {
      queue.part(self as *const Self as *const ());
    }
    removed
  }

  fn remove(&self, queue: &StreamQueue) -> bool {
    let mut inner = self.inner.lock();
    if let Some(i) = inner.held.iter().position(|h| std::ptr::eq(Arc::as_ptr(&h.queue), queue)) {
      inner.held.swap_remove(i);
      return true;
    }
    match inner.subscribers.iter().position(|q| std::ptr::eq(Arc::as_ptr(q), queue)) {
      Some(i) => {
        // Order among subscribers carries no meaning: O(1) removal.
        inner.subscribers.swap_remove(i);
        true
      }
      None => false,
    }
  }

  /// Live subscribers (streams that ended are forgotten here too).
  pub fn size(&self) -> usize {
    let mut inner = self.inner.lock();
    inner.subscribers.retain(|q| q.is_open());
    inner.subscribers.len()
  }

  /// Forgets every subscriber and refuses further publishes; the streams stay open.
  pub fn close(&self) {
    let mut inner = self.inner.lock();
    inner.closed = true;
    inner.subscribers.clear();
    inner.held.clear();
    inner.history.clear();
  }
}

impl Membership for Channel {
  fn leave(&self, stream: &StreamQueue) {
    self.remove(stream);
  }
}

/// How `subscribe_or_hold` took a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Join {
  /// Subscribed, with this many events replayed from the local history.
  Replayed(u32),
  /// Waiting for `release` with the replay read elsewhere.
  Held,
  /// The stream or the channel is closed.
  Refused,
}

/// Queues `events` to `queue`; returns how many it took.
fn queue_all(queue: &StreamQueue, events: impl Iterator<Item = Bytes>) -> u32 {
  events.map(|bytes| matches!(queue.push_event(bytes), Pushed::Queued { .. }) as u32).sum()
}

/// An event encoded without its id line (as a broker carries it), with `id` in front.
pub fn with_id(id: &str, body: &[u8]) -> Bytes {
  let head = encode_event(&Event { id: Some(id), event: None, data: "", retry: None });
  // `head` is "id: X\ndata: \n\n" (the id cleaned of CR/LF/NUL); keep its id line only.
  let id_line = &head[..head.iter().position(|&b| b == b'\n').map_or(head.len(), |i| i + 1)];
  let mut bytes = bytes::BytesMut::with_capacity(id_line.len() + body.len());
  bytes.extend_from_slice(id_line);
  bytes.extend_from_slice(body);
  bytes.freeze()
}

/// The id as it will read on the wire (CR, LF and NUL removed), for matching what a
/// client sends back in Last-Event-ID.
fn strip_id(id: &str) -> String {
  id.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect()
}

/// Events after `last`: after its position if it is in the history; everything kept
/// if it is one of our generated numbers older than the history (some were lost to
/// the bound); nothing if it is unknown (it may be newer than what we keep).
fn replay_after<'a>(history: &'a VecDeque<Stored>, last: &str) -> impl Iterator<Item = &'a Stored> {
  let start = match history.iter().rposition(|s| s.id.as_deref() == Some(last)) {
    Some(i) => i + 1,
    None => match (last.parse::<u64>(), history.front()) {
      (Ok(n), Some(first)) if n < first.seq => 0,
      _ => history.len(),
    },
  };
  history.iter().skip(start)
}

/// Handoffs a publish holds; released however the publish ends (a panic included),
/// so a server's deliveries can never stay held.
struct Held(Vec<Arc<Handoff>>);

impl Drop for Held {
  fn drop(&mut self) {
    for h in self.0.drain(..) {
      h.release();
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::http::stream::{SlowClient, StreamLimits, Take};
  use crate::server::stats::Stats;
  use std::task::{Context, Poll, Waker};

  fn stream() -> Arc<StreamQueue> {
    StreamQueue::new(StreamLimits { high_water: 1 << 20, max_buffer: 1 << 22, policy: SlowClient::Disconnect }, 0, Arc::new(Stats::default()), Arc::default(), Arc::default())
  }

  fn drain(q: &StreamQueue) -> String {
    match q.poll_take(&mut Context::from_waker(Waker::noop())) {
      Poll::Ready(Take::Data { bytes, .. }) => String::from_utf8(bytes.to_vec()).unwrap(),
      _ => String::new(),
    }
  }

  fn publish(c: &Channel, data: &str) -> Delivery {
    c.publish(&Publish { id: None, event: None, data, retry: None })
  }

  #[test]
  fn same_bytes_to_every_subscriber() {
    let c = Arc::new(Channel::new(ChannelOptions::default()));
    let (a, b) = (stream(), stream());
    c.subscribe(a.clone(), None);
    c.subscribe(b.clone(), None);
    assert_eq!(publish(&c, "x\ny"), Delivery { queued: 2, dropped: 0 });
    assert_eq!(drain(&a), "data: x\ndata: y\n\n");
    assert_eq!(drain(&b), "data: x\ndata: y\n\n");
  }

  #[test]
  fn replays_exactly_the_missed_events() {
    let c = Arc::new(Channel::new(ChannelOptions { history: 3, retry: Some(500) }));
    for d in ["a", "b", "c", "d"] {
      publish(&c, d);
    }
    let q = stream();
    assert_eq!(c.subscribe(q.clone(), Some("2")), Some(2));
    assert_eq!(drain(&q), "retry: 500\n\nid: 3\ndata: c\n\nid: 4\ndata: d\n\n");
    // Older than the history: everything kept (the gap is the bound's).
    let q = stream();
    assert_eq!(c.subscribe(q.clone(), Some("1")), Some(3));
    // Unknown or current id: nothing.
    let q = stream();
    assert_eq!(c.subscribe(q.clone(), Some("4")), Some(0));
    assert_eq!(c.subscribe(stream(), Some("zzz")), Some(0));
  }

  #[test]
  fn given_ids_are_matched_as_sent() {
    let c = Arc::new(Channel::new(ChannelOptions { history: 10, retry: None }));
    c.publish(&Publish { id: Some("a\nb"), event: Some("e"), data: "1", retry: None });
    c.publish(&Publish { id: Some("c"), event: None, data: "2", retry: None });
    let q = stream();
    assert_eq!(c.subscribe(q.clone(), Some("ab")), Some(1));
    assert_eq!(drain(&q), "id: c\ndata: 2\n\n");
  }

  #[test]
  fn a_held_stream_gets_the_replay_then_what_was_published_meanwhile() {
    let c = Arc::new(Channel::new(ChannelOptions { history: 2, retry: None }));
    c.deliver_encoded(Some("e-1"), b"data: 1\n\n");
    c.deliver_encoded(Some("e-2"), b"data: 2\n\n");
    // Known locally: replayed at once.
    let q = stream();
    assert_eq!(c.subscribe_or_hold(q.clone(), "e-1"), Join::Replayed(1));
    assert_eq!(drain(&q), "id: e-2\ndata: 2\n\n");
    // Unknown locally: held while the replay is read elsewhere.
    let q = stream();
    assert_eq!(c.subscribe_or_hold(q.clone(), "e-0"), Join::Held);
    c.deliver_encoded(Some("e-3"), b"data: 3\n\n");
    assert_eq!(drain(&q), "", "nothing reaches a held stream");
    // The replay read 1..3; 3 came live too and is not sent twice.
    let replay: Vec<Bytes> = (1..=3).map(|i| with_id(&format!("e-{i}"), format!("data: {i}\n\n").as_bytes())).collect();
    let sent = c.release(&q, |reached, kept| {
      assert_eq!(reached, Some("e-3"));
      assert_eq!(kept.len(), 1);
      (replay.clone(), None)
    });
    assert_eq!(sent, Some(3));
    c.deliver_encoded(Some("e-4"), b"data: 4\n\n");
    let mut got = String::new();
    loop {
      let part = drain(&q);
      if part.is_empty() {
        break;
      }
      got.push_str(&part);
    }
    assert_eq!(got, "id: e-1\ndata: 1\n\nid: e-2\ndata: 2\n\nid: e-3\ndata: 3\n\nid: e-4\ndata: 4\n\n");
    // A held stream that closes leaves; its release finds nothing.
    let q = stream();
    assert_eq!(c.subscribe_or_hold(q.clone(), "zz"), Join::Held);
    q.close();
    assert_eq!(c.release(&q, |_, _| (Vec::new(), None)), None);
    assert!(c.inner.lock().held.is_empty());
    // Released ahead of the channel: what its client has is skipped, then it is live.
    let q = stream();
    assert_eq!(c.subscribe_or_hold(q.clone(), "e-9"), Join::Held);
    c.release(&q, |_, _| (Vec::new(), Some(Box::new(|id: Option<&str>| id.is_some_and(|id| id <= "e-6")))));
    c.deliver_encoded(Some("e-5"), b"data: 5\n\n");
    c.deliver_encoded(Some("e-6"), b"data: 6\n\n");
    assert_eq!(drain(&q), "");
    c.deliver_encoded(Some("e-7"), b"data: 7\n\n");
    c.deliver_encoded(Some("e-8"), b"data: 8\n\n");
    assert_eq!(drain(&q), "id: e-7\ndata: 7\n\nid: e-8\ndata: 8\n\n");
    assert!(c.inner.lock().held.is_empty(), "a subscriber again once past what it had");
  }

  #[test]
  fn closed_streams_leave_by_themselves() {
    let c = Arc::new(Channel::new(ChannelOptions::default()));
    let (a, b) = (stream(), stream());
    c.subscribe(a.clone(), None);
    c.subscribe(b.clone(), None);
    b.close();
    assert_eq!(c.inner.lock().subscribers.len(), 1, "a closed stream leaves at once, with no publish");
    assert_eq!(Arc::strong_count(&b), 1, "and the channel holds nothing of it");
    assert_eq!(publish(&c, "x"), Delivery { queued: 1, dropped: 0 });
    assert_eq!(c.size(), 1);
    assert!(c.unsubscribe(&a));
    assert_eq!(c.size(), 0);
  }
}
