//! `NativeBroker`: channels shared across processes through Redis (issue 15, work in
//! progress). Publishes go to Redis (broadcast/broker.rs) and resolve a JS Promise with
//! the event's id; every process's Pub/Sub subscription delivers them to its local
//! subscribers in Rust, with no JS on the way.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use napi::{Error, Result, Status};
use napi_derive::napi;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::native_channel::NativeChannel;
use crate::broadcast::broker::{self, Keys};
use crate::broadcast::channel::Channel;
use crate::sse::encode::{encode_event, Event};

/// A publish Redis has not confirmed by then rejects.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

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
      // A gap in this history, or a later event of a new one: the earlier ones first.
      Some(last) if last.epoch == id.epoch => id.offset > last.offset + 1,
      Some(_) => id.offset > 1,
      None => false,
    };
    if behind {
      self.catch_up(pubsub, name, &channel).await;
      if self.last.lock().get(pubsub).is_some_and(|l| l.epoch == id.epoch && l.offset >= id.offset) {
        return;
      }
    }
    channel.deliver_encoded(&id.to_string(), body);
    self.last.lock().insert(pubsub.to_string(), id);
  }

  /// Delivers from the history what came after the last event delivered here (after a
  /// reconnect, or a gap in the Pub/Sub stream).
  async fn catch_up(&self, pubsub: &str, name: &str, channel: &Channel) {
    let Some(last) = self.last.lock().get(pubsub).cloned() else { return };
    let mut events = Vec::new();
    // Twice: the first command after Redis came back finds the old connection broken.
    for _ in 0..2 {
      let Ok(mut conn) = self.commands().await else { continue };
      let read = async {
        Ok::<_, redis::RedisError>(match broker::epoch_of(&mut conn, name).await? {
          // Redis lost the history meanwhile (restarted empty): everything of the new
          // one, published before this subscription was back, is still to deliver.
          Some(epoch) if epoch != last.epoch => broker::kept_since_start(&mut conn, name, &epoch).await?,
          _ => match broker::missed_since(&mut conn, name, &last).await? {
            broker::Missed::Events(events) => events,
            broker::Missed::Gone => Vec::new(),
          },
        })
      };
      match read.await {
        Ok(found) => {
          events = found;
          break;
        }
        Err(_) => continue,
      }
    }
    for (id, body) in events {
      channel.deliver_encoded(&id.to_string(), &body);
      self.last.lock().insert(pubsub.to_string(), id);
    }
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

  /// Publishes to channel `name`; resolves with the event's id once Redis has it.
  /// Queued here, at the call, so one process's events keep the order of its calls.
  #[napi(ts_return_type = "Promise<string>")]
  pub fn publish<'env>(&self, env: &'env napi::Env, name: String, event: Option<String>, data: String, retry: Option<u32>, history: u32) -> Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
    let body = encode_event(&Event { id: None, event: event.as_deref(), data: &data, retry });
    let (done, result) = tokio::sync::oneshot::channel();
    let _ = self.shared.publishes.send(Outgoing { name, body, history: history as usize, done });
    env.spawn_future(async move {
      match tokio::time::timeout(PUBLISH_TIMEOUT, result).await {
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
  name: String,
  body: bytes::Bytes,
  history: usize,
  done: tokio::sync::oneshot::Sender<redis::RedisResult<broker::EventId>>,
}

/// Sends publishes one after another, so one process's events are numbered in the
/// order it published them. A connection Redis dropped (a restart) is retried once.
async fn publisher(shared: Weak<Shared>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
  while let Some(out) = queue.recv().await {
    let Some(s) = shared.upgrade() else { return };
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
    let _ = out.done.send(result);
  }
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
            if sink.subscribe(&name).await.is_err() {
              wanted.push(name);
              break;
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
