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
  /// Tells the subscriber task to subscribe to a name.
  subscribe: mpsc::UnboundedSender<String>,
  commands: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
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
    let shared = Arc::new(Shared { client, channels: Mutex::new(HashMap::new()), subscribe: tx, commands: tokio::sync::OnceCell::new() });
    napi::bindgen_prelude::spawn(subscriber(Arc::downgrade(&shared), rx));
    Ok(Self { shared })
  }

  /// Shares `channel` (named `name`) through this broker: events published anywhere
  /// reach its subscribers here.
  #[napi]
  pub fn attach(&self, name: String, channel: &NativeChannel) {
    let pubsub = Keys::of(&name).pubsub;
    self.shared.channels.lock().insert(pubsub.clone(), Arc::downgrade(channel.inner()));
    let _ = self.shared.subscribe.send(pubsub);
  }

  /// Publishes to channel `name`; resolves with the event's id once Redis has it.
  #[napi]
  pub async fn publish(&self, name: String, event: Option<String>, data: String, retry: Option<u32>, history: u32) -> Result<String> {
    let body = encode_event(&Event { id: None, event: event.as_deref(), data: &data, retry });
    let shared = self.shared.clone();
    let work = async move {
      let conn = shared.commands.get_or_try_init(|| shared.client.get_connection_manager()).await?;
      let mut conn = conn.clone();
      broker::publish(&mut conn, &name, &body, history as usize).await
    };
    match tokio::time::timeout(PUBLISH_TIMEOUT, work).await {
      Ok(Ok(id)) => Ok(id.to_string()),
      Ok(Err(e)) => Err(Error::from_reason(format!("publish failed: Redis did not take the event ({e})"))),
      Err(_) => Err(Error::from_reason(format!("publish failed: no answer from Redis within {} s", PUBLISH_TIMEOUT.as_secs()))),
    }
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
      continue;
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
          let channel = shared.channels.lock().get(msg.get_channel_name()).and_then(Weak::upgrade);
          if let (Some(channel), Ok(payload)) = (channel, msg.get_payload::<Vec<u8>>()) {
            if let Some((id, body)) = broker::parse_message(&payload) {
              channel.deliver_encoded(&id.to_string(), body);
            }
          }
        }
      }
    }
  }
}
