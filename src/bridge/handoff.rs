//! The JS -> tokio half of the crossing, batched. Replies and stream wake-ups made on
//! the JS thread are not delivered from there (each would be a cross-thread wake-up,
//! a syscall, per request or per event): they are queued here, and one task on the
//! runtime delivers everything queued since its last turn. A burst of writes from one
//! JS turn (a fan-out loop, a batch of responses) costs one wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Waker;

use hyper::Response;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use crate::http::body::ResponseBody;

enum Deferred {
  Wake(Waker),
  Reply(oneshot::Sender<Response<ResponseBody>>, Response<ResponseBody>),
}

#[derive(Default)]
pub struct Handoff {
  pending: Mutex<Vec<Deferred>>,
  ready: Notify,
  /// While JS handles a batch of events, deliveries wait for the end of the batch
  /// (`release`): everything the batch's handlers wrote goes over in one wake-up.
  held: AtomicBool,
}

impl Handoff {
  /// Wakes `waker` from the runtime's next handoff turn.
  pub fn wake(&self, waker: Waker) {
    self.push(Deferred::Wake(waker));
  }

  /// Delivers a reply from the runtime's next handoff turn. False if the request is
  /// already gone (nothing will read the reply).
  pub fn reply(&self, to: oneshot::Sender<Response<ResponseBody>>, resp: Response<ResponseBody>) -> bool {
    if to.is_closed() {
      return false;
    }
    self.push(Deferred::Reply(to, resp));
    true
  }

  fn push(&self, item: Deferred) {
    let first = {
      let mut pending = self.pending.lock();
      pending.push(item);
      pending.len() == 1
    };
    if first && !self.held.load(Ordering::Acquire) {
      self.ready.notify_one();
    }
  }

  /// A JS batch starts: hold deliveries until `release`.
  pub fn hold(&self) {
    self.held.store(true, Ordering::Release);
  }

  /// The JS batch is over: deliver what it queued.
  pub fn release(&self) {
    self.held.store(false, Ordering::Release);
    if !self.pending.lock().is_empty() {
      self.ready.notify_one();
    }
  }

  /// The delivering task; runs on the server's runtime until it shuts down.
  pub async fn run(self: Arc<Self>) {
    let mut batch = Vec::new();
    loop {
      self.ready.notified().await;
      std::mem::swap(&mut batch, &mut *self.pending.lock());
      for item in batch.drain(..) {
        match item {
          Deferred::Wake(w) => w.wake(),
          Deferred::Reply(to, resp) => {
            let _ = to.send(resp);
          }
        }
      }
    }
  }
}
