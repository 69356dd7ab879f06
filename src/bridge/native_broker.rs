//! `NativeBroker`: JS's handle on a channel broker (broadcast/broker_client.rs).
//! Publishes resolve a JS Promise with the event's id; delivery to local streams
//! happens in Rust, with no JS on the way.

use std::time::Duration;

use napi::{Error, Result, Status};
use napi_derive::napi;

use super::native_channel::NativeChannel;
use super::native_server::NativeServer;
use crate::broadcast::broker_client::{BrokerClient, PUBLISH_TIMEOUT};
use crate::broadcast::channel::Join;
use crate::sse::encode::{encode_event, Event};

#[napi]
pub struct NativeBroker {
  client: BrokerClient,
}

#[napi]
impl NativeBroker {
  /// `url`: redis://host:port/db. Connects lazily; reconnects by itself.
  #[napi(constructor)]
  pub fn new(url: String) -> Result<Self> {
    let (client, subscriber, publisher) = BrokerClient::open(&url).map_err(|e| Error::new(Status::InvalidArg, format!("broker: {e}")))?;
    napi::bindgen_prelude::spawn(subscriber);
    napi::bindgen_prelude::spawn(publisher);
    Ok(Self { client })
  }

  /// Shares `channel` (named `name`) through this broker: events published anywhere
  /// reach its subscribers here.
  #[napi]
  pub fn attach(&self, name: String, channel: &NativeChannel) {
    self.client.attach(name, channel.inner());
  }

  /// Stops delivering events of channel `name` to `channel` (it was closed).
  #[napi]
  pub fn detach(&self, name: String, channel: &NativeChannel) {
    self.client.detach(&name, channel.inner());
  }

  /// Subscribes request `id`'s open stream on `server` to `channel` (named `name`),
  /// replaying what its client missed after `last_event_id`: from the local history
  /// when it holds that id, else from Redis (then the events follow shortly, and 0 is
  /// returned). -1 if the stream is not open.
  #[napi(catch_unwind)]
  pub fn subscribe(&self, name: String, channel: &NativeChannel, server: &NativeServer, id: i64, last_event_id: String, history: u32) -> i32 {
    let Some(queue) = server.stream_of(id as u64) else { return -1 };
    match self.client.subscribe(name, channel.inner().clone(), queue, last_event_id, history as usize) {
      (Join::Refused, _) => -1,
      (Join::Replayed(n), _) => n as i32,
      (Join::Held, replay) => {
        if let Some(replay) = replay {
          napi::bindgen_prelude::spawn(replay);
        }
        0
      }
    }
  }

  /// Publishes to channel `name`; resolves with the event's id once Redis has it.
  /// Queued here, at the call, so one process's events keep the order of its calls.
  #[napi(ts_return_type = "Promise<string>")]
  pub fn publish<'env>(&self, env: &'env napi::Env, name: String, event: Option<String>, data: String, retry: Option<u32>, history: u32) -> Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
    let body = encode_event(&Event { id: None, event: event.as_deref(), data: &data, retry });
    let (deadline, result) = self.client.publish(name, body, history as usize);
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

