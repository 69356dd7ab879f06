//! Closing a connection in stages (RFC 9112, section 9.6), as nginx's lingering close
//! does: the write side is shut down first (FIN after the last response byte), then
//! what the client still sends is read and dropped until it closes too, for at most
//! LINGER. Closing a socket that holds unread client bytes makes the kernel answer
//! with a reset, which destroys response bytes not yet delivered (the end of an event
//! stream, a large reply before a refused request).

use std::future::Future;
use std::io::ErrorKind;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::net::TcpStream;

/// Longest wait for the client to close its side.
pub const LINGER: Duration = Duration::from_secs(2);

/// Reads (and drops) client bytes until the client closes, LINGER passes, or
/// `cut_short` (given the task's waker, to wake it when that changes) says to stop (the
/// server closing by force). The caller has shut the write side down already.
pub async fn lingering_close(stream: &TcpStream, mut cut_short: impl FnMut(&Waker) -> bool) {
  // Most clients have closed already (a keep-alive connection ended by its client):
  // one read tells, with no timer.
  if drained(stream) {
    return;
  }
  let mut deadline = Box::pin(tokio::time::sleep(LINGER));
  std::future::poll_fn(|cx| {
    if cut_short(cx.waker()) || deadline.as_mut().poll(cx).is_ready() {
      return Poll::Ready(());
    }
    match stream.poll_read_ready(cx) {
      Poll::Ready(Ok(())) if drained(stream) => Poll::Ready(()),
      // Readiness was cleared by a WouldBlock: look again to be woken by what follows.
      Poll::Ready(Ok(())) => {
        cx.waker().wake_by_ref();
        Poll::Pending
      }
      Poll::Ready(Err(_)) => Poll::Ready(()),
      Poll::Pending => Poll::Pending,
    }
  })
  .await
}

/// Reads what is there without waiting; true once the client has closed (or the
/// socket failed), false when it would block.
fn drained(stream: &TcpStream) -> bool {
  let mut scratch = [0u8; 4096];
  loop {
    match stream.try_read(&mut scratch) {
      Ok(0) => return true,
      Ok(_) => {}
      Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
      Err(e) if e.kind() == ErrorKind::Interrupted => {}
      Err(_) => return true,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  /// A reply queued behind unread client bytes still reaches the client whole.
  #[tokio::test(flavor = "current_thread")]
  async fn unread_client_bytes_do_not_reset_a_queued_reply() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    // More than the loopback buffers hold, so most of it is still queued at close.
    let reply = vec![b'r'; 8 << 20];
    client.write_all(b"bytes the server never reads").await.unwrap();
    let reading = tokio::spawn(async move {
      let mut got = Vec::new();
      let end = client.read_to_end(&mut got).await;
      (got.len(), end.is_ok())
    });
    server.write_all(&reply).await.unwrap();
    server.shutdown().await.unwrap();
    lingering_close(&server, |_| false).await;
    drop(server);
    let (len, clean) = reading.await.unwrap();
    assert!(clean, "the client saw a FIN, not a reset");
    assert_eq!(len, reply.len());
  }
}
