//! A handler that never starts its response gets a 503. One sweeping task per server
//! checks the pending exchanges a few times per deadline, instead of a timer per
//! request (a tokio timer cost ~1,000 instructions per request, measured with
//! callgrind). The 503 goes out up to a quarter of the deadline (at most 250 ms) late.

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;

use super::coarse_clock::sweep_period;
use super::service::plain;
use super::state::ServerState;
use crate::server::event_queue::Event;

pub async fn sweep(state: Arc<ServerState>, limit: Duration) {
  let limit_ms = limit.as_millis() as u64;
  loop {
    tokio::time::sleep(sweep_period(limit)).await;
    let Some(cutoff) = state.clock.now_ms().checked_sub(limit_ms) else { continue };
    for (id, watched, reply) in state.exchanges.expire_pending(cutoff) {
      // JS learns the request is over: its later writes return false, 'abort' and
      // 'close' fire.
      if watched {
        state.events.push(Event::Close { id, aborted: true });
      }
      let _ = reply.send(plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
    }
  }
}
