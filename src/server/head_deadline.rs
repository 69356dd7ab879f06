//! A connection waiting for a request head (just opened, idle between keep-alive
//! requests, or a slowloris trickling one in) is closed after `header_timeout`. One
//! sweeping task per server checks every open connection a few times per deadline;
//! per connection, serving a request costs two atomic updates instead of a timer.
//! Streams are never timed out: a connection is idle only when no response is in
//! flight.

use std::sync::Arc;
use std::time::Duration;

use super::coarse_clock::sweep_period;
use super::state::ServerState;

pub async fn sweep(state: Arc<ServerState>, limit: Duration) {
  let limit_ms = limit.as_millis() as u64;
  loop {
    tokio::time::sleep(sweep_period(limit)).await;
    let Some(cutoff) = state.clock.now_ms().checked_sub(limit_ms) else { continue };
    state.for_each_connection(|conn| {
      if conn.idle_since(cutoff) {
        conn.kill();
      }
    });
  }
}
