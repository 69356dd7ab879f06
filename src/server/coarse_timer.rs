//! A coarse timer for hyper's per-request head-read deadline (and the clock the
//! handler deadline sweep reads). tokio's exact timers
//! cost a wheel registration (and often a driver wake-up) per request; a deadline
//! measured in seconds does not need that. Here a sleep is a deadline and a waker
//! slot; one ticker task per server sweeps them every TICK. Deadlines fire up to one
//! TICK late.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const TICK: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct CoarseTimer {
  shared: Arc<Shared>,
}

struct Shared {
  origin: Instant,
  /// Milliseconds since `origin`, as of the last tick.
  now_ms: AtomicU64,
  waiting: Mutex<Vec<Weak<Slot>>>,
}

struct Slot {
  deadline_ms: u64,
  waker: Mutex<Option<Waker>>,
}

struct CoarseSleep {
  slot: Arc<Slot>,
  shared: Arc<Shared>,
  registered: bool,
}

impl CoarseTimer {
  pub fn new() -> Self {
    Self { shared: Arc::new(Shared { origin: Instant::now(), now_ms: AtomicU64::new(0), waiting: Mutex::new(Vec::new()) }) }
  }

  /// The sweeping task; runs on the server's runtime.
  pub async fn run(self) {
    let mut due = Vec::new();
    loop {
      tokio::time::sleep(TICK).await;
      let now = self.shared.origin.elapsed().as_millis() as u64;
      self.shared.now_ms.store(now, Ordering::Relaxed);
      self.shared.waiting.lock().retain(|weak| match weak.upgrade() {
        None => false,
        Some(slot) if slot.deadline_ms <= now => {
          due.push(slot);
          false
        }
        Some(_) => true,
      });
      for slot in due.drain(..) {
        if let Some(w) = slot.waker.lock().take() {
          w.wake();
        }
      }
    }
  }

  /// Milliseconds since the timer started, as of the last tick.
  pub fn now_ms(&self) -> u64 {
    self.shared.now_ms.load(Ordering::Relaxed)
  }

  fn sleep_ms(&self, deadline_ms: u64) -> Pin<Box<dyn hyper::rt::Sleep>> {
    Box::pin(CoarseSleep { slot: Arc::new(Slot { deadline_ms, waker: Mutex::new(None) }), shared: self.shared.clone(), registered: false })
  }
}

impl hyper::rt::Timer for CoarseTimer {
  fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
    let now = self.shared.now_ms.load(Ordering::Relaxed);
    self.sleep_ms(now + duration.as_millis() as u64)
  }

  fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
    self.sleep_ms(deadline.saturating_duration_since(self.shared.origin).as_millis() as u64)
  }
}

impl Future for CoarseSleep {
  type Output = ();

  fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
    let this = self.get_mut();
    if this.shared.now_ms.load(Ordering::Relaxed) >= this.slot.deadline_ms {
      return Poll::Ready(());
    }
    {
      let mut waker = this.slot.waker.lock();
      match waker.as_ref() {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *waker = Some(cx.waker().clone()),
      }
    }
    if !this.registered {
      this.registered = true;
      this.shared.waiting.lock().push(Arc::downgrade(&this.slot));
    }
    Poll::Pending
  }
}

impl hyper::rt::Sleep for CoarseSleep {}

#[cfg(test)]
mod tests {
  use super::*;
  use hyper::rt::Timer;

  #[tokio::test(flavor = "current_thread")]
  async fn fires_after_the_deadline_and_forgets_dropped_sleeps() {
    let timer = CoarseTimer::new();
    tokio::spawn(timer.clone().run());
    let mut sleep = timer.sleep(Duration::from_millis(60));
    assert!(futures_util::poll!(sleep.as_mut()).is_pending(), "not due yet");
    sleep.await;
    // A sleep dropped before its deadline leaves nothing behind after a sweep.
    let mut dropped = timer.sleep(Duration::from_secs(60));
    let _ = futures_util::poll!(dropped.as_mut());
    drop(dropped);
    tokio::time::sleep(TICK * 3).await;
    assert!(timer.shared.waiting.lock().is_empty());
  }
}
