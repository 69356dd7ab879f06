//! Server counters, cheap to bump from any thread; read by `server.stats()`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Stats {
  requests: AtomicU64,
  streams_open: AtomicU64,
  events_sent: AtomicU64,
  bytes_written: AtomicU64,
  slow_disconnects: AtomicU64,
  events_dropped: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
  pub requests: u64,
  pub streams_open: u64,
  pub events_sent: u64,
  pub bytes_written: u64,
  pub slow_disconnects: u64,
  pub events_dropped: u64,
}

impl Stats {
  pub fn request(&self) {
    self.requests.fetch_add(1, Relaxed);
  }
  pub fn streams_opened(&self) {
    self.streams_open.fetch_add(1, Relaxed);
  }
  pub fn streams_closed(&self) {
    self.streams_open.fetch_sub(1, Relaxed);
  }
  pub fn events(&self, n: u64) {
    self.events_sent.fetch_add(n, Relaxed);
  }
  pub fn written(&self, n: u64) {
    self.bytes_written.fetch_add(n, Relaxed);
  }
  pub fn slow_disconnect(&self) {
    self.slow_disconnects.fetch_add(1, Relaxed);
  }
  pub fn dropped(&self) {
    self.events_dropped.fetch_add(1, Relaxed);
  }
  pub fn snapshot(&self) -> Snapshot {
    Snapshot {
      requests: self.requests.load(Relaxed),
      streams_open: self.streams_open.load(Relaxed),
      events_sent: self.events_sent.load(Relaxed),
      bytes_written: self.bytes_written.load(Relaxed),
      slow_disconnects: self.slow_disconnects.load(Relaxed),
      events_dropped: self.events_dropped.load(Relaxed),
    }
  }
}
