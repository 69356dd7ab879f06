//! `NativeBroker`: JS's handle on a channel broker (broadcast/broker_client.rs).
//! Publishes are numbered by JS; how they ended reaches JS through one threadsafe
//! function per broker, a round trip's results per call (never one per publish), and
//! JS settles its Promises. Delivery to local streams happens in Rust, with no JS on
//! the way, on a thread of the broker's own: a publish and its delivery wake that one
//! thread, not several of a shared pool.

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use super::native_channel::NativeChannel;
use super::native_server::NativeServer;
use crate::broadcast::broker_client::{BrokerClient, PUBLISH_TIMEOUT};
use crate::broadcast::channel::Join;
use crate::server::runtime::ServerRuntime;
use crate::sse::encode::{encode_event, Event};

/// How one publish ended: `id` once Redis has it; else `error`, and `unknown` when no
/// answer came in time (the event may still be delivered).
#[napi(object)]
pub struct PublishResult {
  pub seq: f64,
  pub id: Option<String>,
  pub error: Option<String>,
  pub unknown: bool,
}

/// Weak: it never keeps Node alive by itself; JS refs it while publishes are pending.
type ResultsFn = ThreadsafeFunction<Vec<PublishResult>, (), Vec<PublishResult>, Status, false, true, 0>;

#[napi]
pub struct NativeBroker {
  client: BrokerClient,
  results: std::sync::Arc<ResultsFn>,
  /// Runs the broker's tasks; stops when the broker is dropped.
  runtime: ServerRuntime,
}

#[napi]
impl NativeBroker {
  /// `url`: redis://host:port/db. Connects lazily; reconnects by itself.
  /// `on_results(results)` hears how publishes ended.
  #[napi(constructor)]
  pub fn new(url: String, on_results: Function<'_, Vec<PublishResult>, ()>) -> Result<Self> {
    let results: std::sync::Arc<ResultsFn> = std::sync::Arc::new(on_results.build_threadsafe_function::<Vec<PublishResult>>().weak::<true>().callee_handled::<false>().build()?);
    let report = {
      let results = results.clone();
      move |batch: Vec<(u64, redis::RedisResult<crate::broadcast::broker::EventId>)>| {
        let batch = batch.into_iter().map(|(seq, r)| match r {
          Ok(id) => PublishResult { seq: seq as f64, id: Some(id.to_string()), error: None, unknown: false },
          Err(e) if e.is_timeout() => PublishResult { seq: seq as f64, id: None, error: Some(unknown_outcome()), unknown: true },
          Err(e) => PublishResult { seq: seq as f64, id: None, error: Some(format!("publish failed: Redis did not take the event ({e})")), unknown: false },
        });
        results.call(batch.collect(), ThreadsafeFunctionCallMode::NonBlocking);
      }
    };
    let (client, subscriber, publisher) = BrokerClient::open(&url, report).map_err(|e| Error::new(Status::InvalidArg, format!("broker: {e}")))?;
    let runtime = ServerRuntime::start(1, "hyper-sse-broker").map_err(|e| Error::from_reason(format!("broker: cannot start its thread: {e}")))?;
    runtime.handle().spawn(subscriber);
    runtime.handle().spawn(publisher);
    Ok(Self { client, results, runtime })
  }

  /// Whether the results callback keeps Node alive (JS: while publishes are pending).
  #[napi]
  pub fn keep_alive(&self, env: Env, on: bool) -> Result<()> {
    // The callback is shared with the publisher task (it calls it from there), so the
    // ref count is set through Node-API directly; only the JS thread calls this.
    let status = unsafe {
      if on {
        napi::sys::napi_ref_threadsafe_function(env.raw(), self.results.raw())
      } else {
        napi::sys::napi_unref_threadsafe_function(env.raw(), self.results.raw())
      }
    };
    if status == napi::sys::Status::napi_ok {
      Ok(())
    } else {
      Err(Error::from_reason("broker: cannot change whether it keeps Node alive"))
    }
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
          self.runtime.handle().spawn(replay);
        }
        0
      }
    }
  }

  /// Publishes to channel `name` as publish `seq`: its result comes to `on_results`.
  /// Queued here, at the call, so one process's events keep the order of its calls.
  #[napi]
  pub fn publish(&self, seq: f64, name: String, event: Option<String>, data: String, retry: Option<u32>, history: u32) {
    let body = encode_event(&Event { id: None, event: event.as_deref(), data: &data, retry });
    self.client.publish(seq as u64, name, body, history as usize);
  }
}

fn unknown_outcome() -> String {
  format!("publish failed: no answer from Redis within {} s (the event may still be delivered if Redis took it)", PUBLISH_TIMEOUT.as_secs())
}

