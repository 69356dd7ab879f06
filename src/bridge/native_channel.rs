//! `NativeChannel`, the JS handle on a broadcast channel.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Either};
use napi::Result;
use napi_derive::napi;

use super::native_server::NativeServer;
use crate::broadcast::channel::{Channel, ChannelOptions, Publish};

#[napi(object)]
#[derive(Default)]
pub struct NativeChannelOptions {
  /// Events kept for Last-Event-ID replay (default 0).
  pub history: Option<u32>,
  /// `retry:` hint sent to each new subscriber, in ms.
  pub retry: Option<u32>,
}

#[napi(object)]
pub struct NativeDelivery {
  pub queued: u32,
  pub dropped: u32,
}

#[napi]
pub struct NativeChannel {
  channel: Arc<Channel>,
}

impl NativeChannel {
  pub fn inner(&self) -> &Arc<Channel> {
    &self.channel
  }
}

#[napi]
impl NativeChannel {
  #[napi(constructor)]
  pub fn new(options: Option<NativeChannelOptions>) -> Self {
    let o = options.unwrap_or_default();
    Self { channel: Arc::new(Channel::new(ChannelOptions { history: o.history.unwrap_or(0) as usize, retry: o.retry })) }
  }

  /// Encodes the event once and queues it to every subscriber.
  #[napi(catch_unwind)]
  pub fn publish(&self, id: Option<String>, event: Option<String>, data: Either<String, Buffer>, retry: Option<u32>) -> NativeDelivery {
    let text;
    let data = match &data {
      Either::A(s) => s.as_str(),
      Either::B(b) => {
        text = String::from_utf8_lossy(b);
        text.as_ref()
      }
    };
    let d = self.channel.publish(&Publish { id: id.as_deref(), event: event.as_deref(), data, retry });
    NativeDelivery { queued: d.queued, dropped: d.dropped }
  }

  /// Subscribes request `id`'s open stream on `server`; replays what it missed after
  /// `last_event_id`. Returns the number replayed, or -1 if the stream is not open.
  #[napi(catch_unwind)]
  pub fn subscribe(&self, server: &NativeServer, id: i64, last_event_id: Option<String>) -> Result<i32> {
    let Some(queue) = server.stream_of(id as u64) else { return Ok(-1) };
    Ok(self.channel.subscribe(queue, last_event_id.as_deref()).map_or(-1, |n| n as i32))
  }

  #[napi]
  pub fn unsubscribe(&self, server: &NativeServer, id: i64) -> bool {
    server.stream_of(id as u64).is_some_and(|q| self.channel.unsubscribe(&q))
  }

  #[napi(getter)]
  pub fn size(&self) -> u32 {
    self.channel.size() as u32
  }

  #[napi]
  pub fn close(&self) {
    self.channel.close();
  }
}
