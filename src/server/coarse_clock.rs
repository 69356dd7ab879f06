//! A clock with 25 ms resolution for deadlines measured in tenths of seconds or more
//! (request heads, handlers). Reading it is one atomic load; one ticker task per server
//! advances it. Per-request timers cost hundreds of instructions each (a tokio timer
//! ~1,000, a boxed sleep for hyper ~560, measured with callgrind); the deadlines that
//! use this clock are enforced by sweeps instead (`head_deadline`, `handler_deadline`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TICK: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct CoarseClock {
  shared: Arc<Shared>,
}

struct Shared {
  origin: Instant,
  /// Milliseconds since `origin`, as of the last tick.
  now_ms: AtomicU64,
}

impl CoarseClock {
  pub fn new() -> Self {
    Self { shared: Arc::new(Shared { origin: Instant::now(), now_ms: AtomicU64::new(0) }) }
  }

  /// Milliseconds since the clock started, as of the last tick (up to TICK behind).
  pub fn now_ms(&self) -> u64 {
    self.shared.now_ms.load(Ordering::Relaxed)
  }

  /// The ticker task; runs on the server's runtime.
  pub async fn run(self) {
    loop {
      tokio::time::sleep(TICK).await;
      self.shared.now_ms.store(self.shared.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
  }
}

impl Default for CoarseClock {
  fn default() -> Self {
    Self::new()
  }
}

/// How often a sweep enforcing a deadline of `limit` runs: a quarter of it, between
/// 10 ms and 250 ms. The deadline fires up to that (plus one TICK) late.
pub fn sweep_period(limit: Duration) -> Duration {
  (limit / 4).clamp(Duration::from_millis(10), Duration::from_millis(250))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[tokio::test(flavor = "current_thread")]
  async fn advances_by_ticks() {
    let clock = CoarseClock::new();
    tokio::spawn(clock.clone().run());
    assert_eq!(clock.now_ms(), 0);
    tokio::time::sleep(TICK * 3).await;
    let now = clock.now_ms();
    assert!(now >= TICK.as_millis() as u64 && now <= 10 * TICK.as_millis() as u64, "{now}");
  }
}
