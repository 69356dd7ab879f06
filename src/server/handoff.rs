//! The JS -> tokio half of the crossing, batched. Replies and stream wake-ups made on
//! the JS thread are not delivered from there (each would be a cross-thread wake-up,
//! a syscall, per request or per event): they are queued here, and one task on the
//! runtime delivers everything queued since its last turn. A burst of writes from one
//! JS turn (a fan-out loop, a batch of responses) costs one wake-up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

use hyper::Response;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use crate::http::body::ResponseBody;
use crate::http::stream::DirectWriteBudget;

enum Deferred {
  Wake(Waker),
  Reply(oneshot::Sender<Response<ResponseBody>>, Response<ResponseBody>),
}

#[derive(Default)]
pub struct Handoff {
  pending: Mutex<Vec<Deferred>>,
  ready: Notify,
  /// While anyone holds (JS handling a batch of events, a JS turn of writes, a
  /// channel publish), deliveries wait for the last `release`: everything written
  /// meanwhile goes over in one wake-up.
  held: AtomicUsize,
  /// How many stream writes may skip the handoff and go straight to their sockets.
  pub direct_budget: DirectWriteBudget,
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
    if first && self.held.load(Ordering::Acquire) == 0 {
      self.ready.notify_one();
    }
  }

  /// Holds deliveries until the matching `release` (holds nest).
  pub fn hold(&self) {
    self.held.fetch_add(1, Ordering::AcqRel);
  }

  /// Ends one hold; the last one delivers what was queued meanwhile.
  pub fn release(&self) {
    let before = self.held.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(1))).unwrap_or(0);
    if before <= 1 && !self.pending.lock().is_empty() {
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

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::atomic::AtomicUsize;
  use std::task::Wake;

  struct Count(AtomicUsize);

  impl Wake for Count {
    fn wake(self: Arc<Self>) {
      self.0.fetch_add(1, Ordering::SeqCst);
    }
  }

  async fn settle() {
    for _ in 0..10 {
      tokio::task::yield_now().await;
    }
  }

  #[tokio::test(flavor = "current_thread")]
  async fn holds_nest_and_the_last_release_delivers() {
    let handoff = Arc::new(Handoff::default());
    tokio::spawn(handoff.clone().run());
    let count = Arc::new(Count(AtomicUsize::new(0)));
    handoff.hold();
    handoff.hold();
    handoff.wake(Waker::from(count.clone()));
    settle().await;
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "held");
    handoff.release();
    settle().await;
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "still held by the outer hold");
    handoff.release();
    settle().await;
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "delivered by the last release");
    // Unheld, a wake-up goes at once; an extra release does no harm.
    handoff.release();
    handoff.wake(Waker::from(count.clone()));
    settle().await;
    assert_eq!(count.0.load(Ordering::SeqCst), 2);
  }
}
