//! `NativeServer`, the class JS drives: routes in, batched events out, and the small
//! synchronous operations a response needs (`respond`, `startStream`, `write`,
//! `sseSend`, ...). Every operation takes the request id from its event; a stale id
//! is never an error, writes simply return false.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::Response;
use napi::bindgen_prelude::Function;
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use super::events::{Batch, BatchFn, Event, BATCH_BYTES};
use super::hot_calls::accepted;
use crate::http::head;
use crate::http::request_body::{self, Asked};
use crate::http::request_stream::{self, Streamed};
use crate::http::stream::{SlowClient, StreamLimits};
use crate::server::listener::accept_loop;
use crate::server::runtime::ServerRuntime;
use crate::server::state::{Limits, Phase, ServerState};
use crate::server::tls::{self, CertResolver, TlsMaterial};
use crate::sse::encode::{encode_event, encode_retry, Event as SseEvent};

#[napi(object)]
#[derive(Default)]
pub struct NativeOptions {
  /// tokio worker threads (default 1: the JS thread needs the other core).
  pub threads: Option<u32>,
  /// Requests waiting for JS before new ones get 503 (default 65536).
  pub max_queued_requests: Option<u32>,
  /// Time a client has to send a complete request head, in ms (default 30000).
  pub header_timeout_ms: Option<u32>,
  /// Unsent bytes per stream above which writes return false (default 65536).
  pub stream_high_water_mark: Option<u32>,
  /// Unsent bytes per stream past which the slow-client policy applies (default 1 MiB).
  pub stream_max_buffer: Option<u32>,
  /// "disconnect" (default) or "drop".
  pub slow_client: Option<String>,
  /// Keep-alive comment interval for idle SSE streams, ms (default 0: off).
  pub heartbeat_ms: Option<u32>,
  /// Largest request head in bytes (default 16384, from 8192 to 8 MiB); larger gets 431.
  pub max_header_size: Option<u32>,
  /// Largest request body read for a stream opened before its body was read (default 256000).
  pub max_body_length: Option<f64>,
  /// Open connections allowed (default 100000; the process file limit usually binds first); more are closed at once.
  pub max_connections: Option<u32>,
  /// ms a handler has to start its response before a 503 (default 60000; 0: never).
  pub handler_timeout_ms: Option<u32>,
}

/// One SSE event as JS describes it.
/// TLS material as PEM bytes (JS reads the files): see server/tls.rs.
#[napi(object)]
pub struct NativeTls {
  pub key: napi::bindgen_prelude::Buffer,
  pub cert: napi::bindgen_prelude::Buffer,
  pub passphrase: Option<String>,
  pub ca: Option<napi::bindgen_prelude::Buffer>,
}

impl NativeTls {
  fn material(&self) -> TlsMaterial<'_> {
    TlsMaterial { key: &self.key, cert: &self.cert, passphrase: self.passphrase.as_deref(), ca: self.ca.as_deref() }
  }
}

#[napi(object)]
pub struct NativeEvent {
  pub id: Option<String>,
  pub event: Option<String>,
  pub data: String,
  pub retry: Option<u32>,
}

#[napi(object)]
pub struct NativeStats {
  pub connections: u32,
  pub requests: f64,
  pub streams: f64,
  pub events_sent: f64,
  pub bytes_written: f64,
  pub slow_client_disconnects: f64,
  pub events_dropped: f64,
}

#[napi]
pub struct NativeServer {
  state: Arc<ServerState>,
  threads: usize,
  runtime: Option<ServerRuntime>,
  /// The certificates TLS handshakes get: per host from the start, the default one
  /// once the server listens with TLS.
  certificates: Arc<CertResolver>,
  /// Listening with TLS (its certificate can be swapped).
  serves_tls: bool,
}

/// Largest `max_header_size` taken: one request's text in an event batch (its target
/// and params) stays well inside a batch (`BATCH_BYTES`), whatever is asked.
const MAX_HEAD_SIZE: usize = BATCH_BYTES / 2;

/// Pending connections the kernel keeps for the accept loop.
const LISTEN_BACKLOG: u32 = 1024;

/// A socket bound to `addr`. With `reuse_port` (SO_REUSEPORT) other processes (or
/// servers) may bind the identical address too, and the kernel spreads new connections
/// over them; without it a second bind fails (EADDRINUSE), never silently shared.
fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<tokio::net::TcpSocket> {
  let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
  // As std's bind does: a restarted server rebinds a port with connections in TIME_WAIT.
  socket.set_reuseaddr(true)?;
  if reuse_port {
    socket.set_reuseport(true)?;
  }
  socket.bind(addr)?;
  Ok(socket)
}

fn err(msg: impl Into<String>) -> Error {
  Error::new(Status::InvalidArg, msg.into())
}

#[napi]
impl NativeServer {
  /// `on_batch(events)` receives the event batches described in `bridge/events.rs`.
  #[napi(constructor)]
  pub fn new(on_batch: Function<'_, Batch, ()>, options: Option<NativeOptions>) -> Result<Self> {
    let o = options.unwrap_or_default();
    let policy = match o.slow_client.as_deref() {
      None | Some("disconnect") => SlowClient::Disconnect,
      Some("drop") => SlowClient::Drop,
      Some(other) => return Err(err(format!("slow_client must be \"disconnect\" or \"drop\", not {other:?}"))),
    };
    let high_water = o.stream_high_water_mark.unwrap_or(64 * 1024) as usize;
    let max_buffer = (o.stream_max_buffer.unwrap_or(1024 * 1024) as usize).max(high_water);
    let limits = Limits {
      header_read_timeout: Duration::from_millis(o.header_timeout_ms.unwrap_or(30_000).max(1) as u64),
      stream: StreamLimits { high_water, max_buffer, policy },
      heartbeat_ms: o.heartbeat_ms.unwrap_or(0),
      max_header_size: (o.max_header_size.unwrap_or(16 * 1024) as usize).clamp(8192, MAX_HEAD_SIZE),
      // Infinity (no limit) saturates to usize::MAX.
      max_body: o.max_body_length.filter(|n| *n >= 0.0).map_or(250 * 1024, |n| n as usize),
      max_connections: o.max_connections.unwrap_or(100_000).max(1) as usize,
      handler_timeout: match o.handler_timeout_ms.unwrap_or(60_000) {
        0 => None,
        ms => Some(Duration::from_millis(ms as u64)),
      },
      panic_test_hook: std::env::var_os("HYPER_SSE_TEST_PANIC_HOOK").is_some(),
    };
    let state = ServerState::new(o.max_queued_requests.unwrap_or(65_536).max(1) as usize, limits);
    let weak = Arc::downgrade(&state);
    let wake = on_batch
      .build_threadsafe_function::<()>()
      .weak::<true>()
      .callee_handled::<false>()
      .build_callback(move |_ctx| {
        let Some(state) = weak.upgrade() else { return Ok(Batch::empty()) };
        // Replies and writes made while JS handles this batch go over together at
        // its end (`releaseWakes`): the batch holds them once JS has it.
        Ok(Batch { events: state.events.drain(), queue: Some(state.events.clone()), handoff: Some(state.handoff.clone()) })
      })?;
    state.events.set_wake(Some(Box::new(wake)));
    let events = state.events.clone();
    let certificates = Arc::new(CertResolver::new(Box::new(move |name| {
      events.push(Event::MissingServerName { name: name.to_string() });
    })));
    Ok(Self { state, threads: o.threads.unwrap_or(1).clamp(1, 64) as usize, runtime: None, certificates, serves_tls: false })
  }

  /// Adds a route; returns its parameter names in the order their values arrive.
  /// `max_body`: a request declaring a longer body gets 413 and JS never sees it
  /// (omitted or Infinity: no such check).
  #[napi(catch_unwind)]
  pub fn add_route(&self, method: String, pattern: String, route: u32, max_body: Option<f64>) -> Result<Vec<String>> {
    let mut router = self.state.router.write();
    let names = router.add(&method, &pattern, route).map_err(err)?;
    router.set_body_limit(route, max_body.filter(|n| n.is_finite() && *n >= 0.0).map(|n| n as u64));
    Ok(names)
  }

  /// Whether requests that match no route go to JS (true) or get Rust's 404 (false).
  #[napi]
  pub fn set_dispatch_unmatched(&self, on: bool) {
    self.state.dispatch_unmatched.store(on, Ordering::Relaxed);
  }

  /// Binds and starts serving (over TLS, offering h2 and HTTP/1.1, when `tls` is
  /// given); returns the bound port. Throws if the address is taken or the TLS
  /// material is unusable (never falls back to plaintext).
  #[napi(catch_unwind)]
  pub fn listen(&mut self, env: Env, port: u32, host: String, tls: Option<NativeTls>, reuse_port: Option<bool>) -> Result<u32> {
    if self.runtime.is_some() {
      return Err(err("server is already listening"));
    }
    let tls = match tls {
      None => None,
      Some(t) => {
        let (config, default) = tls::server_config(&t.material(), self.certificates.clone()).map_err(|e| err(format!("TLS: {e}")))?;
        Some((tokio_rustls::TlsAcceptor::from(config), default))
      }
    };
    let port = u16::try_from(port).map_err(|_| err(format!("invalid port {port}")))?;
    let addr: SocketAddr = (host.as_str(), port)
      .to_socket_addrs()
      .map_err(|e| err(format!("cannot resolve host {host:?}: {e}")))?
      .next()
      .ok_or_else(|| err(format!("cannot resolve host {host:?}")))?;
    let failed = |e: std::io::Error| Error::new(Status::GenericFailure, format!("listen {addr} failed: {e}"));
    let socket = bind(addr, reuse_port.unwrap_or(false)).map_err(failed)?;
    let bound = socket.local_addr().map_err(failed)?.port();
    let runtime = ServerRuntime::start(self.threads, "hyper-sse").map_err(|e| Error::from_reason(format!("cannot start the runtime: {e}")))?;
    let listener = {
      let _entered = runtime.handle().enter();
      match socket.listen(LISTEN_BACKLOG) {
        Ok(l) => l,
        Err(e) => {
          runtime.shutdown();
          return Err(failed(e));
        }
      }
    };
    // Bound: handshakes from now on get this certificate (a failed listen set nothing).
    let tls = tls.map(|(acceptor, default)| {
      self.certificates.swap(default);
      self.serves_tls = true;
      acceptor
    });
    runtime.handle().spawn(accept_loop(listener, self.state.clone(), self.state.phase.subscribe(), tls));
    runtime.handle().spawn(self.state.handoff.clone().run());
    runtime.handle().spawn(self.state.events.clone().flush_loop());
    runtime.handle().spawn(self.state.clock.clone().run());
    runtime.handle().spawn(crate::server::head_deadline::sweep(self.state.clone(), self.state.limits.header_read_timeout));
    if let Some(limit) = self.state.limits.handler_timeout {
      runtime.handle().spawn(crate::server::handler_deadline::sweep(self.state.clone(), limit));
    }
    self.runtime = Some(runtime);
    // A listening server keeps Node alive until close() completes.
    #[allow(deprecated)]
    self.state.events.with_wake(|w| w.as_mut().and_then(|f| f.as_any_mut().downcast_mut::<BatchFn>()).map(|f| f.refer(&env)).transpose())?;
    Ok(bound as u32)
  }

  /// Replaces the certificate for new TLS handshakes; open connections keep theirs.
  /// Throws if this server does not serve TLS or the material is unusable.
  #[napi(catch_unwind)]
  pub fn set_certificate(&self, tls: NativeTls) -> Result<()> {
    if !self.serves_tls {
      return Err(err("this server does not serve TLS (listen with key and cert first)"));
    }
    let key = tls::certified_key(&tls.material()).map_err(|e| err(format!("TLS: {e}")))?;
    self.certificates.swap(key);
    Ok(())
  }

  /// The certificate for handshakes that ask for `name` (SNI; `*.example.com` covers
  /// one label under it), before or after `listen`. Throws if the material is unusable.
  #[napi(catch_unwind)]
  pub fn add_server_name(&self, name: String, tls: NativeTls) -> Result<()> {
    let key = tls::certified_key(&tls.material()).map_err(|e| err(format!("TLS for {name:?}: {e}")))?;
    self.certificates.add_host(&name, key);
    Ok(())
  }

  #[napi(catch_unwind)]
  pub fn remove_server_name(&self, name: String) {
    self.certificates.remove_host(&name);
  }

  /// Whether JS hears of SNI names with no certificate of their own (`missing`).
  #[napi(catch_unwind)]
  pub fn report_missing_server_names(&self, on: bool) {
    self.certificates.report_missing(on);
  }

  /// Starts shutting down: stop accepting, end streams (after `final_event`, if given),
  /// let in-flight requests finish for up to `timeout_ms`, then drop what remains. A
  /// `closed` event follows (only for a server that listened).
  #[napi(catch_unwind)]
  pub fn close(&self, timeout_ms: u32, final_event: Option<NativeEvent>) {
    let Some(rt) = self.runtime.as_ref() else { return };
    if *self.state.phase.borrow() != Phase::Running {
      return;
    }
    self.state.set_phase(Phase::Draining);
    // The port is closed when this returns (new connections are refused at once).
    self.state.wait_unbound(Duration::from_millis(500));
    let last = final_event.map(|e| encode_event(&SseEvent { id: e.id.as_deref(), event: e.event.as_deref(), data: &e.data, retry: e.retry }));
    self.state.exchanges.end_all_streams(last.as_ref());
    let state = self.state.clone();
    rt.handle().spawn(async move {
      if !state.connections_closed(Duration::from_millis(timeout_ms as u64)).await {
        state.set_phase(Phase::Force);
        state.connections_closed(Duration::from_secs(2)).await;
      }
      state.events.push(Event::Closed);
    });
  }

  /// The per-response and per-event calls (`respond`, `write`, `endStream`, `sseSend`,
  /// `sseComment`, `requestHeaders`, `requestHeader`) as plain functions bound to this
  /// server: see `bridge/hot_calls.rs`.
  #[napi(
    ts_return_type = "{ respond(id: number, status: number, headers: string | string[], body?: string | Buffer | null, items?: number): boolean; write(id: number, chunk: string | Buffer): boolean; endStream(id: number, chunk?: string | Buffer | null): boolean; sseSend(id: number, data: string, event?: string, eventId?: string, retry?: number): boolean; sseComment(id: number, text: string): boolean; requestHeaders(id: number): string; requestHeader(id: number, name: string): string | undefined }"
  )]
  pub fn hot_calls(&self, env: Env) -> Result<napi::bindgen_prelude::Object<'_>> {
    let raw = super::hot_calls::create(env.raw(), &self.state)?;
    Ok(napi::bindgen_prelude::Object::from_raw(env.raw(), raw))
  }

  /// Frees the runtime and the JS callback once the `closed` event arrived; after
  /// this nothing of the server keeps Node alive.
  #[napi]
  pub fn release(&mut self) {
    drop(self.state.events.set_wake(None));
    if let Some(rt) = self.runtime.take() {
      rt.shutdown();
    }
  }

  /// Ends a batch (or a `holdWakes`): delivers the replies and stream writes made
  /// meanwhile.
  #[napi]
  pub fn release_wakes(&self) {
    self.state.handoff.release();
  }

  /// Holds deliveries until `releaseWakes`: JS calls it before writes made outside an
  /// event batch (a timer's fan-out loop) and releases at the end of the JS turn.
  #[napi]
  pub fn hold_wakes(&self) {
    self.state.handoff.hold();
  }

  /// Open connections (for tests and stats).
  #[napi(getter)]
  pub fn connections(&self) -> u32 {
    self.state.open_connections() as u32
  }

  /// Counters since the server started.
  #[napi]
  pub fn stats(&self) -> NativeStats {
    let s = self.state.stats.snapshot();
    NativeStats {
      connections: self.state.open_connections() as u32,
      requests: s.requests as f64,
      streams: s.streams_open as f64,
      events_sent: s.events_sent as f64,
      bytes_written: s.bytes_written as f64,
      slow_client_disconnects: s.slow_disconnects as f64,
      events_dropped: s.events_dropped as f64,
    }
  }

  /// The client's IP address, or "" once the exchange is over.
  #[napi]
  pub fn remote_address(&self, id: i64) -> String {
    self.state.exchanges.with(id as u64, |ex| ex.remote.ip().to_string()).unwrap_or_default()
  }

  /// The client's port, or 0 once the exchange is over.
  #[napi]
  pub fn remote_port(&self, id: i64) -> u32 {
    self.state.exchanges.with(id as u64, |ex| ex.remote.port() as u32).unwrap_or(0)
  }

  /// The request's HTTP version ("1.0", "1.1", "2.0"), or "" once the exchange is over.
  #[napi]
  pub fn http_version(&self, id: i64) -> String {
    let version = self.state.exchanges.with(id as u64, |ex| ex.version);
    match version {
      Some(hyper::Version::HTTP_10) => "1.0",
      Some(hyper::Version::HTTP_11) => "1.1",
      Some(hyper::Version::HTTP_2) => "2.0",
      Some(hyper::Version::HTTP_09) => "0.9",
      Some(_) => "3.0",
      None => "",
    }
    .to_string()
  }

  /// Asks to be told (a close event) when this exchange ends. False if it already has.
  #[napi]
  pub fn watch(&self, id: i64) -> bool {
    self.state.exchanges.with(id as u64, |ex| ex.watched = true).is_some()
  }

  /// Reads the whole request body (at most `limit` bytes) in Rust; the result comes
  /// back as a body event. False if there is no body to read any more.
  #[napi(catch_unwind)]
  pub fn read_body(&self, id: i64, limit: f64) -> bool {
    let limit = if limit.is_finite() && limit >= 0.0 { limit as usize } else { usize::MAX };
    let Some(rt) = self.runtime.as_ref() else { return false };
    matches!(request_body::ask(rt.handle(), &self.state, id as u64, limit), Asked::Coming)
  }

  /// Streams the request body to JS as chunk events (at most `limit` bytes): 1 when
  /// chunks are coming, 0 when there is no body left to read, 2 when a whole-body read
  /// already has it (`readBody` then gives it).
  #[napi(catch_unwind)]
  pub fn stream_body(&self, id: i64, limit: f64) -> u32 {
    let limit = if limit.is_finite() && limit >= 0.0 { limit as usize } else { usize::MAX };
    let Some(rt) = self.runtime.as_ref() else { return 0 };
    match request_stream::start(rt.handle(), &self.state, id as u64, limit) {
      Streamed::Nothing => 0,
      Streamed::Coming => 1,
      Streamed::ReadWhole => 2,
    }
  }

  /// Cuts a response off: its connection is closed (the client must not take a body
  /// that broke off for a complete one). `close` follows, as aborted.
  #[napi]
  pub fn abort_response(&self, id: i64) {
    self.state.exchanges.with(id as u64, |ex| ex.connection.kill());
  }

  /// Pauses (JS's buffer is full) or resumes a streamed request body (with a fresh window).
  #[napi]
  pub fn pause_body(&self, id: i64, paused: bool) {
    self.state.exchanges.with(id as u64, |ex| {
      if let Some(f) = &ex.body_flow {
        f.0.pause(paused);
      }
    });
  }

  /// Sends the head and opens a streaming body; `sse` adds the event-stream headers.
  #[napi(catch_unwind)]
  pub fn start_stream(&self, id: i64, status: u32, headers: Vec<String>, sse: bool) -> Result<bool> {
    let status = head::status(status).map_err(|e| err(e.0))?;
    let head::Head { mut headers, reason } = head::headers(&headers).map_err(|e| err(e.0))?;
    let id = id as u64;
    if sse {
      let http11 = self.state.exchanges.with(id, |ex| ex.version == hyper::Version::HTTP_11).unwrap_or(false);
      headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
      headers.remove(CONTENT_LENGTH);
      headers.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
      if http11 {
        headers.entry(CONNECTION).or_insert(HeaderValue::from_static("keep-alive"));
      }
      headers.entry("x-accel-buffering").or_insert(HeaderValue::from_static("no"));
    }
    self
      .state
      .exchanges
      .start_stream(&self.state.handoff, id, |conn| self.state.new_stream(conn), move || {
        let mut b = Response::builder().status(status);
        if let Some(h) = b.headers_mut() {
          *h = headers;
        }
        match reason {
          Some(r) => b.extension(r),
          None => b,
        }
      })
      .map_err(|e| Error::from_reason(e.to_string()))
  }

  /// Queues a `retry:` hint.
  #[napi]
  pub fn sse_retry(&self, id: i64, ms: u32) -> bool {
    accepted(self.state.exchanges.write(id as u64, encode_retry(ms)))
  }

  /// Sets an open stream's keep-alive comment interval (0 turns it off).
  #[napi]
  pub fn set_heartbeat(&self, id: i64, ms: u32) -> bool {
    self.state.exchanges.stream(id as u64).map(|q| q.set_heartbeat(ms)).is_some()
  }
}

impl NativeServer {
  /// The queue of request `id`'s open stream, for channels.
  pub fn stream_of(&self, id: u64) -> Option<std::sync::Arc<crate::http::stream::StreamQueue>> {
    self.state.exchanges.stream(id)
  }
}

