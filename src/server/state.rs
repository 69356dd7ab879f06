//! What one server shares between its tokio tasks and the JS thread.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Notify};

use super::router::Router;
use super::coarse_clock::CoarseClock;
use super::stats::Stats;
use crate::server::event_queue::EventQueue;
use crate::server::handoff::Handoff;
use crate::http::exchange::{Exchanges, IdHasher};
use crate::http::stream::{ConnectionKill, StreamLimits, StreamQueue};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Phase {
  Running,
  /// `close()` was called: no new connections, streams are ended, in-flight requests finish.
  Draining,
  /// The drain timed out: every connection is dropped now.
  Force,
}

pub struct Limits {
  pub header_read_timeout: Duration,
  /// Read buffer bound, so also the largest request head (past it: 431).
  pub max_header_size: usize,
  /// Bound of a request body read early, for a stream opened before it was read.
  pub max_body: usize,
  /// Connections beyond this are accepted and closed at once.
  pub max_connections: usize,
  /// A handler that has not started a response by then gets a 503 (None: never).
  pub handler_timeout: Option<Duration>,
  /// Test builds: a request with `x-hyper-sse-test-panic` panics in the request path.
  pub panic_test_hook: bool,
  pub stream: StreamLimits,
  /// Default keep-alive comment interval for new streams, in ms (0 = off).
  pub heartbeat_ms: u32,
}

pub struct ServerState {
  pub exchanges: Exchanges,
  pub events: Arc<EventQueue>,
  pub router: RwLock<Router>,
  /// Unmatched requests go to JS (a not-found handler or global middleware exists).
  pub dispatch_unmatched: AtomicBool,
  pub limits: Limits,
  pub stats: Arc<Stats>,
  /// Replies and stream wake-ups from the JS thread, delivered in batches.
  pub handoff: Arc<Handoff>,
  /// The clock deadlines are measured on (see coarse_clock.rs).
  pub clock: CoarseClock,
  /// The accept loop watches this; connections read `phase_now` (see `set_phase`).
  pub phase: watch::Sender<Phase>,
  /// Set by the accept loop once its listening socket is closed (see `wait_unbound`).
  unbound: (parking_lot::Mutex<bool>, parking_lot::Condvar),
  phase_now: AtomicU8,
  next_id: AtomicU64,
  connections: AtomicUsize,
  /// Connections closing in stages (server/lingering_close.rs): no longer open, not
  /// yet closed.
  lingering: AtomicUsize,
  /// Every open connection's kill switch, to wake them all when the phase changes.
  live: Mutex<HashMap<u64, Arc<ConnectionKill>, BuildHasherDefault<IdHasher>>>,
  next_connection: AtomicU64,
  connections_gone: Notify,
}

impl ServerState {
  pub fn new(max_queued_requests: usize, limits: Limits) -> Arc<Self> {
    Arc::new(Self {
      exchanges: Exchanges::default(),
      events: Arc::new(EventQueue::new(max_queued_requests)),
      router: RwLock::new(Router::default()),
      dispatch_unmatched: AtomicBool::new(false),
      limits,
      stats: Arc::new(Stats::default()),
      handoff: Arc::new(Handoff::default()),
      clock: CoarseClock::new(),
      phase: watch::Sender::new(Phase::Running),
      unbound: (parking_lot::Mutex::new(false), parking_lot::Condvar::new()),
      phase_now: AtomicU8::new(Phase::Running as u8),
      next_id: AtomicU64::new(1),
      connections: AtomicUsize::new(0),
      lingering: AtomicUsize::new(0),
      live: Mutex::new(HashMap::default()),
      next_connection: AtomicU64::new(0),
      connections_gone: Notify::new(),
    })
  }

  /// A queue for a new streaming response, with this server's limits.
  pub fn new_stream(&self, connection: Arc<ConnectionKill>) -> Arc<StreamQueue> {
    StreamQueue::new(self.limits.stream, self.limits.heartbeat_ms, self.stats.clone(), connection, self.handoff.clone())
  }

  pub fn next_id(&self) -> u64 {
    self.next_id.fetch_add(1, Ordering::Relaxed)
  }

  /// The accept loop has closed its listening socket.
  pub fn mark_unbound(&self) {
    *self.unbound.0.lock() = true;
    self.unbound.1.notify_all();
  }

  /// Waits (at most `limit`) for the accept loop to close its listening socket, so a
  /// connection attempted after `close()` returns is refused, not accepted then dropped.
  pub fn wait_unbound(&self, limit: Duration) {
    let mut done = self.unbound.0.lock();
    if !*done {
      self.unbound.1.wait_for(&mut done, limit);
    }
  }

  /// Moves every connection to `phase` (woken to act on it) and tells the accept loop.
  pub fn set_phase(&self, phase: Phase) {
    self.phase_now.store(phase as u8, Ordering::Release);
    self.phase.send_replace(phase);
    for kill in self.live.lock().values() {
      kill.wake();
    }
  }

  pub fn phase_now(&self) -> Phase {
    match self.phase_now.load(Ordering::Acquire) {
      0 => Phase::Running,
      1 => Phase::Draining,
      _ => Phase::Force,
    }
  }

  /// Runs `f` on every open connection's kill switch (the head-deadline sweep).
  pub fn for_each_connection(&self, mut f: impl FnMut(&ConnectionKill)) {
    for kill in self.live.lock().values() {
      f(kill);
    }
  }

  /// Counts a connection (and keeps its kill switch reachable) until the returned
  /// guard drops.
  pub fn connection_opened(self: &Arc<Self>, kill: Arc<ConnectionKill>) -> ConnectionCount {
    self.connections.fetch_add(1, Ordering::AcqRel);
    let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
    self.live.lock().insert(id, kill);
    ConnectionCount { state: self.clone(), id, lingering: false }
  }

  pub fn open_connections(&self) -> usize {
    self.connections.load(Ordering::Acquire)
  }

  /// No connection open or closing.
  fn all_closed(&self) -> bool {
    self.open_connections() == 0 && self.lingering.load(Ordering::Acquire) == 0
  }

  /// Waits until no connection is open (or closing), or `limit` passes; true if none
  /// is left.
  pub async fn connections_closed(&self, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
      let gone = self.connections_gone.notified();
      if self.all_closed() {
        return true;
      }
      // Streams a handler opened after close() began are ended on the next pass.
      self.exchanges.end_all_streams(None);
      let tick = tokio::time::Instant::now() + Duration::from_millis(20);
      tokio::select! {
        _ = gone => {}
        _ = tokio::time::sleep_until(tick.min(deadline)) => {}
      }
      if tokio::time::Instant::now() >= deadline {
        return self.all_closed();
      }
    }
  }
}

pub struct ConnectionCount {
  state: Arc<ServerState>,
  id: u64,
  lingering: bool,
}

impl ConnectionCount {
  /// The connection is closing in stages: counted apart from open ones from now on.
  pub fn lingering(&mut self) {
    if !self.lingering {
      self.lingering = true;
      self.state.lingering.fetch_add(1, Ordering::AcqRel);
      self.state.connections.fetch_sub(1, Ordering::AcqRel);
    }
  }
}

impl Drop for ConnectionCount {
  fn drop(&mut self) {
    let s = &self.state;
    s.live.lock().remove(&self.id);
    let counter = if self.lingering { &s.lingering } else { &s.connections };
    counter.fetch_sub(1, Ordering::AcqRel);
    if s.all_closed() {
      s.connections_gone.notify_waiters();
    }
  }
}
