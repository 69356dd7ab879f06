//! `NativeBroker`: channels shared across processes through Redis. Publishes go to
//! Redis (broadcast/broker.rs) and resolve a JS Promise with the event's id; every
//! process's Pub/Sub subscription delivers them to its local subscribers in Rust, with
//! no JS on the way. A client resuming with an id the local history does not hold gets
//! its missed events from Redis, or a gap notice when they are gone.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use napi::{Error, Result, Status};
use napi_derive::napi;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use bytes::Bytes;

use super::native_channel::NativeChannel;
use super::native_server::NativeServer;
use crate::broadcast::broker::{self, Keys};
use crate::broadcast::channel::{with_id, Channel, Join};
use crate::http::stream::StreamQueue;
use crate::sse::encode::{encode_event, Event};

/// A publish Redis has not confirmed by then rejects.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// A stream waiting for its replay from Redis is told of a gap after this long.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(3);

struct Shared {
  client: redis::Client,
  /// Local channels by Pub/Sub name.
  channels: Mutex<HashMap<String, Weak<Channel>>>,
  /// Channel names by Pub/Sub name.
  names: Mutex<HashMap<String, String>>,
  /// Tells the subscriber task to subscribe to a name.
  subscribe: mpsc::UnboundedSender<String>,
  /// Publishes, in call order, to the one task that sends them (see `publisher`).
  publishes: mpsc::UnboundedSender<Outgoing>,
  commands: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
  /// The last event delivered here, per Pub/Sub name: a message at or before it is a
  /// duplicate, one past the next is a gap filled from the history first.
  last: Mutex<HashMap<String, broker::EventId>>,
}

impl Shared {
  async fn commands(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
    // Its own response timeout is the publish bound (the crate's default is 500 ms).
    let config = redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(PUBLISH_TIMEOUT));
    Ok(self.commands.get_or_try_init(|| self.client.get_connection_manager_with_config(config)).await?.clone())
  }

  /// Delivers `id` (and first whatever this process missed before it) to the local
  /// channel of `pubsub`, each event once, in order.
  async fn deliver(&self, pubsub: &str, name: &str, id: broker::EventId, body: &[u8]) {
    let Some(channel) = self.channels.lock().get(pubsub).and_then(Weak::upgrade) else { return };
    let behind = match self.last.lock().get(pubsub) {
      // Delivered already.
      Some(last) if last.epoch == id.epoch && id.offset <= last.offset => return,
      // A gap in this history: the earlier ones first.
      Some(last) if last.epoch == id.epoch => id.offset > last.offset + 1,
      // Started before any history: its first event needs nothing before it.
      Some(last) if last.epoch.is_empty() => id.offset > 1,
      // A new history (Redis lost the old one): subscribers are told, then get it all.
      Some(_) => true,
      None => false,
    };
    if behind {
      self.catch_up(pubsub, name, &channel).await;
      if self.last.lock().get(pubsub).is_some_and(|l| l.epoch == id.epoch && l.offset >= id.offset) {
        return;
      }
    }
    channel.deliver_encoded(Some(&id.to_string()), body);
    self.last.lock().insert(pubsub.to_string(), id);
  }

  /// What came after `after` in channel `name`'s history; None if Redis cannot be
  /// read. Twice: the first command after Redis came back finds the old connection broken.
  async fn read_missed(&self, name: &str, after: &broker::EventId) -> Option<broker::Missed> {
    for _ in 0..2 {
      let Ok(mut conn) = self.commands().await else { continue };
      if let Ok(missed) = broker::missed_since(&mut conn, name, after).await {
        return Some(missed);
      }
    }
    None
  }

  /// Delivers from the history what came after the last event delivered here (after a
  /// reconnect, or a gap in the Pub/Sub stream). Events this process can no longer
  /// get (trimmed, or Redis restarted empty) become a gap notice to every subscriber.
  async fn catch_up(&self, pubsub: &str, name: &str, channel: &Channel) {
    let Some(last) = self.last.lock().get(pubsub).cloned() else { return };
    // Unreadable: the next reconnect or Pub/Sub gap tries again.
    let Some(missed) = self.read_missed(name, &last).await else { return };
    if let Some((reason, resume)) = missed.gap {
      let notice = broker::gap_event(reason, &last.to_string());
      channel.deliver_encoded(resume.as_ref().map(|id| id.to_string()).as_deref(), &notice);
      let resume = resume.unwrap_or(broker::EventId { epoch: String::new(), offset: 0 });
      self.last.lock().insert(pubsub.to_string(), resume);
    }
    for (id, body) in missed.events {
      channel.deliver_encoded(Some(&id.to_string()), &body);
      self.last.lock().insert(pubsub.to_string(), id);
    }
  }

  /// Notes where channel `name`'s history stands before subscribing to it, so events
  /// published before the subscription took are caught up from there, not lost.
  async fn mark_start(&self, pubsub: &str, name: &str) {
    if self.last.lock().contains_key(pubsub) {
      return;
    }
    let Ok(mut conn) = self.commands().await else { return };
    if let Ok(at) = broker::position(&mut conn, name).await {
      self.last.lock().entry(pubsub.to_string()).or_insert(at);
    }
  }

  /// Replays to a held stream what its client missed after `last_event_id`, read from
  /// Redis (a gap notice first when some of it is gone), then lets it go live.
  async fn replay_from_history(&self, name: &str, channel: &Channel, queue: &Arc<StreamQueue>, last_event_id: &str) {
    // An id that is not one of ours stands for no history Redis has.
    let after = broker::EventId::parse(last_event_id).unwrap_or(broker::EventId { epoch: "-".into(), offset: 0 });
    let read = tokio::time::timeout(REPLAY_TIMEOUT, self.read_missed(name, &after)).await.ok().flatten();
    let Some(missed) = read else {
      // Unknown: the client is told, and keeps its id to try again later.
      let notice = broker::gap_event(broker::GapReason::Unavailable, last_event_id);
      channel.release(queue, &[Bytes::from(notice)], |_| true);
      return;
    };
    let mut replay = Vec::with_capacity(missed.events.len() + 1);
    let mut top = after;
    if let Some((reason, resume)) = missed.gap {
      let notice = broker::gap_event(reason, last_event_id);
      match resume {
        Some(id) => {
          replay.push(with_id(&id.to_string(), &notice));
          top = id;
        }
        None => replay.push(Bytes::from(notice)),
      }
    }
    for (id, body) in missed.events {
      replay.push(with_id(&id.to_string(), &body));
      top = id;
    }
    // Events delivered here during the read: those the replay already carried are not sent twice.
    channel.release(queue, &replay, |id| match id.and_then(broker::EventId::parse) {
      Some(id) if id.epoch == top.epoch => id.offset > top.offset,
      _ => true,
    });
  }
}

#[napi]
pub struct NativeBroker {
  shared: Arc<Shared>,
}

#[napi]
impl NativeBroker {
  /// `url`: redis://host:port/db. Connects lazily; reconnects by itself.
  #[napi(constructor)]
  pub fn new(url: String) -> Result<Self> {
    let client = redis::Client::open(url.as_str()).map_err(|e| Error::new(Status::InvalidArg, format!("broker: {e}")))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { client, channels: Mutex::new(HashMap::new()), subscribe: tx, publishes: out_tx, commands: tokio::sync::OnceCell::new(), last: Mutex::new(HashMap::new()), names: Mutex::new(HashMap::new()) });
    napi::bindgen_prelude::spawn(subscriber(Arc::downgrade(&shared), rx));
    napi::bindgen_prelude::spawn(publisher(Arc::downgrade(&shared), out_rx));
    Ok(Self { shared })
  }

  /// Shares `channel` (named `name`) through this broker: events published anywhere
  /// reach its subscribers here.
  #[napi]
  pub fn attach(&self, name: String, channel: &NativeChannel) {
    let pubsub = Keys::of(&name).pubsub;
    self.shared.channels.lock().insert(pubsub.clone(), Arc::downgrade(channel.inner()));
    self.shared.names.lock().insert(pubsub.clone(), name);
    let _ = self.shared.subscribe.send(pubsub);
  }

  /// Subscribes request `id`'s open stream on `server` to `channel` (named `name`),
  /// replaying what its client missed after `last_event_id`: from the local history
  /// when it holds that id, else from Redis (then the events follow shortly, and 0 is
  /// returned). -1 if the stream is not open.
  #[napi(catch_unwind)]
  pub fn subscribe(&self, name: String, channel: &NativeChannel, server: &NativeServer, id: i64, last_event_id: String) -> i32 {
    let Some(queue) = server.stream_of(id as u64) else { return -1 };
    let channel = channel.inner().clone();
    match channel.subscribe_or_hold(queue.clone(), &last_event_id) {
      Join::Refused => -1,
      Join::Replayed(n) => n as i32,
      Join::Held => {
        let shared = self.shared.clone();
        napi::bindgen_prelude::spawn(async move {
          shared.replay_from_history(&name, &channel, &queue, &last_event_id).await;
        });
        0
      }
    }
  }

  /// Publishes to channel `name`; resolves with the event's id once Redis has it.
  /// Queued here, at the call, so one process's events keep the order of its calls.
  #[napi(ts_return_type = "Promise<string>")]
  pub fn publish<'env>(&self, env: &'env napi::Env, name: String, event: Option<String>, data: String, retry: Option<u32>, history: u32) -> Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
    let body = encode_event(&Event { id: None, event: event.as_deref(), data: &data, retry });
    let (done, result) = tokio::sync::oneshot::channel();
    let deadline = tokio::time::Instant::now() + PUBLISH_TIMEOUT;
    let _ = self.shared.publishes.send(Outgoing { deadline, name, body, history: history as usize, done });
    env.spawn_future(async move {
      // The publisher answers by the deadline; the margin only guards against it being gone.
      match tokio::time::timeout_at(deadline + Duration::from_millis(200), result).await {
        Ok(Ok(Ok(id))) => Ok(id.to_string()),
        Ok(Ok(Err(e))) if e.is_timeout() => Err(unknown_outcome()),
        Ok(Ok(Err(e))) => Err(Error::from_reason(format!("publish failed: Redis did not take the event ({e})"))),
        Ok(Err(_)) => Err(Error::from_reason("publish failed: the broker is gone")),
        Err(_) => Err(unknown_outcome()),
      }
    })
  }
}

fn unknown_outcome() -> Error {
  Error::from_reason(format!(
    "publish failed: no answer from Redis within {} s (the event may still be delivered if Redis took it)",
    PUBLISH_TIMEOUT.as_secs()
  ))
}

struct Outgoing {
  /// The caller is told by then, whatever Redis is doing.
  deadline: tokio::time::Instant,
  name: String,
  body: bytes::Bytes,
  history: usize,
  done: tokio::sync::oneshot::Sender<redis::RedisResult<broker::EventId>>,
}

/// Sends publishes one after another, so one process's events are numbered in the
/// order it published them. A connection Redis dropped (a restart) is retried once.
/// Each publish ends by its deadline: one still waiting for a connection then is
/// dropped unsent (it never reaches Redis later, after its caller was told it failed).
async fn publisher(shared: Weak<Shared>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
  while let Some(out) = queue.recv().await {
    let Some(s) = shared.upgrade() else { return };
    if out.done.is_closed() || tokio::time::Instant::now() >= out.deadline {
      let _ = out.done.send(Err(no_answer()));
      continue;
    }
    let attempts = async {
      let mut result = Err(redis::RedisError::from((redis::ErrorKind::Io, "no connection")));
      for attempt in 0..2 {
        result = match s.commands().await {
          Ok(mut conn) => broker::publish(&mut conn, &out.name, &out.body, out.history).await,
          Err(e) => Err(e),
        };
        match &result {
          Err(e) if attempt == 0 && (e.is_connection_dropped() || e.is_io_error()) && !e.is_timeout() => continue,
          _ => break,
        }
      }
      result
    };
    let result = tokio::time::timeout_at(out.deadline, attempts).await.unwrap_or_else(|_| Err(no_answer()));
    let _ = out.done.send(result);
  }
}

fn no_answer() -> redis::RedisError {
  redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))
}

#[napi]
impl NativeBroker {
  /// Stops delivering events of channel `name` here (the channel was closed).
  #[napi]
  pub fn detach(&self, name: String) {
    self.shared.channels.lock().remove(&Keys::of(&name).pubsub);
  }
}

/// The Pub/Sub side: one connection, subscribed to every attached channel, delivering
/// each message to its local channel. Retries with backoff when Redis goes away.
async fn subscriber(shared: Weak<Shared>, mut names: mpsc::UnboundedReceiver<String>) {
  let mut backoff = Duration::from_millis(50);
  let mut wanted: Vec<String> = Vec::new();
  loop {
    let Some(client) = shared.upgrade().map(|s| s.client.clone()) else { return };
    let mut pubsub = match client.get_async_pubsub().await {
      Ok(p) => p,
      Err(_) => {
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
        continue;
      }
    };
    backoff = Duration::from_millis(50);
    let mut ok = true;
    for name in &wanted {
      if let Some(s) = shared.upgrade() {
        let channel_name = s.names.lock().get(name).cloned();
        if let Some(channel_name) = channel_name {
          s.mark_start(name, &channel_name).await;
        }
      }
      ok &= pubsub.subscribe(name).await.is_ok();
    }
    if !ok {
      // Connected but refused (Redis loading, ACLs): not at once again.
      tokio::time::sleep(backoff).await;
      backoff = (backoff * 2).min(Duration::from_secs(2));
      continue;
    }
    // Subscribed again after a break: what was published meanwhile comes from the history.
    if let Some(s) = shared.upgrade() {
      for pubsub_name in &wanted {
        let name = s.names.lock().get(pubsub_name).cloned();
        let channel = s.channels.lock().get(pubsub_name).and_then(Weak::upgrade);
        if let (Some(name), Some(channel)) = (name, channel) {
          s.catch_up(pubsub_name, &name, &channel).await;
        }
      }
    }
    let (mut sink, mut stream) = pubsub.split();
    loop {
      tokio::select! {
        name = names.recv() => {
          let Some(name) = name else { return };
          if !wanted.contains(&name) {
            let Some(s) = shared.upgrade() else { return };
            let channel_name = s.names.lock().get(&name).cloned();
            if let Some(channel_name) = &channel_name {
              s.mark_start(&name, channel_name).await;
            }
            if sink.subscribe(&name).await.is_err() {
              wanted.push(name);
              break;
            }
            // Published between the mark and the subscription: from the history, now
            // (a later message would find the gap too, but there may be none).
            let channel = s.channels.lock().get(&name).and_then(Weak::upgrade);
            if let (Some(channel_name), Some(channel)) = (channel_name, channel) {
              s.catch_up(&name, &channel_name, &channel).await;
            }
            wanted.push(name);
          }
        }
        msg = stream.next() => {
          let Some(msg) = msg else { break };
          let Some(shared) = shared.upgrade() else { return };
          let pubsub_name = msg.get_channel_name().to_string();
          let name = shared.names.lock().get(&pubsub_name).cloned();
          if let (Some(name), Ok(payload)) = (name, msg.get_payload::<Vec<u8>>()) {
            if let Some((id, body)) = broker::parse_message(&payload) {
              shared.deliver(&pubsub_name, &name, id, body).await;
            }
          }
        }
      }
    }
  }
}
