//! The queue behind one streaming response: JS writes, SSE sends and channel
//! publishes push bytes here; the response body drains everything queued in one
//! socket write. It also holds the slow-client policy: unsent bytes are bounded.
//!
//! For an event stream that has left hyper (server/detached_stream.rs), a push that
//! finds nothing queued, the writer task idle and the stream's last push at least
//! DIRECT_MIN_GAP ago writes straight to the socket, on the pushing thread: no wake-up
//! of the runtime thread, no task poll, and the event leaves at once (as with a server
//! that writes from the JS thread). Faster streams queue, so that the writer task
//! coalesces them into one write per wake-up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::body::ResponseBody;
use crate::server::handoff::Handoff;
use crate::server::coarse_clock::CoarseClock;
use crate::server::stats::Stats;

/// What to do with a client whose unsent bytes pass `max_buffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowClient {
  /// Disconnect it (its `abort` and `close` fire). The default: memory stays bounded
  /// and the client can reconnect with Last-Event-ID.
  Disconnect,
  /// Keep it, but drop what does not fit.
  Drop,
}

#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
  /// Above this many unsent bytes, writes report backpressure (return false).
  pub high_water: usize,
  /// Past this many unsent bytes the slow-client policy applies.
  pub max_buffer: usize,
  pub policy: SlowClient,
}

/// Result of queueing bytes on a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
  /// Queued; `below_high_water` is false when the writer should wait for `drain`.
  Queued { below_high_water: bool },
  /// Not queued: the client is too far behind (policy `Drop`).
  Dropped,
  /// Not queued: the stream has ended or the client is gone (or was just disconnected).
  Closed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
  Open,
  /// No more writes; what is queued still goes out, then the body ends.
  Ending,
  /// The client was cut off (slow) or went away: nothing more goes out.
  Dead,
}

struct Inner {
  queue: VecDeque<Bytes>,
  queued_bytes: usize,
  state: State,
  waker: Option<Waker>,
  /// A writer saw backpressure; tell it when the queue drops to the high-water mark.
  drain_wanted: bool,
  /// The body was told to fail (slow client) on its next poll.
  killed: bool,
  /// The socket of a stream that left hyper: a write finding nothing queued and the
  /// writer task idle goes straight to it, from the writer's thread.
  direct: Option<Arc<dyn DirectSocket>>,
  /// The writer task holds bytes it took and has not finished writing.
  writer_busy: bool,
  /// When bytes were last pushed: a stream written faster than DIRECT_MIN_GAP goes
  /// through the writer task, which coalesces what queues up.
  last_push: Option<Instant>,
  /// Channels this stream subscribed to: told when it closes, so none keeps a dead
  /// stream (its queue, its connection's handles) until its next publish.
  joined: Vec<Weak<dyn Membership>>,
}

/// A group a stream can join (a broadcast channel). Lower layers call up only through
/// this: the stream tells each group it joined when it closes.
pub trait Membership: Send + Sync {
  /// `stream` closed: forget it.
  fn leave(&self, stream: &StreamQueue);
}

/// Whether `w` points at the group at `group` (compared by address).
fn same_group(w: &Weak<dyn Membership>, group: *const ()) -> bool {
  w.as_ptr() as *const () == group
}

/// Writes closer together than this are queued, not written straight to the socket:
/// at high rates one socket write per many events (the writer task, on the runtime
/// thread) beats one per event on the JS thread.
const DIRECT_MIN_GAP: Duration = Duration::from_millis(5);

/// About DIRECT_PER_WINDOW writes straight to sockets per DIRECT_WINDOW, per server:
/// a publish to 100,000 streams queues most of them for the runtime thread instead of
/// holding the JS thread in 100,000 syscalls.
const DIRECT_PER_WINDOW: u32 = 1024;
const DIRECT_WINDOW: Duration = Duration::from_millis(10);

/// The per-server budget of writes made straight to sockets: a token bucket holding up
/// to DIRECT_PER_WINDOW, refilled at that many per DIRECT_WINDOW.
pub struct DirectWriteBudget {
  bucket: Mutex<(Instant, f64)>,
}

impl Default for DirectWriteBudget {
  fn default() -> Self {
    Self { bucket: Mutex::new((Instant::now(), DIRECT_PER_WINDOW as f64)) }
  }
}

impl DirectWriteBudget {
  /// Takes one write from the budget, if one is left at `now`.
  fn take(&self, now: Instant) -> bool {
    let mut b = self.bucket.lock();
    let refill = now.saturating_duration_since(b.0).as_secs_f64() / DIRECT_WINDOW.as_secs_f64() * DIRECT_PER_WINDOW as f64;
    b.0 = b.0.max(now);
    b.1 = (b.1 + refill).min(DIRECT_PER_WINDOW as f64);
    if b.1 < 1.0 {
      return false;
    }
    b.1 -= 1.0;
    true
  }
}

/// What can end a connection from outside hyper: a stream cutting its client off (a
/// client that never reads stalls hyper's socket writes, and then hyper never polls
/// the body again to see it fail), the server's shutdown phase changing, or the head
/// deadline (see server/head_deadline.rs). The connection task checks it with atomic
/// loads each time it runs, and registers its waker without a lock: it runs once per
/// request and once per streamed write.
///
/// It also carries an SSE stream's body from the request's service to the connection
/// task, which writes it on the bare socket once hyper is done (server/detached_stream.rs).
#[derive(Default)]
pub struct ConnectionKill {
  killed: AtomicBool,
  waker: AtomicWaker,
  /// Requests whose response is not over yet (a stream counts until it ends).
  busy: AtomicU32,
  /// When the last response ended (or the connection opened), on `clock`.
  idle_since_ms: AtomicU64,
  clock: Option<CoarseClock>,
  /// The stream body to write after hyper finishes the head (boxed: every connection
  /// carries the slot, few use it).
  handover: Mutex<Option<Box<ResponseBody>>>,
  /// hyper's next write starts with that head: restore its HTTP/1.1 (server/conn_io.rs).
  version_fix: AtomicBool,
  /// TLS and h2: event streams stay in hyper's body path (never handed over).
  streams_in_hyper: AtomicBool,
}

impl ConnectionKill {
  pub fn new(clock: CoarseClock) -> Self {
    Self { idle_since_ms: AtomicU64::new(clock.now_ms()), clock: Some(clock), ..Default::default() }
  }

  pub fn kill(&self) {
    self.killed.store(true, Ordering::Release);
    self.waker.wake();
  }

  /// Makes the connection task look at the server's phase.
  pub fn wake(&self) {
    self.waker.wake();
  }

  /// Registers the connection task's waker, then tells whether it was killed.
  pub fn poll_killed(&self, waker: &Waker) -> bool {
    self.waker.register(waker);
    self.killed.load(Ordering::Acquire)
  }

  /// This connection carries many exchanges at once (h2): its event streams stay in
  /// hyper, and one exchange's trouble (a slow stream, a broken-off body) ends that
  /// exchange's stream only, never the connection (see `cut_off_exchange`).
  pub fn keep_streams_in_hyper(&self) {
    self.streams_in_hyper.store(true, Ordering::Relaxed);
  }

  /// One exchange on this connection must end at once: on HTTP/1.1 the connection goes
  /// with it (hyper would not notice otherwise); on h2 the stream's own reset or its
  /// failing body ends it, and the other streams go on.
  pub fn cut_off_exchange(&self) {
    if self.can_hand_over() {
      self.kill();
    }
  }

  /// Whether an event stream may leave hyper for a direct writer (plaintext HTTP/1.1).
  pub fn can_hand_over(&self) -> bool {
    !self.streams_in_hyper.load(Ordering::Relaxed)
  }

  /// A request head arrived.
  pub fn request_started(&self) {
    self.busy.fetch_add(1, Ordering::AcqRel);
  }

  /// Its response is over (written, or dropped with the connection).
  pub fn request_done(&self) {
    self.idle_since_ms.store(self.clock.as_ref().map_or(0, CoarseClock::now_ms), Ordering::Release);
    self.busy.fetch_sub(1, Ordering::AcqRel);
  }

  /// Keeps `body` for the connection task: hyper writes only the head (as HTTP/1.0,
  /// close-delimited, so that it then lets go of the socket); `fix_version` when the
  /// client speaks HTTP/1.1 and the status line should say so.
  pub fn hand_over(&self, body: ResponseBody, fix_version: bool) {
    *self.handover.lock() = Some(Box::new(body));
    self.version_fix.store(fix_version, Ordering::Release);
  }

  pub fn has_handover(&self) -> bool {
    self.handover.lock().is_some()
  }

  pub fn take_handover(&self) -> Option<ResponseBody> {
    self.handover.lock().take().map(|b| *b)
  }

  /// True once after `hand_over(_, true)`; one load on every other write.
  pub fn take_version_fix(&self) -> bool {
    self.version_fix.load(Ordering::Acquire) && self.version_fix.swap(false, Ordering::AcqRel)
  }

  /// True if no response is in flight and none has been since `cutoff_ms`.
  pub fn idle_since(&self, cutoff_ms: u64) -> bool {
    self.busy.load(Ordering::Acquire) == 0 && self.idle_since_ms.load(Ordering::Acquire) <= cutoff_ms
  }
}

/// A socket a stream's bytes may be written to from any thread, without waiting.
pub trait DirectSocket: Send + Sync {
  /// Writes what the socket takes now (WouldBlock: nothing).
  fn try_write(&self, buf: &[u8]) -> std::io::Result<usize>;
  /// Bytes the socket accepted but has not sent yet (TLS records): the writer task
  /// must be woken to push them out.
  fn holds_unsent(&self) -> bool {
    false
  }
}

impl DirectSocket for TcpStream {
  fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
    TcpStream::try_write(self, buf)
  }
}

pub struct StreamQueue {
  inner: Mutex<Inner>,
  connection: Arc<ConnectionKill>,
  /// Wake-ups of the body go through the server's handoff task (see server/handoff.rs).
  handoff: Arc<Handoff>,
  limits: StreamLimits,
  /// Idle keep-alive comment interval in ms (0 = off); read by the body on each poll.
  heartbeat_ms: AtomicU32,
  stats: Arc<Stats>,
}

/// What the body gets from the queue.
pub enum Take {
  /// Bytes to write; `drained` when the queue just fell back under the high-water mark
  /// after a writer saw backpressure.
  Data { bytes: Bytes, drained: bool },
  /// Ended normally: finish the body.
  End,
  /// Cut off (slow client): fail the body so the connection closes.
  Kill,
}

/// Most bytes gathered into one write.
const COALESCE_LIMIT: usize = 256 * 1024;

impl StreamQueue {
  /// The handoff that delivers this stream's wake-ups (a publisher holds it while it
  /// pushes to many streams).
  pub fn handoff(&self) -> &Arc<Handoff> {
    &self.handoff
  }

  pub fn new(limits: StreamLimits, heartbeat_ms: u32, stats: Arc<Stats>, connection: Arc<ConnectionKill>, handoff: Arc<Handoff>) -> Arc<Self> {
    stats.streams_opened();
    Arc::new(Self {
      connection,
      handoff,
      inner: Mutex::new(Inner { queue: VecDeque::new(), queued_bytes: 0, state: State::Open, waker: None, drain_wanted: false, killed: false, direct: None, writer_busy: false, last_push: None, joined: Vec::new() }),
      limits,
      heartbeat_ms: AtomicU32::new(heartbeat_ms),
      stats,
    })
  }

  pub fn push(&self, mut bytes: Bytes) -> Pushed {
    if bytes.is_empty() {
      let inner = self.inner.lock();
      return if inner.state == State::Open { Pushed::Queued { below_high_water: inner.queued_bytes <= self.limits.high_water } } else { Pushed::Closed };
    }
    let waker;
    let result;
    {
      let mut inner = self.inner.lock();
      if inner.state != State::Open {
        return Pushed::Closed;
      }
      // Part of these bytes is already on the wire: the rest must follow whatever the
      // policy says, or the client would read the next event glued onto a cut one.
      let mut started = false;
      if inner.direct.is_some() {
        let now = Instant::now();
        let spaced = inner.last_push.is_none_or(|t| now.duration_since(t) >= DIRECT_MIN_GAP);
        inner.last_push = Some(now);
        if spaced && inner.queue.is_empty() && !inner.writer_busy && self.handoff.direct_budget.take(now) {
          // Nothing ahead of these bytes: write them now, with no wake-up of the
          // runtime thread. What the socket does not take is queued for the task.
          if let Some(Ok(n)) = inner.direct.as_ref().map(|socket| socket.try_write(&bytes)) {
            self.stats.written(n as u64);
            if n == bytes.len() {
              if inner.direct.as_ref().is_some_and(|socket| socket.holds_unsent()) {
                // Encrypted but not all out (TLS): the writer task finishes the send.
                if let Some(w) = inner.waker.take() {
                  drop(inner);
                  self.handoff.wake(w);
                }
              }
              return Pushed::Queued { below_high_water: true };
            }
            bytes = bytes.slice(n..);
            started = n > 0;
          }
        }
      }
      // "Behind" is what the client has not taken: a push onto an empty queue is taken
      // whatever its size (one event larger than max_buffer still reaches a healthy
      // client), and so is the rest of a partly written one. What is queued stays
      // within max_buffer plus one push.
      if !started && inner.queued_bytes > 0 && inner.queued_bytes + bytes.len() > self.limits.max_buffer {
        match self.limits.policy {
          SlowClient::Drop => {
            self.stats.dropped();
            return Pushed::Dropped;
          }
          SlowClient::Disconnect => {
            inner.state = State::Dead;
            inner.killed = true;
            inner.queue.clear();
            inner.queued_bytes = 0;
            self.stats.slow_disconnect();
            self.connection.cut_off_exchange();
            waker = inner.waker.take();
            result = Pushed::Closed;
          }
        }
      } else {
        inner.queued_bytes += bytes.len();
        inner.queue.push_back(bytes);
        let below = inner.queued_bytes <= self.limits.high_water;
        if !below {
          inner.drain_wanted = true;
        }
        waker = inner.waker.take();
        result = Pushed::Queued { below_high_water: below };
      }
    }
    if let Some(w) = waker {
      self.handoff.wake(w);
    }
    result
  }

  /// `push` for one SSE event, counted in the server's stats.
  pub fn push_event(&self, bytes: Bytes) -> Pushed {
    let pushed = self.push(bytes);
    if matches!(pushed, Pushed::Queued { .. }) {
      self.stats.events(1);
    }
    pushed
  }

  /// No more writes: the body ends after what is queued.
  pub fn end(&self) {
    let waker = {
      let mut inner = self.inner.lock();
      if inner.state == State::Open {
        inner.state = State::Ending;
      }
      inner.waker.take()
    };
    if let Some(w) = waker {
      self.handoff.wake(w);
    }
  }

  /// Lets writes go straight to the stream's socket when nothing is queued.
  pub fn attach_socket(&self, socket: Arc<dyn DirectSocket>) {
    self.inner.lock().direct = Some(socket);
  }

  /// No more direct writes; returns once none is in progress.
  pub fn detach_socket(&self) {
    self.inner.lock().direct = None;
  }

  /// The body is gone (client left or finished): writers get `Closed` from now on,
  /// and every channel it joined lets go of it now.
  pub fn close(&self) {
    let joined = {
      let mut inner = self.inner.lock();
      inner.direct = None;
      inner.state = State::Dead;
      inner.queue.clear();
      inner.queued_bytes = 0;
      // A task's waker holds its runtime (an epoll and an eventfd) alive.
      inner.waker = None;
      std::mem::take(&mut inner.joined)
    };
    // Outside the stream's lock: a group takes its own lock first, then a stream's.
    for group in joined.iter().filter_map(Weak::upgrade) {
      group.leave(self);
    }
  }

  /// Records that this stream joined `group`; false (and not recorded) if the stream
  /// is no longer open, so a group can never keep a stream that closed meanwhile.
  pub fn join(&self, group: Weak<dyn Membership>) -> bool {
    let mut inner = self.inner.lock();
    if inner.state != State::Open {
      return false;
    }
    let at = group.as_ptr() as *const ();
    if !inner.joined.iter().any(|w| same_group(w, at)) {
      inner.joined.push(group);
    }
    true
  }

  /// This stream left the group at `group` by itself (unsubscribed).
  pub fn part(&self, group: *const ()) {
    self.inner.lock().joined.retain(|w| !same_group(w, group));
  }

  pub fn is_open(&self) -> bool {
    self.inner.lock().state == State::Open
  }

  pub fn set_heartbeat(&self, ms: u32) {
    self.heartbeat_ms.store(ms, Ordering::Relaxed);
    if let Some(w) = self.inner.lock().waker.take() {
      self.handoff.wake(w);
    }
  }

  /// The writer task would write bytes of its own (a heartbeat): direct writes wait until
  /// it asks for more, so the two never interleave on the socket. False, and the writer
  /// must not write, if bytes were queued since it last looked: they may be the rest of
  /// a partly written direct write, and must go first.
  pub fn writer_took(&self) -> bool {
    let mut inner = self.inner.lock();
    if !inner.queue.is_empty() || inner.killed {
      return false;
    }
    inner.writer_busy = true;
    true
  }

  /// When bytes were last pushed to a stream with a direct socket (queued or written
  /// straight to it).
  pub fn last_push(&self) -> Option<Instant> {
    self.inner.lock().last_push
  }

  pub fn heartbeat_ms(&self) -> u32 {
    self.heartbeat_ms.load(Ordering::Relaxed)
  }

  /// Takes everything queued (up to COALESCE_LIMIT) as one chunk.
  pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Take> {
    let mut inner = self.inner.lock();
    if inner.killed {
      return Poll::Ready(Take::Kill);
    }
    if let Some(first) = inner.queue.pop_front() {
      let bytes = if inner.queue.is_empty() || first.len() >= COALESCE_LIMIT {
        first
      } else {
        let mut buf = BytesMut::with_capacity(inner.queued_bytes.min(COALESCE_LIMIT));
        buf.extend_from_slice(&first);
        while let Some(next) = inner.queue.front() {
          if buf.len() + next.len() > COALESCE_LIMIT {
            break;
          }
          buf.extend_from_slice(next);
          inner.queue.pop_front();
        }
        buf.freeze()
      };
      inner.queued_bytes -= bytes.len();
      inner.writer_busy = true;
      let drained = inner.drain_wanted && inner.queued_bytes <= self.limits.high_water;
      if drained {
        inner.drain_wanted = false;
      }
      return Poll::Ready(Take::Data { bytes, drained });
    }
    // Asked again with nothing queued: whatever the task took before is written.
    inner.writer_busy = false;
    match inner.state {
      State::Open => {
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
      }
      State::Ending | State::Dead => Poll::Ready(Take::End),
    }
  }
}

impl Drop for StreamQueue {
  fn drop(&mut self) {
    self.stats.streams_closed();
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::task::Waker;

  fn queue(high_water: usize, max_buffer: usize, policy: SlowClient) -> Arc<StreamQueue> {
    StreamQueue::new(StreamLimits { high_water, max_buffer, policy }, 0, Arc::new(Stats::default()), Arc::default(), Arc::default())
  }

  fn take(q: &StreamQueue) -> Poll<Take> {
    q.poll_take(&mut Context::from_waker(Waker::noop()))
  }

  #[test]
  fn coalesces_and_reports_backpressure_then_drain() {
    let q = queue(4, 100, SlowClient::Disconnect);
    assert_eq!(q.push(Bytes::from_static(b"ab")), Pushed::Queued { below_high_water: true });
    assert_eq!(q.push(Bytes::from_static(b"cde")), Pushed::Queued { below_high_water: false });
    match take(&q) {
      Poll::Ready(Take::Data { bytes, drained }) => {
        assert_eq!(&bytes[..], b"abcde");
        assert!(drained);
      }
      _ => panic!("expected data"),
    }
    assert!(matches!(take(&q), Poll::Pending));
    q.end();
    assert!(matches!(take(&q), Poll::Ready(Take::End)));
    assert_eq!(q.push(Bytes::from_static(b"x")), Pushed::Closed);
  }

  #[test]
  fn slow_client_is_cut_off_or_dropped() {
    let q = queue(4, 8, SlowClient::Disconnect);
    q.push(Bytes::from_static(b"12345678"));
    assert_eq!(q.push(Bytes::from_static(b"9")), Pushed::Closed);
    assert!(matches!(take(&q), Poll::Ready(Take::Kill)));

    let q = queue(4, 8, SlowClient::Drop);
    q.push(Bytes::from_static(b"12345678"));
    assert_eq!(q.push(Bytes::from_static(b"9")), Pushed::Dropped);
    assert!(matches!(take(&q), Poll::Ready(Take::Data { .. })));
    assert_eq!(q.stats.snapshot().events_dropped, 1);
  }

  /// The writer found nothing, then a push landed (here queued behind a direct write,
  /// as the rest of a partial one would be): the heartbeat must wait for those bytes.
  #[tokio::test(flavor = "current_thread")]
  async fn a_heartbeat_never_jumps_ahead_of_queued_bytes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let q = queue(1 << 20, 1 << 20, SlowClient::Disconnect);
    q.attach_socket(Arc::new(server));
    assert!(matches!(take(&q), Poll::Pending), "writer idle");
    assert_eq!(q.push(Bytes::from_static(b"data: a\n\n")), Pushed::Queued { below_high_water: true });
    assert_eq!(q.inner.lock().queued_bytes, 0, "the first push went straight to the socket");
    q.push(Bytes::from_static(b"data: b\n\n"));
    assert!(q.inner.lock().queued_bytes > 0, "a push within DIRECT_MIN_GAP is queued");
    assert!(!q.writer_took(), "queued bytes go before a heartbeat");
    assert!(matches!(take(&q), Poll::Ready(Take::Data { .. })));
    assert!(matches!(take(&q), Poll::Pending));
    assert!(q.writer_took(), "nothing queued: the heartbeat may go");
    q.push(Bytes::from_static(b"data: c\n\n"));
    assert!(q.inner.lock().queued_bytes > 0, "while the writer holds a heartbeat, pushes queue");
  }

  #[test]
  fn direct_writes_are_budgeted_per_window() {
    let budget = DirectWriteBudget::default();
    let start = Instant::now();
    assert!((0..DIRECT_PER_WINDOW).all(|_| budget.take(start)));
    assert!(!budget.take(start), "spent");
    let half = start + DIRECT_WINDOW / 2;
    let refilled = (0..DIRECT_PER_WINDOW).take_while(|_| budget.take(half)).count() as u32;
    assert!(refilled.abs_diff(DIRECT_PER_WINDOW / 2) <= 1, "half a window refills half: {refilled}");
    let later = start + DIRECT_WINDOW * 10;
    let full = (0..2 * DIRECT_PER_WINDOW).take_while(|_| budget.take(later)).count() as u32;
    assert_eq!(full, DIRECT_PER_WINDOW, "never more than one window's worth");
  }
}
