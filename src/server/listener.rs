//! Accepting connections and serving each with hyper until it ends or the server
//! shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::conn_io::ConnIo;
use super::detached_stream::StreamWriter;
use super::service::handle;
use super::state::{Phase, ServerState};
use crate::http::stream::ConnectionKill;

pub async fn accept_loop(listener: TcpListener, state: Arc<ServerState>) {
  let mut phase = state.phase.subscribe();
  loop {
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
          tokio::spawn(serve_connection(stream, remote, state.clone()));
        }
        // Out of file descriptors or memory: back off instead of spinning on accept;
        // existing connections keep being served.
        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
      }
    }
  }
}

async fn serve_connection(stream: TcpStream, remote: SocketAddr, state: Arc<ServerState>) {
  let kill = Arc::new(ConnectionKill::new(state.clock.clone()));
  let counted = state.connection_opened(kill.clone());
  // However this task ends, a stream body still waiting for the socket is dropped
  // with it (its client gets no more; JS gets its `close`).
  let _handover = DropHandover(kill.clone());
  let _ = stream.set_nodelay(true);
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
  let served = std::future::poll_fn(|cx| {
    if kill.poll_killed(cx.waker()) {
      // A stream's client fell too far behind: drop the connection outright.
      return Poll::Ready(false);
    }
    match state.phase_now() {
      Phase::Force => return Poll::Ready(false),
      Phase::Draining if !draining => {
        draining = true;
        Pin::new(&mut conn).graceful_shutdown();
      }
      _ => {}
    }
    Pin::new(&mut conn).poll(cx).map(|r| r.is_ok())
  })
  .await;
  if !served {
    return;
  }
  if let Some(body) = kill.take_handover() {
    // hyper wrote an event stream's head and is done: the stream gets a task of its
    // own, and hyper's connection (with its buffers) is freed here.
    let stream = conn.into_parts().io.into_inner().into_stream();
    tokio::spawn(StreamWriter::new(stream, body, kill, state.clone(), counted));
  }
}

struct DropHandover(Arc<ConnectionKill>);

impl Drop for DropHandover {
  fn drop(&mut self) {
    drop(self.0.take_handover());
  }
}
