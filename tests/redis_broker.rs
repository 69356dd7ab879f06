//! The Redis side of shared channels (src/broadcast/broker.rs) against a real
//! `redis-server` started here on 127.0.0.1 (persistence off) and stopped after.
//! Skipped, saying so, where redis-server is not installed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use hyper_sse::broadcast::broker::{missed_since, parse_message, publish, EventId, GapReason, Keys, Missed};

struct Redis(Child, u16);

impl Drop for Redis {
  fn drop(&mut self) {
    let _ = self.0.kill();
    let _ = self.0.wait();
  }
}

fn start_redis() -> Option<Redis> {
  let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
  let child = Command::new("redis-server")
    .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .ok()?;
  let redis = Redis(child, port);
  for _ in 0..100 {
    if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
      return Some(redis);
    }
    std::thread::sleep(Duration::from_millis(20));
  }
  None
}

#[tokio::test(flavor = "current_thread")]
async fn publish_numbers_events_fans_them_out_and_replays_what_was_missed() {
  let Some(redis) = start_redis() else {
    eprintln!("redis-server is not installed: skipped");
    return;
  };
  let client = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.1)).unwrap();
  let mut conn = client.get_multiplexed_async_connection().await.unwrap();
  let mut sub = client.get_async_pubsub().await.unwrap();
  sub.subscribe(Keys::of("news").pubsub).await.unwrap();
  let mut messages = sub.on_message();

  let mut ids = Vec::new();
  for i in 1..=5 {
    ids.push(publish(&mut conn, "news", format!("data: {i}\n\n").as_bytes(), 100, None).await.unwrap());
  }
  // One epoch, offsets 1..5, in order.
  assert!(ids.iter().all(|id| id.epoch == ids[0].epoch));
  assert_eq!(ids.iter().map(|id| id.offset).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);

  // Every process subscribed gets them, in the same order, with the same ids.
  for (i, id) in ids.iter().enumerate() {
    let msg = tokio::time::timeout(Duration::from_secs(2), messages.next()).await.unwrap().unwrap();
    let payload: Vec<u8> = msg.get_payload().unwrap();
    let (got, event) = parse_message(&payload).unwrap();
    assert_eq!(&got, id);
    assert_eq!(event, format!("data: {}\n\n", i + 1).as_bytes());
  }

  // A client that saw the second event missed the last three.
  let missed = missed_since(&mut conn, "news", &ids[1], false).await.unwrap();
  assert_eq!(missed.gap, None, "the history holds them");
  assert_eq!(missed.events.iter().map(|(id, _)| id.offset).collect::<Vec<_>>(), vec![3, 4, 5]);
  assert_eq!(missed.events[0].1, b"data: 3\n\n");
  assert_eq!(missed_since(&mut conn, "news", &ids[4], false).await.unwrap(), Missed { gap: None, events: vec![] });

  // Trimmed away: the client is told, not silently skipped.
  for i in 6..=400 {
    publish(&mut conn, "news", format!("data: {i}\n\n").as_bytes(), 10, None).await.unwrap();
  }
  let missed = missed_since(&mut conn, "news", &ids[1], false).await.unwrap();
  let (reason, resume) = missed.gap.expect("trimmed: a gap");
  assert_eq!(reason, GapReason::Trimmed);
  // Resumes just before the first event still kept, which follow in order up to 400.
  let kept: Vec<u64> = missed.events.iter().map(|(id, _)| id.offset).collect();
  assert_eq!(resume.unwrap().offset + 1, kept[0]);
  assert!(kept.len() >= 10 && kept.windows(2).all(|w| w[1] == w[0] + 1) && *kept.last().unwrap() == 400);

  // Redis lost everything (restarted empty): a new epoch; old ids are gone.
  redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.unwrap();
  let fresh = publish(&mut conn, "news", b"data: after\n\n", 100, None).await.unwrap();
  assert_ne!(fresh.epoch, ids[0].epoch);
  assert_eq!(fresh.offset, 1);
  let missed = missed_since(&mut conn, "news", &ids[4], false).await.unwrap();
  assert_eq!(missed.gap, Some((GapReason::Reset, Some(EventId { epoch: fresh.epoch.clone(), offset: 0 }))));
  assert_eq!(missed.events.len(), 1, "then all of the new history");
  assert_eq!(EventId::parse(&fresh.to_string()), Some(fresh.clone()));

  // Redis came back from an older snapshot (its offset went back): a process that saw
  // further publishes under a new epoch, so no id names two events, and the stream
  // holds only the new epoch's events.
  for _ in 0..3 {
    publish(&mut conn, "news", b"data: x\n\n", 100, None).await.unwrap();
  }
  let seen = EventId { epoch: fresh.epoch.clone(), offset: 4 };
  redis::cmd("HSET").arg(Keys::of("news").meta).arg("offset").arg(2).query_async::<()>(&mut conn).await.unwrap();
  let next = publish(&mut conn, "news", b"data: y\n\n", 100, Some(&seen)).await.unwrap();
  assert_ne!(next.epoch, fresh.epoch);
  assert_eq!(next.offset, 3);
  let missed = missed_since(&mut conn, "news", &seen, false).await.unwrap();
  assert_eq!(missed.gap, Some((GapReason::Reset, Some(EventId { epoch: next.epoch.clone(), offset: 2 }))));
  assert_eq!(missed.events.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>(), vec![next.to_string()]);
  // The same found by a process's own catch-up read: a new epoch at once.
  redis::cmd("HSET").arg(Keys::of("news").meta).arg("offset").arg(1).query_async::<()>(&mut conn).await.unwrap();
  let missed = missed_since(&mut conn, "news", &next, true).await.unwrap();
  let (reason, resume) = missed.gap.unwrap();
  assert_eq!(reason, GapReason::Reset);
  assert_ne!(resume.unwrap().epoch, next.epoch);
  // A client's claim never changes the epoch.
  let claim = EventId { epoch: resume_epoch(&mut conn).await, offset: 999 };
  missed_since(&mut conn, "news", &claim, false).await.unwrap();
  assert_eq!(resume_epoch(&mut conn).await, claim.epoch);
}

async fn resume_epoch(conn: &mut redis::aio::MultiplexedConnection) -> String {
  redis::cmd("HGET").arg(Keys::of("news").meta).arg("epoch").query_async(conn).await.unwrap()
}
