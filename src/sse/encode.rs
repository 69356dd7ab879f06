//! The only SSE encoder: turns (id, event, data), comments and retry hints into
//! WHATWG `text/event-stream` bytes that no input can break out of.
//!
//! Rules (WHATWG HTML, "Server-sent events", event stream interpretation):
//! - every line break in `data` (CRLF, LF or CR) starts a new `data:` line, so a
//!   payload can never end the event early or smuggle in another field;
//! - `id` and `event` are single-line fields: CR, LF and NUL are removed (a NUL
//!   makes a browser ignore the whole `id` field);
//! - a comment is one `:` line per input line;
//! - exactly one space follows each colon, so a leading space in a value survives
//!   the parser's "strip one space" rule.

use bytes::{BufMut, Bytes, BytesMut};

/// One event as a caller describes it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Event<'a> {
  pub id: Option<&'a str>,
  pub event: Option<&'a str>,
  pub data: &'a str,
  pub retry: Option<u32>,
}

/// Encodes one event, terminated by its blank line.
pub fn encode_event(ev: &Event<'_>) -> Bytes {
  let fields = ev.id.map_or(0, |v| v.len() + 5) + ev.event.map_or(0, |v| v.len() + 8) + ev.retry.map_or(0, |_| 18);
  let mut out = BytesMut::with_capacity(fields + ev.data.len() + 8);
  if let Some(id) = ev.id {
    put_single_line_field(&mut out, b"id", id);
  }
  if let Some(event) = ev.event {
    put_single_line_field(&mut out, b"event", event);
  }
  if let Some(retry) = ev.retry {
    out.put_slice(b"retry: ");
    out.put_slice(retry.to_string().as_bytes());
    out.put_u8(b'\n');
  }
  if line_break(ev.data.as_bytes()).is_none() {
    // The common case, one line (a JSON payload): no splitting.
    out.put_slice(b"data: ");
    out.put_slice(ev.data.as_bytes());
    out.put_slice(b"\n\n");
    return out.freeze();
  }
  for line in split_lines(ev.data) {
    out.put_slice(b"data: ");
    out.put_slice(line.as_bytes());
    out.put_u8(b'\n');
  }
  out.put_u8(b'\n');
  out.freeze()
}

/// Encodes a comment: one `: text` line per input line. Browsers ignore comments;
/// they keep proxies and idle connections alive.
pub fn encode_comment(text: &str) -> Bytes {
  let mut out = BytesMut::with_capacity(text.len() + 4);
  for line in split_lines(text) {
    out.put_u8(b':');
    if !line.is_empty() {
      out.put_u8(b' ');
      out.put_slice(line.as_bytes());
    }
    out.put_u8(b'\n');
  }
  out.put_u8(b'\n');
  out.freeze()
}

/// Encodes a lone `retry:` hint (the client's reconnection delay in ms).
pub fn encode_retry(ms: u32) -> Bytes {
  Bytes::from(format!("retry: {ms}\n\n"))
}

fn put_single_line_field(out: &mut BytesMut, name: &[u8], value: &str) {
  out.put_slice(name);
  out.put_slice(b": ");
  if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
    out.extend(value.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | 0)));
  } else {
    out.put_slice(value.as_bytes());
  }
  out.put_u8(b'\n');
}

/// Where the first CR or LF is (bytes: a char pattern search costs several times more).
fn line_break(s: &[u8]) -> Option<usize> {
  s.iter().position(|&b| b == b'\r' || b == b'\n')
}

/// Splits on CRLF, LF and CR, as the event-stream parser does. An empty input is one
/// empty line, so `send('')` still dispatches an event with empty data.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
  let mut rest = Some(s);
  std::iter::from_fn(move || {
    let s = rest?;
    match line_break(s.as_bytes()) {
      None => {
        rest = None;
        Some(s)
      }
      Some(i) => {
        let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = Some(&s[i + skip..]);
        Some(&s[..i])
      }
    }
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn ev(id: Option<&str>, event: Option<&str>, data: &str) -> String {
    let b = encode_event(&Event { id, event, data, retry: None });
    String::from_utf8(b.to_vec()).unwrap()
  }

  #[test]
  fn data_only() {
    assert_eq!(ev(None, None, "hello"), "data: hello\n\n");
  }

  #[test]
  fn empty_data_still_dispatches() {
    assert_eq!(ev(None, None, ""), "data: \n\n");
  }

  #[test]
  fn id_event_data_in_order() {
    assert_eq!(ev(Some("7"), Some("tick"), "x"), "id: 7\nevent: tick\ndata: x\n\n");
  }

  #[test]
  fn zero_and_empty_fields_survive() {
    assert_eq!(ev(Some("0"), Some(""), ""), "id: 0\nevent: \ndata: \n\n");
  }

  #[test]
  fn every_line_break_starts_a_data_line() {
    assert_eq!(ev(None, None, "a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    assert_eq!(ev(None, None, "a\n"), "data: a\ndata: \n\n");
    assert_eq!(ev(None, None, "\n\n"), "data: \ndata: \ndata: \n\n");
  }

  #[test]
  fn data_cannot_inject_an_event() {
    let s = ev(None, None, "x\n\nevent: evil\ndata: y");
    assert_eq!(s, "data: x\ndata: \ndata: event: evil\ndata: data: y\n\n");
  }

  #[test]
  fn id_and_event_lose_cr_lf_nul() {
    assert_eq!(ev(Some("1\n\ndata: x"), Some("a\r\nb\0"), "d"), "id: 1data: x\nevent: ab\ndata: d\n\n");
  }

  #[test]
  fn leading_space_is_kept() {
    assert_eq!(ev(None, None, " x"), "data:  x\n\n");
  }

  #[test]
  fn comments_one_line_each() {
    assert_eq!(&encode_comment("hi")[..], b": hi\n\n");
    assert_eq!(&encode_comment("a\nb\r\nc")[..], b": a\n: b\n: c\n\n");
    assert_eq!(&encode_comment("")[..], b":\n\n");
  }

  #[test]
  fn retry_field() {
    let b = encode_event(&Event { id: None, event: None, data: "x", retry: Some(1500) });
    assert_eq!(&b[..], b"retry: 1500\ndata: x\n\n");
    assert_eq!(&encode_retry(10)[..], b"retry: 10\n\n");
  }
}
