//! Accepting connections and serving each with hyper until it ends or the server
//! shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

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
  let _counted = state.connection_opened(kill.clone());
  let _ = stream.set_nodelay(true);
  let svc_state = state.clone();
  let svc_kill = kill.clone();
  // No hyper timer: the head deadline is enforced by a sweep (server/head_deadline.rs)
  // instead of a boxed sleep per request.
  let conn = http1::Builder::new()
    .header_read_timeout(None)
    .max_buf_size(state.limits.max_header_size)
    .serve_connection(TokioIo::new(stream), service_fn(move |req| handle(svc_state.clone(), remote, svc_kill.clone(), req)));
  tokio::pin!(conn);
  let mut draining = false;
  // Runs once per request and per streamed write: the outside signals are two atomic
  // loads here, not futures polled beside hyper's.
  std::future::poll_fn(|cx| {
    if kill.poll_killed(cx.waker()) {
      // A stream's client fell too far behind: drop the connection outright.
      return Poll::Ready(());
    }
    match state.phase_now() {
      Phase::Force => return Poll::Ready(()),
      Phase::Draining if !draining => {
        draining = true;
        conn.as_mut().graceful_shutdown();
      }
      _ => {}
    }
    conn.as_mut().poll(cx).map(|_| ())
  })
  .await
}
