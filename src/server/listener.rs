//! Accepting connections and serving each with hyper until it ends or the server
//! shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::conn_io::ConnIo;
use super::lingering_close::lingering_close;
use super::detached_stream::{StreamSocket, StreamWriter, TlsSocket};
use super::service::handle;
use super::state::{ConnectionCount, Phase, ServerState};
use crate::http::stream::ConnectionKill;

/// Accepts until the phase leaves Running. `phase` is subscribed by the caller before
/// this task is spawned: a `close()` in the same JS turn as `listen()` changes the phase
/// before the task first runs, and a receiver made inside it would never see the change.
pub async fn accept_loop(listener: TcpListener, state: Arc<ServerState>, phase: watch::Receiver<Phase>, tls: Option<TlsAcceptor>) {
  accept_until_closing(listener, &state, phase, tls).await;
  state.mark_unbound();
}

/// Accepts until the phase changes; the listener is dropped (the port closed) on return.
async fn accept_until_closing(listener: TcpListener, state: &Arc<ServerState>, mut phase: watch::Receiver<Phase>, tls: Option<TlsAcceptor>) {
  loop {
    if *phase.borrow_and_update() != Phase::Running {
      break;
    }
    tokio::select! {
      biased;
      _ = phase.changed() => break,
      accepted = listener.accept() => match accepted {
        Ok((stream, remote)) => {
          if state.open_connections() >= state.limits.max_connections {
            // Over the limit: refuse cheaply (close at once, no task, no buffers).
            let _ = stream.set_zero_linger();
            drop(stream);
            continue;
          }
          match &tls {
            None => tokio::spawn(serve_connection(stream, remote, state.clone())),
            Some(acceptor) => tokio::spawn(serve_tls_connection(stream, remote, state.clone(), acceptor.clone())),
          };
        }
        // Out of file descriptors or memory: back off instead of spinning on accept;
        // existing connections keep being served.
        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
      }
    }
  }
}

/// A connection's byte stream for HTTP/1.1: plain TCP or TLS. An event stream leaves
/// hyper for a detached writer on either (server/detached_stream.rs).
trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
  type Detached: StreamSocket + Send + 'static;
  fn detach(self) -> Self::Detached;
  /// The TCP socket under it, to close in stages.
  fn tcp(&self) -> &TcpStream;
  fn detached_tcp(d: &Self::Detached) -> &TcpStream;
}

impl Transport for TcpStream {
  type Detached = Arc<TcpStream>;
  fn detach(self) -> Arc<TcpStream> {
    Arc::new(self)
  }
  fn tcp(&self) -> &TcpStream {
    self
  }
  fn detached_tcp(d: &Arc<TcpStream>) -> &TcpStream {
    d
  }
}

impl Transport for TlsStream<TcpStream> {
  type Detached = Arc<TlsSocket>;
  fn detach(self) -> Arc<TlsSocket> {
    TlsSocket::new(self)
  }
  fn tcp(&self) -> &TcpStream {
    self.get_ref().0
  }
  fn detached_tcp(d: &Arc<TlsSocket>) -> &TcpStream {
    d.tcp()
  }
}

async fn serve_connection(stream: TcpStream, remote: SocketAddr, state: Arc<ServerState>) {
  let kill = Arc::new(ConnectionKill::new(state.clock.clone()));
  let counted = state.connection_opened(kill.clone());
  let _ = stream.set_nodelay(true);
  serve_http1(stream, remote, state, kill, counted).await;
}

async fn serve_http1<S: Transport>(stream: S, remote: SocketAddr, state: Arc<ServerState>, kill: Arc<ConnectionKill>, counted: ConnectionCount) {
  // However this task ends, a stream body still waiting for the socket is dropped
  // with it (its client gets no more; JS gets its `close`).
  let _handover = DropHandover(kill.clone());
  let svc_state = state.clone();
  let svc_kill = kill.clone();
  // No hyper timer: the head deadline is enforced by a sweep (server/head_deadline.rs)
  // instead of a boxed sleep per request.
  let mut conn = http1::Builder::new()
    .header_read_timeout(None)
    .max_buf_size(state.limits.max_header_size)
    .serve_connection(
      TokioIo::new(ConnIo::new(stream, kill.clone())),
      service_fn(move |req| handle(svc_state.clone(), remote, svc_kill.clone(), req)),
    );
  let mut draining = false;
  // Runs once per request and per streamed write: the outside signals are two atomic
  // loads here, not futures polled beside hyper's.
  let cut_off = std::future::poll_fn(|cx| {
    if kill.poll_killed(cx.waker()) {
      // A stream's client fell too far behind: drop the connection outright.
      return Poll::Ready(true);
    }
    match state.phase_now() {
      Phase::Force => return Poll::Ready(true),
      Phase::Draining if !draining => {
        draining = true;
        Pin::new(&mut conn).graceful_shutdown();
      }
      _ => {}
    }
    // hyper's own errors (a malformed or oversized head) may have written a reply: it
    // is closed in stages below, like any other end.
    Pin::new(&mut conn).poll(cx).map(|_| false)
  })
  .await;
  if cut_off {
    return;
  }
  let handover = kill.take_handover();
  let mut stream = conn.into_parts().io.into_inner().into_stream();
  match handover {
    // hyper wrote an event stream's head and is done: the stream gets a task of its
    // own, and hyper's connection (with its buffers) is freed here.
    Some(body) => {
      tokio::spawn(async move {
        let writer = StreamWriter::new(stream.detach(), body, kill.clone(), state.clone());
        // The writer (with the stream's body: JS hears `close` now) is gone before the
        // connection lingers.
        if let Some(socket) = writer.await {
          linger(S::detached_tcp(&socket), counted, &kill, &state).await;
        }
      });
    }
    None => {
      let _ = stream.shutdown().await;
      linger(stream.tcp(), counted, &kill, &state).await;
    }
  }
}

/// Streams one h2 connection may carry at once (browsers open up to 100).
const H2_MAX_STREAMS: u32 = 250;
/// Streams a client may open and reset before the server sees them, and streams the
/// server may reset for protocol errors, before the connection is closed: the limits
/// against rapid reset (CVE-2023-44487).
const H2_MAX_PENDING_RESETS: usize = 20;
const H2_MAX_ERROR_RESETS: usize = 1024;

/// A TLS connection: the handshake (within the head deadline; a failed one, such as
/// plaintext on this port, closes this connection and nothing else), then HTTP/1.1 or
/// h2 as ALPN chose. On HTTP/1.1 an event stream leaves hyper as on plaintext, for a
/// writer task that owns the TLS stream (no direct writes from the JS thread: rustls
/// must encrypt every byte). On h2 every stream stays in hyper.
async fn serve_tls_connection(stream: TcpStream, remote: SocketAddr, state: Arc<ServerState>, acceptor: TlsAcceptor) {
  let kill = Arc::new(ConnectionKill::new(state.clock.clone()));
  let counted = state.connection_opened(kill.clone());
  let _ = stream.set_nodelay(true);
  // The handshake ends early if the server closes (a preconnected socket that never
  // speaks must not hold close() up) or the connection is cut off.
  let mut handshake = acceptor.accept(stream);
  let handshake = std::future::poll_fn(|cx| {
    if kill.poll_killed(cx.waker()) || state.phase_now() != Phase::Running {
      return Poll::Ready(None);
    }
    Pin::new(&mut handshake).poll(cx).map(Some)
  });
  let tls = match tokio::time::timeout(state.limits.header_read_timeout, handshake).await {
    Ok(Some(Ok(tls))) => tls,
    _ => return,
  };
  if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
    return serve_http1(tls, remote, state, kill, counted).await;
  }
  // h2: every stream stays in hyper (they share the connection).
  kill.keep_streams_in_hyper();
  let _counted = counted;
  let svc_state = state.clone();
  let svc_kill = kill.clone();
  // Boxed: hyper keeps a task per h2 stream sized for its largest state, and the
  // request future is far larger than the body pipe a long-lived stream needs.
  let svc = service_fn(move |req| Box::pin(handle(svc_state.clone(), remote, svc_kill.clone(), req)));
  let conn = http2::Builder::new(TokioExecutor::new())
    .max_concurrent_streams(H2_MAX_STREAMS)
    .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
    .max_local_error_reset_streams(H2_MAX_ERROR_RESETS)
    .max_header_list_size(state.limits.max_header_size as u32)
    .serve_connection(TokioIo::new(tls), svc);
  drive(conn, |c| c.graceful_shutdown(), &kill, &state).await;
}

/// Serves until the connection ends, is killed, or the server's phase says stop
/// (Draining: finish what is in flight; Force: drop it).
async fn drive<C: Future + Unpin>(mut conn: C, graceful_shutdown: impl Fn(Pin<&mut C>), kill: &ConnectionKill, state: &ServerState) {
  let mut draining = false;
  std::future::poll_fn(|cx| {
    if kill.poll_killed(cx.waker()) {
      return Poll::Ready(());
    }
    match state.phase_now() {
      Phase::Force => return Poll::Ready(()),
      Phase::Draining if !draining => {
        draining = true;
        graceful_shutdown(Pin::new(&mut conn));
      }
      _ => {}
    }
    Pin::new(&mut conn).poll(cx).map(|_| ())
  })
  .await;
}

/// The staged close (server/lingering_close.rs). A lingering socket no longer counts
/// as an open connection (`max_connections`, stats), but a graceful `close()` still
/// waits for it, and the Force phase ends it at once.
async fn linger(stream: &TcpStream, mut counted: ConnectionCount, kill: &ConnectionKill, state: &ServerState) {
  counted.lingering();
  lingering_close(stream, |waker| kill.poll_killed(waker) || state.phase_now() == Phase::Force).await;
}

struct DropHandover(Arc<ConnectionKill>);

impl Drop for DropHandover {
  fn drop(&mut self) {
    drop(self.0.take_handover());
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::http::stream::{SlowClient, StreamLimits};
  use crate::server::state::Limits;

  fn state() -> Arc<ServerState> {
    ServerState::new(16, Limits {
      header_read_timeout: Duration::from_secs(1),
      max_header_size: 8192,
      max_body: 1024,
      max_connections: 16,
      handler_timeout: None,
      panic_test_hook: false,
      stream: StreamLimits { high_water: 1024, max_buffer: 4096, policy: SlowClient::Disconnect },
      heartbeat_ms: 0,
    })
  }

  /// close() in the same JS turn as listen(): the phase changes before the accept task
  /// first runs, and the task must still stop (and drop the listener).
  #[tokio::test(flavor = "current_thread")]
  async fn a_close_before_the_accept_task_runs_still_stops_it() {
    let state = state();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = state.phase.subscribe();
    state.set_phase(Phase::Draining);
    let task = tokio::spawn(accept_loop(listener, state.clone(), receiver, None));
    tokio::time::timeout(Duration::from_secs(2), task).await.expect("the accept loop stopped").unwrap();
  }
}
