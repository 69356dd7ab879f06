//! An SSE stream after hyper has written its head: this task writes the stream's
//! bytes straight to the socket and notices the client leaving.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer per connection for the
//! connection's life, and frames every event in chunked encoding (three iovecs and a
//! formatted hex size). An event stream needs neither: after its head nothing more is
//! read, and the body runs until the connection closes. So the head goes out
//! close-delimited (see server/conn_io.rs), hyper's connection is dropped with its
//! buffers, and this task owns the socket, the stream's body and the connection count.

use std::future::poll_fn;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::state::{ConnectionCount, Phase, ServerState};
use crate::http::body::ResponseBody;
use crate::http::stream::ConnectionKill;

/// Reads of client bytes (discarded) per wake-up before yielding to other tasks.
const READS_PER_WAKE: usize = 4;

#[derive(PartialEq, Eq)]
enum Outcome {
  /// The stream ended: what was queued is on the wire.
  Finished,
  /// The client left, was cut off, or the server is closing by force.
  Dropped,
}

/// Writes `body` to `stream` until the stream ends or the client goes. Dropping the
/// body at the end queues the exchange's `close` event, as when hyper drops it.
pub async fn write_stream(mut stream: TcpStream, mut body: ResponseBody, connection: Arc<ConnectionKill>, state: Arc<ServerState>, _counted: ConnectionCount) {
  let mut unsent = Bytes::new();
  let outcome = poll_fn(|cx| {
    if connection.poll_killed(cx.waker()) || state.phase_now() == Phase::Force {
      return Poll::Ready(Outcome::Dropped);
    }
    if client_left(&stream, cx) {
      return Poll::Ready(Outcome::Dropped);
    }
    loop {
      while unsent.is_empty() {
        match Pin::new(&mut body).poll_frame(cx) {
          Poll::Ready(Some(Ok(frame))) => {
            if let Ok(data) = frame.into_data() {
              unsent = data;
            }
          }
          // Cut off as a slow client.
          Poll::Ready(Some(Err(_))) => return Poll::Ready(Outcome::Dropped),
          Poll::Ready(None) => return Poll::Ready(Outcome::Finished),
          Poll::Pending => return Poll::Pending,
        }
      }
      match stream.poll_write_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return Poll::Ready(Outcome::Dropped),
        // The socket is full: the body is not polled again until it drains, so what
        // JS sends meanwhile queues (bounded by the slow-client policy).
        Poll::Pending => return Poll::Pending,
      }
      match stream.try_write(&unsent) {
        Ok(n) => unsent.advance(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return Poll::Ready(Outcome::Dropped),
      }
    }
  })
  .await;
  if outcome == Outcome::Finished {
    // FIN after the last event; the client sees the body end.
    let _ = poll_fn(|cx| Pin::new(&mut stream).poll_shutdown(cx)).await;
  }
  drop(body);
}

/// True if the client closed or reset the connection. Bytes it sends are read and
/// dropped: an event stream takes no further requests on its connection.
fn client_left(stream: &TcpStream, cx: &mut Context<'_>) -> bool {
  let mut scratch = [0u8; 512];
  for _ in 0..READS_PER_WAKE {
    match stream.poll_read_ready(cx) {
      Poll::Ready(Ok(())) => {}
      Poll::Ready(Err(_)) => return true,
      Poll::Pending => return false,
    }
    match stream.try_read(&mut scratch) {
      Ok(0) => return true,
      Ok(_) => {}
      Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
      Err(_) => return true,
    }
  }
  // A client that keeps sending: look again on the next turn, after other tasks.
  cx.waker().wake_by_ref();
  false
}
