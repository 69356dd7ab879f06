//! The process side of channels shared through Redis: one connection for commands
//! and one Pub/Sub subscription per broker URL, the queue that sends this process's
//! publishes in call order, the delivery of every event to the local channels (each
//! once, in order, with catch-up from the history after a break), and the replay of
//! what a resuming client missed. The Redis side (scripts, ids, gap decisions) is
//! broker.rs; bridge/native_broker.rs hands all this to JS.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::broker::{self, EventId, Keys};
use super::channel::{Channel, Join, Skip};
use crate::http::stream::StreamQueue;

/// How publishes ended: each caller's number with its id, or the error.
pub type Published = Vec<(u64, redis::RedisResult<EventId>)>;

/// A publish Redis has not confirmed by then is answered with a timeout.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// A publish Redis took resolves once this process's own subscribers have it, or after
/// this long (its Pub/Sub subscription is being restored).
const LOCAL_DELIVERY_WAIT: Duration = Duration::from_millis(100);
/// A stream waiting for its replay from Redis is told of a gap after this long.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(3);

/// One broker URL's connections and state, shared by the tasks `BrokerClient::open`
/// returns (they hold it weakly: dropping the client ends them).
pub struct BrokerClient {
  shared: Arc<Shared>,
}

impl BrokerClient {
  /// Connects lazily to `url` (redis://host:port/db) and reconnects by itself. The two
  /// futures (the Pub/Sub subscriber and the publisher) must be spawned on a runtime.
  /// `report` hears how publishes ended, a batch at a time (see `publish`).
  pub fn open(url: &str, report: impl Fn(Published) + Send + Sync + 'static) -> redis::RedisResult<(Self, impl Future<Output = ()> + Send + 'static, impl Future<Output = ()> + Send + 'static)> {
    let client = redis::Client::open(url)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { client, local: Mutex::new(HashMap::new()), subscribe: tx, publishes: out_tx, report: Box::new(report), commands: tokio::sync::OnceCell::new(), last: Mutex::new(HashMap::new()), awaiting: Mutex::new(VecDeque::new()) });
    let tasks = (subscriber(Arc::downgrade(&shared), rx), publisher(Arc::downgrade(&shared), out_rx));
    Ok((Self { shared }, tasks.0, tasks.1))
  }

  /// Shares `channel` (named `name`) through this broker: events published anywhere
  /// reach its subscribers here.
  pub fn attach(&self, name: String, channel: &Arc<Channel>) {
    let pubsub = Keys::of(&name).pubsub;
    self.shared.local.lock().entry(pubsub.clone()).or_insert_with(|| Local { name, channels: Vec::new() }).channels.push(Arc::downgrade(channel));
    // Subscribed already (another server's channel of that name): it starts from here.
    self.shared.mark_channels(&pubsub);
    let _ = self.shared.subscribe.send(pubsub);
  }

  /// Stops delivering events of channel `name` to `channel` (it was closed).
  pub fn detach(&self, name: &str, channel: &Arc<Channel>) {
    if let Some(local) = self.shared.local.lock().get_mut(&Keys::of(name).pubsub) {
      local.channels.retain(|w| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(channel)));
    }
  }

  /// Subscribes `queue` to `channel` (named `name`), replaying what its client missed
  /// after `last_event_id`: from the local history when it holds that id (`Replayed`),
  /// else from Redis by the future returned with `Held` (spawn it; the events follow).
  pub fn subscribe(&self, name: String, channel: Arc<Channel>, queue: Arc<StreamQueue>, last_event_id: String, history: usize) -> (Join, Option<impl Future<Output = ()> + Send + 'static>) {
    match channel.subscribe_or_hold(queue.clone(), &last_event_id) {
      Join::Held => {
        let shared = self.shared.clone();
        (Join::Held, Some(async move { shared.replay_from_history(&name, &channel, &queue, &last_event_id, history).await }))
      }
      other => (other, None),
    }
  }

  /// Queues `body` (an event encoded without its id line) for channel `name`, keeping
  /// about `history` events. `report` hears `seq` with its id once Redis has it, or
  /// with an error by `PUBLISH_TIMEOUT`. Queued at the call: one process's events keep
  /// its call order.
  pub fn publish(&self, seq: u64, name: String, body: Bytes, history: usize) {
    let deadline = tokio::time::Instant::now() + PUBLISH_TIMEOUT;
    let _ = self.shared.publishes.send(Outgoing { deadline, seq, token: broker::new_epoch(), pubsub: Keys::of(&name).pubsub, name, body, history });
  }
}

/// A shared channel as this process has it: its name, and its local channels (servers
/// of one process may each have one).
struct Local {
  name: String,
  channels: Vec<Weak<Channel>>,
}

struct Shared {
  client: redis::Client,
  /// By Pub/Sub name.
  local: Mutex<HashMap<String, Local>>,
  /// Tells the subscriber task to subscribe to a name.
  subscribe: mpsc::UnboundedSender<String>,
  /// Publishes, in call order, to the one task that sends them (see `publisher`).
  publishes: mpsc::UnboundedSender<Outgoing>,
  /// Hears how publishes ended (one call per round trip, not per publish).
  report: Box<dyn Fn(Published) + Send + Sync>,
  commands: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
  /// How far this process has got in each history, per Pub/Sub name: the last event
  /// delivered here, or where the history stood when it subscribed. A message at or
  /// before it is a duplicate; one past the next is a gap filled from the history first.
  last: Mutex<HashMap<String, EventId>>,
  /// Publish results waiting for their events to reach this process, oldest first.
  awaiting: Mutex<VecDeque<Awaiting>>,
}

/// A round trip's publish results, told once this process has its events (the last
/// one of each channel) or at `until`, whichever comes first.
struct Awaiting {
  until: tokio::time::Instant,
  events: Vec<(String, EventId)>,
  results: Published,
}

impl Shared {
  async fn commands(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
    // Its own response timeout is the publish bound (the crate's default is 500 ms).
    let config = redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(PUBLISH_TIMEOUT));
    Ok(self.commands.get_or_try_init(|| self.client.get_connection_manager_with_config(config)).await?.clone())
  }

  /// The channel name of `pubsub` and its live local channels (None if it has none).
  fn local(&self, pubsub: &str) -> Option<(String, Vec<Arc<Channel>>)> {
    let mut all = self.local.lock();
    let local = all.get_mut(pubsub)?;
    local.channels.retain(|w| w.strong_count() > 0);
    let channels: Vec<Arc<Channel>> = local.channels.iter().filter_map(Weak::upgrade).collect();
    (!channels.is_empty()).then(|| (local.name.clone(), channels))
  }

  /// Delivers one event (or a gap notice) to every local channel of `pubsub`, and notes
  /// how far this process has got.
  fn deliver_here(&self, pubsub: &str, channels: &[Arc<Channel>], id: Option<EventId>, body: &[u8]) {
    let text = id.as_ref().map(ToString::to_string);
    for channel in channels {
      channel.deliver_encoded(text.as_deref(), body);
    }
    if let Some(id) = id {
      self.last.lock().insert(pubsub.to_string(), id);
      self.settle(None);
    }
  }

  /// Tells the publish results whose events reached this process (or have nowhere
  /// left to go here: their channel was closed meanwhile; given `now`, also those whose
  /// wait is over), in the order the publisher ended them.
  fn settle(&self, now: Option<tokio::time::Instant>) {
    let mut ready = Vec::new();
    {
      let mut awaiting = self.awaiting.lock();
      if awaiting.is_empty() {
        return;
      }
      let last = self.last.lock();
      while let Some(first) = awaiting.front() {
        let here = first.events.iter().all(|(pubsub, id)| last.get(pubsub).is_some_and(|l| l.reaches(id)) || self.local(pubsub).is_none());
        if !here && now.is_none_or(|now| now < first.until) {
          break;
        }
        ready.extend(awaiting.pop_front().map(|a| a.results));
      }
    }
    for results in ready {
      (self.report)(results);
    }
  }

  /// Tells how `sent` ended (`results`, in the same order) once this process's
  /// subscribers have the events Redis took (at most LOCAL_DELIVERY_WAIT later): the
  /// caller's code then runs after that fan-out, not on another core during it.
  /// Failures wait only for the results before them (results are told in order).
  fn tell(self: &Arc<Self>, sent: &[Outgoing], results: Published) {
    let mut events: Vec<(String, EventId)> = Vec::new();
    for (o, (_, r)) in sent.iter().zip(&results) {
      let Ok(id) = r else { continue };
      // One channel's ids grow in a round trip: its last one stands for all.
      match events.iter_mut().find(|(p, _)| *p == o.pubsub) {
        Some(e) => e.1 = id.clone(),
        None => events.push((o.pubsub.clone(), id.clone())),
      }
    }
    let until = tokio::time::Instant::now() + LOCAL_DELIVERY_WAIT;
    self.awaiting.lock().push_back(Awaiting { until, events, results });
    self.settle(None);
    if !self.awaiting.lock().is_empty() {
      let shared = Arc::downgrade(self);
      tokio::spawn(async move {
        tokio::time::sleep_until(until).await;
        if let Some(s) = shared.upgrade() {
          s.settle(Some(until));
        }
      });
    }
  }

  /// Delivers `id` (and first whatever this process missed before it) to the local
  /// channels of `pubsub`, each event once, in order.
  async fn deliver(&self, pubsub: &str, id: EventId, body: &[u8]) {
    let Some((name, channels)) = self.local(pubsub) else { return };
    let last = self.last.lock().get(pubsub).cloned();
    let behind = match &last {
      // Delivered already.
      Some(last) if last.reaches(&id) => return,
      // A gap in this history: the earlier ones first.
      Some(last) if last.epoch == id.epoch => id.offset > last.offset + 1,
      // Started before any history: its first event needs nothing before it.
      Some(last) if last.epoch.is_empty() => id.offset > 1,
      // A new history (Redis lost the old one): subscribers are told, then get it all.
      Some(_) => true,
      None => false,
    };
    if behind && !self.catch_up_with(pubsub, &name, &channels).await {
      // The history cannot be read: what was skipped is unknown, and subscribers are
      // told so rather than left to think they have it all.
      let notice = broker::gap_event(broker::GapReason::Unavailable, &last.map(|l| l.to_string()).unwrap_or_default());
      self.deliver_here(pubsub, &channels, None, &notice);
    }
    if self.last.lock().get(pubsub).is_some_and(|l| l.reaches(&id)) {
      return;
    }
    self.deliver_here(pubsub, &channels, Some(id), body);
  }

  /// What came after `after` in channel `name`'s history; None if Redis cannot be
  /// read. Twice: the first command after Redis came back finds the old connection
  /// broken. `own`: `after` is this process's position (see broker::read_after).
  async fn read_missed(&self, name: &str, after: &EventId, own: bool) -> Option<broker::Missed> {
    for _ in 0..2 {
      let Ok(mut conn) = self.commands().await else { continue };
      if let Ok(missed) = broker::missed_since(&mut conn, name, after, own).await {
        return Some(missed);
      }
    }
    None
  }

  /// Delivers from the history what came after the last event delivered here (after a
  /// reconnect or a new subscription).
  async fn catch_up(&self, pubsub: &str) {
    if let Some((name, channels)) = self.local(pubsub) {
      self.catch_up_with(pubsub, &name, &channels).await;
    }
  }

  /// `catch_up` for `channels`, named `name` (also after a gap in the Pub/Sub stream).
  /// Events this process can no longer get (trimmed, or Redis restarted empty or
  /// older) become a gap notice to every subscriber. False if the history could not
  /// be read.
  async fn catch_up_with(&self, pubsub: &str, name: &str, channels: &[Arc<Channel>]) -> bool {
    let Some(last) = self.last.lock().get(pubsub).cloned() else { return true };
    let Some(missed) = self.read_missed(name, &last, true).await else { return false };
    if let Some((reason, resume)) = missed.gap {
      let notice = broker::gap_event(reason, &last.to_string());
      let resume = resume.unwrap_or_else(EventId::before_any);
      self.deliver_here(pubsub, channels, (!resume.epoch.is_empty()).then(|| resume.clone()), &notice);
      self.last.lock().insert(pubsub.to_string(), resume);
    }
    for (id, body) in missed.events {
      self.deliver_here(pubsub, channels, Some(id), &body);
    }
    true
  }

  /// Notes where the histories of `pubsubs` stand, for those this process has no
  /// place in yet, before it subscribes to them or first publishes to them: events
  /// published before the subscription took are caught up from there, not lost. One
  /// round trip; twice: the first command after Redis came back finds the old
  /// connection broken. Then tells their local channels (see `mark_channels`).
  /// Returns those it could not place.
  async fn place(&self, pubsubs: &[String]) -> Vec<String> {
    let unplaced: Vec<&String> = {
      let last = self.last.lock();
      pubsubs.iter().filter(|p| !last.contains_key(*p)).collect()
    };
    let wanted: Vec<(String, &String)> = {
      let local = self.local.lock();
      unplaced.into_iter().filter_map(|p| Some((local.get(p)?.name.clone(), p))).collect()
    };
    let mut failed = Vec::new();
    if !wanted.is_empty() {
      let names: Vec<&str> = wanted.iter().map(|(name, _)| name.as_str()).collect();
      let mut read = None;
      for _ in 0..2 {
        let Ok(mut conn) = self.commands().await else { continue };
        if let Ok(at) = broker::positions(&mut conn, &names).await {
          read = Some(at);
          break;
        }
      }
      match read {
        Some(at) => {
          let mut last = self.last.lock();
          for ((_, pubsub), at) in wanted.iter().zip(at) {
            last.entry((*pubsub).clone()).or_insert(at);
          }
        }
        None => failed = wanted.into_iter().map(|(_, pubsub)| pubsub.clone()).collect(),
      }
    }
    for pubsub in pubsubs.iter().filter(|p| !failed.contains(p)) {
      self.mark_channels(pubsub);
    }
    failed
  }

  /// Tells the local channels of `pubsub` that have received nothing yet how far this
  /// process has got (see Channel::release).
  fn mark_channels(&self, pubsub: &str) {
    let Some(at) = self.last.lock().get(pubsub).map(ToString::to_string) else { return };
    for channel in self.local(pubsub).map(|(_, channels)| channels).unwrap_or_default() {
      channel.set_reached_if_unset(&at);
    }
  }

  /// Replays to a held stream what its client missed after `last_event_id`, read from
  /// Redis (a gap notice first when some of it is gone; at most `history` events, the
  /// newest), then lets it go live.
  async fn replay_from_history(&self, name: &str, channel: &Channel, queue: &Arc<StreamQueue>, last_event_id: &str, history: usize) {
    // An id that is not one of ours stands for no history Redis has.
    let after = EventId::parse(last_event_id).unwrap_or(EventId { epoch: "-".into(), offset: 0 });
    let read = tokio::time::timeout(REPLAY_TIMEOUT, self.read_missed(name, &after, false)).await.ok().flatten();
    let Some(missed) = read else {
      // Unknown: the client is told, and keeps its id to try again later.
      let notice = Bytes::from(broker::gap_event(broker::GapReason::Unavailable, last_event_id));
      channel.release(queue, |_, kept| (std::iter::once(notice).chain(kept.into_iter().map(|(_, b)| b)).collect(), None));
      return;
    };
    channel.release(queue, |reached, kept| {
      let (out, skip_through) = broker::replay_plan(&after, missed, history, last_event_id, reached, kept);
      let skip = skip_through.map(|through| -> Skip {
        Box::new(move |id: Option<&str>| id.and_then(EventId::parse).is_some_and(|id| through.reaches(&id)))
      });
      (out, skip)
    });
  }
}

struct Outgoing {
  /// The caller is told by then, whatever Redis is doing.
  deadline: tokio::time::Instant,
  /// The caller's number for it, in the report.
  seq: u64,
  /// Makes sending it again (after a dropped connection) harmless.
  token: String,
  name: String,
  /// The channel's Pub/Sub name (this process's place in its history is kept by it).
  pubsub: String,
  body: bytes::Bytes,
  history: usize,
}

/// Sends publishes in call order, so one process's events are numbered in the order
/// it published them: what queued up meanwhile goes in one pipelined round trip (a
/// burst is not held to one event per round trip). A connection Redis dropped (a
/// restart) is retried once: each publish carries a token, so one Redis had already
/// taken is not published twice. Each publish ends by its deadline: one still waiting for
/// a connection then is dropped unsent (it never reaches Redis later, after its caller
/// was told it failed).
async fn publisher(shared: Weak<Shared>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
  const MOST_PER_TRIP: usize = 512;
  let mut batch: Vec<Outgoing> = Vec::new();
  while let Some(first) = queue.recv().await {
    let Some(s) = shared.upgrade() else { return };
    batch.push(first);
    while batch.len() < MOST_PER_TRIP {
      match queue.try_recv() {
        Ok(out) => batch.push(out),
        Err(_) => break,
      }
    }
    let now = tokio::time::Instant::now();
    let (live, late): (Vec<Outgoing>, Vec<Outgoing>) = batch.drain(..).partition(|o| now < o.deadline);
    if !late.is_empty() {
      s.tell(&late, late.iter().map(|o| (o.seq, Err(no_answer()))).collect());
    }
    let Some(deadline) = live.iter().map(|o| o.deadline).min() else { continue };
    // A channel this process has no place in the history of yet is placed now, before
    // its first event is numbered: else that event would count as published before this
    // process listened, and its own subscribers would never get it. Where that cannot
    // be read, its publishes fail unsent.
    let unplaced: Vec<String> = {
      let last = s.last.lock();
      let mut unplaced: Vec<String> = live.iter().filter(|o| !last.contains_key(&o.pubsub)).map(|o| o.pubsub.clone()).collect();
      unplaced.sort_unstable();
      unplaced.dedup();
      unplaced
    };
    let live = if unplaced.is_empty() {
      live
    } else {
      let failed = tokio::time::timeout_at(deadline, s.place(&unplaced)).await.unwrap_or(unplaced);
      let (live, refused): (Vec<Outgoing>, Vec<Outgoing>) = live.into_iter().partition(|o| !failed.contains(&o.pubsub));
      if !refused.is_empty() {
        s.tell(&refused, refused.iter().map(|o| (o.seq, Err(redis::RedisError::from((redis::ErrorKind::Io, "cannot read where the channel's history stands"))))).collect());
      }
      live
    };
    if live.is_empty() {
      continue;
    }
    let attempts = async {
      let mut result = Err(redis::RedisError::from((redis::ErrorKind::Io, "no connection")));
      for attempt in 0..2 {
        result = match s.commands().await {
          Ok(mut conn) => {
            let reached: Vec<Option<EventId>> = {
              let last = s.last.lock();
              live.iter().map(|o| last.get(&o.pubsub).cloned()).collect()
            };
            let events: Vec<broker::ToPublish<'_>> = live
              .iter()
              .zip(&reached)
              .map(|(o, r)| broker::ToPublish { token: &o.token, name: &o.name, event: &o.body, history: o.history, reached: r.as_ref() })
              .collect();
            broker::publish_all(&mut conn, &events).await
          }
          Err(e) => Err(e),
        };
        match &result {
          Err(e) if attempt == 0 && (e.is_connection_dropped() || e.is_io_error()) && !e.is_timeout() => continue,
          _ => break,
        }
      }
      result
    };
    match tokio::time::timeout_at(deadline, attempts).await.unwrap_or_else(|_| Err(no_answer())) {
      Ok(results) => s.tell(&live, live.iter().map(|o| o.seq).zip(results).collect()),
      Err(e) => {
        let timed_out = e.is_timeout();
        s.tell(&live, live.iter().map(|o| (o.seq, Err(if timed_out { no_answer() } else { redis::RedisError::from((e.kind(), "round trip failed", e.to_string())) }))).collect());
      }
    }
  }
}

/// Waits `backoff` before trying Redis again, and doubles it (up to 2 s).
async fn wait(backoff: &mut Duration) {
  tokio::time::sleep(*backoff).await;
  *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

fn no_answer() -> redis::RedisError {
  redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))
}

/// The Pub/Sub side: one connection, subscribed to every attached channel, delivering
/// each message to its local channel. Retries with backoff when Redis goes away.
async fn subscriber(shared: Weak<Shared>, mut names: mpsc::UnboundedReceiver<String>) {
  let mut backoff = Duration::from_millis(50);
  let mut wanted: Vec<String> = Vec::new();
  loop {
    let Some(client) = shared.upgrade().map(|s| s.client.clone()) else { return };
    let Ok(mut pubsub) = client.get_async_pubsub().await else {
      wait(&mut backoff).await;
      continue;
    };
    backoff = Duration::from_millis(50);
    let mut ok = true;
    for name in &wanted {
      if let Some(s) = shared.upgrade() {
        s.place(std::slice::from_ref(name)).await;
      }
      ok &= pubsub.subscribe(name).await.is_ok();
    }
    if !ok {
      // Connected but refused (Redis loading, ACLs): not at once again.
      wait(&mut backoff).await;
      continue;
    }
    // Subscribed again after a break: what was published meanwhile comes from the history.
    if let Some(s) = shared.upgrade() {
      for name in &wanted {
        s.catch_up(name).await;
      }
    }
    let (mut sink, mut stream) = pubsub.split();
    loop {
      tokio::select! {
        name = names.recv() => {
          let Some(name) = name else { return };
          if !wanted.contains(&name) {
            let Some(s) = shared.upgrade() else { return };
            s.place(std::slice::from_ref(&name)).await;
            if sink.subscribe(&name).await.is_err() {
              wanted.push(name);
              break;
            }
            // Published between the mark and the subscription: from the history, now
            // (a later message would find the gap too, but there may be none).
            s.catch_up(&name).await;
            wanted.push(name);
          }
        }
        msg = stream.next() => {
          let Some(msg) = msg else { break };
          let Some(shared) = shared.upgrade() else { return };
          if let Ok(payload) = msg.get_payload::<Vec<u8>>() {
            if let Some((id, body)) = broker::parse_message(&payload) {
              shared.deliver(msg.get_channel_name(), id, body).await;
            }
          }
        }
      }
    }
  }
}
