//! Property tests for the parts of hyper-sse whose correctness is a matter of
//! "no input can do X": the SSE encoder, response-head validation, the route table
//! and channel replay.
//!
//! Run with `cargo test --test properties`. Case counts are kept moderate so the whole
//! file runs in a few seconds in debug mode; raise them with `PROPTEST_CASES=N`.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use hyper::Method;
use proptest::prelude::*;

use hyper_sse::broadcast::channel::{Channel, ChannelOptions, Publish};
use hyper_sse::http::head::headers;
use hyper_sse::http::stream::{SlowClient, StreamLimits, StreamQueue, Take};
use hyper_sse::server::router::Router;
use hyper_sse::server::stats::Stats;
use hyper_sse::sse::encode::{encode_comment, encode_event, encode_retry, Event};

fn config(cases: u32) -> ProptestConfig {
  // PROPTEST_CASES still overrides (ProptestConfig::default() reads it).
  let default = ProptestConfig::default();
  let cases = if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases };
  ProptestConfig { cases, failure_persistence: None, ..default }
}

// ---------------------------------------------------------------------------------
// A WHATWG event-stream parser (HTML, "Server-sent events", 9.2.6 "Interpreting an
// event stream"), written from the spec and independent of the crate.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dispatched {
  event_type: String,
  data: String,
  last_event_id: String,
}

/// The parser's state as the spec describes it, plus the line being assembled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SseParser {
  /// Bytes of the current, not yet terminated, line.
  line: String,
  /// The previous chunk ended in CR: a LF starting the next chunk belongs to it.
  after_cr: bool,
  /// Whether the first character of the stream was seen (a leading BOM is skipped).
  started: bool,
  data: String,
  event_type: String,
  last_event_id_buffer: String,
  /// The EventSource's "last event ID string".
  last_event_id: String,
  /// Reconnection time set by `retry:`.
  retry: Option<u64>,
}

/// What a field line or dispatch can change (everything but the line assembly).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observable {
  data: String,
  event_type: String,
  last_event_id_buffer: String,
  last_event_id: String,
  retry: Option<u64>,
}

impl SseParser {
  fn observable(&self) -> Observable {
    Observable {
      data: self.data.clone(),
      event_type: self.event_type.clone(),
      last_event_id_buffer: self.last_event_id_buffer.clone(),
      last_event_id: self.last_event_id.clone(),
      retry: self.retry,
    }
  }

  /// Feeds one chunk of the (already UTF-8 decoded) stream; returns dispatched events.
  fn feed(&mut self, chunk: &str) -> Vec<Dispatched> {
    let mut out = Vec::new();
    for c in chunk.chars() {
      if !self.started {
        self.started = true;
        if c == '\u{FEFF}' {
          continue;
        }
      }
      if self.after_cr {
        self.after_cr = false;
        if c == '\n' {
          continue; // second half of a CRLF
        }
      }
      match c {
        '\r' => {
          self.after_cr = true;
          self.end_line(&mut out);
        }
        '\n' => self.end_line(&mut out),
        c => self.line.push(c),
      }
    }
    out
  }

  fn end_line(&mut self, out: &mut Vec<Dispatched>) {
    let line = std::mem::take(&mut self.line);
    if line.is_empty() {
      self.dispatch(out);
    } else if line.starts_with(':') {
      // comment
    } else if let Some(i) = line.find(':') {
      let field = &line[..i];
      let value = &line[i + 1..];
      let value = value.strip_prefix(' ').unwrap_or(value);
      self.field(field, value);
    } else {
      self.field(&line, "");
    }
  }

  fn field(&mut self, field: &str, value: &str) {
    match field {
      "event" => self.event_type = value.to_owned(),
      "data" => {
        self.data.push_str(value);
        self.data.push('\n');
      }
      "id" => {
        if !value.contains('\0') {
          self.last_event_id_buffer = value.to_owned();
        }
      }
      "retry" => {
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
          // Interpreted in base ten; saturate rather than overflow on huge values.
          self.retry = Some(value.parse::<u64>().unwrap_or(u64::MAX));
        }
      }
      _ => {}
    }
  }

  fn dispatch(&mut self, out: &mut Vec<Dispatched>) {
    self.last_event_id = self.last_event_id_buffer.clone();
    if self.data.is_empty() {
      self.event_type.clear();
      return;
    }
    if self.data.ends_with('\n') {
      self.data.pop();
    }
    let event_type = if self.event_type.is_empty() { "message".to_owned() } else { std::mem::take(&mut self.event_type) };
    out.push(Dispatched { event_type, data: std::mem::take(&mut self.data), last_event_id: self.last_event_id.clone() });
    self.data.clear();
    self.event_type.clear();
  }

  /// True when nothing is half-parsed: no partial line, no buffered event.
  fn idle(&self) -> bool {
    self.line.is_empty() && self.data.is_empty() && self.event_type.is_empty()
  }
}

fn utf8(b: &[u8]) -> &str {
  std::str::from_utf8(b).expect("encoder output is UTF-8")
}

#[test]
fn parser_self_check() {
  // Examples from the HTML spec's event-stream section.
  let mut p = SseParser::default();
  let evs = p.feed("data: YHOO\ndata: +2\ndata: 10\n\n");
  assert_eq!(evs, [Dispatched { event_type: "message".into(), data: "YHOO\n+2\n10".into(), last_event_id: "".into() }]);
  let mut p = SseParser::default();
  let evs = p.feed(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n");
  let got: Vec<_> = evs.iter().map(|e| (e.data.as_str(), e.last_event_id.as_str())).collect();
  assert_eq!(got, [("first event", "1"), ("second event", ""), (" third event", "")]);
  let mut p = SseParser::default();
  let evs = p.feed("data\n\ndata\ndata\n\ndata:");
  let got: Vec<_> = evs.iter().map(|e| e.data.as_str()).collect();
  assert_eq!(got, ["", "\n"]);
  let mut p = SseParser::default();
  let evs = p.feed("\u{FEFF}event: a\rdata: x\r\n\r");
  assert_eq!(evs, [Dispatched { event_type: "a".into(), data: "x".into(), last_event_id: "".into() }]);
  // CR at the end of one chunk, LF at the start of the next: one line break.
  let mut p = SseParser::default();
  assert!(p.feed("data: x\r").is_empty());
  assert!(p.feed("\n").is_empty());
  assert_eq!(p.feed("\n").len(), 1);
}

// ---------------------------------------------------------------------------------
// 1. SSE encoder
// ---------------------------------------------------------------------------------

/// Strings biased towards what could break the framing.
fn nasty_string() -> impl Strategy<Value = String> {
  let piece = prop_oneof![
    4 => Just("\r".to_owned()),
    4 => Just("\n".to_owned()),
    4 => Just("\r\n".to_owned()),
    2 => Just("\n\n".to_owned()),
    2 => Just("\r\r\n".to_owned()),
    3 => Just("\0".to_owned()),
    3 => Just(":".to_owned()),
    3 => Just(" ".to_owned()),
    1 => Just("\u{FEFF}".to_owned()),
    1 => Just("\u{2028}".to_owned()),
    1 => Just("\u{85}".to_owned()),
    2 => Just("data: ".to_owned()),
    2 => Just("id: ".to_owned()),
    2 => Just("event: ".to_owned()),
    2 => Just("retry: 1".to_owned()),
    1 => Just("data".to_owned()),
    6 => "[a-z0-9]{1,4}",
    6 => any::<char>().prop_map(String::from),
  ];
  prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn normalise_breaks(s: &str) -> String {
  s.replace("\r\n", "\n").replace('\r', "\n")
}

fn strip_cr_lf_nul(s: &str) -> String {
  s.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect()
}

#[derive(Debug, Clone)]
struct Ev {
  id: Option<String>,
  event: Option<String>,
  data: String,
  retry: Option<u32>,
}

fn ev_strategy() -> impl Strategy<Value = Ev> {
  (prop::option::of(nasty_string()), prop::option::of(nasty_string()), nasty_string(), prop::option::weighted(0.2, any::<u32>()))
    .prop_map(|(id, event, data, retry)| Ev { id, event, data, retry })
}

fn encode(ev: &Ev) -> bytes::Bytes {
  encode_event(&Event { id: ev.id.as_deref(), event: ev.event.as_deref(), data: &ev.data, retry: ev.retry })
}

/// What a spec-conforming client must see for `evs` sent in order after `last_id`.
fn expected(evs: &[Ev], mut last_id: String) -> Vec<Dispatched> {
  evs
    .iter()
    .map(|ev| {
      if let Some(id) = &ev.id {
        last_id = strip_cr_lf_nul(id);
      }
      let event_type = match ev.event.as_deref().map(strip_cr_lf_nul) {
        Some(t) if !t.is_empty() => t,
        _ => "message".to_owned(),
      };
      Dispatched { event_type, data: normalise_breaks(&ev.data), last_event_id: last_id.clone() }
    })
    .collect()
}

/// Stream items: events, comments and lone retry hints.
#[derive(Debug, Clone)]
enum Item {
  Event(Ev),
  Comment(String),
  Retry(u32),
}

fn item_strategy() -> impl Strategy<Value = Item> {
  prop_oneof![
    5 => ev_strategy().prop_map(Item::Event),
    2 => nasty_string().prop_map(Item::Comment),
    1 => any::<u32>().prop_map(Item::Retry),
  ]
}

proptest! {
  #![proptest_config(config(512))]

  /// One encoded event is exactly one event for a spec parser, with the data, type
  /// and id the caller gave (line breaks normalised, CR/LF/NUL gone from single-line
  /// fields), and leaves the parser with nothing half-parsed.
  #[test]
  fn sse_one_event_round_trips(ev in ev_strategy(), prev_id in "[a-z0-9]{0,3}") {
    let bytes = encode(&ev);
    let mut p = SseParser { last_event_id_buffer: prev_id.clone(), last_event_id: prev_id.clone(), ..Default::default() };
    let got = p.feed(utf8(&bytes));
    prop_assert_eq!(&got, &expected(std::slice::from_ref(&ev), prev_id));
    prop_assert!(p.idle(), "parser left mid-event: {:?}", p);
    prop_assert!(!p.after_cr, "output ends in a bare CR");
    if let Some(r) = ev.retry {
      prop_assert_eq!(p.retry, Some(r as u64));
    } else {
      prop_assert_eq!(p.retry, None);
    }
  }

  /// Events, comments and retry hints concatenated (and fed in arbitrary chunks)
  /// parse to exactly the events sent, in order: no field or event can be injected,
  /// comments and retry hints never produce an event nor touch id/type state.
  #[test]
  fn sse_stream_of_items_round_trips(
    items in prop::collection::vec(item_strategy(), 0..8),
    cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
  ) {
    let mut stream = Vec::new();
    let mut events = Vec::new();
    let mut retry = None;
    for item in &items {
      match item {
        Item::Event(ev) => {
          stream.extend_from_slice(&encode(ev));
          events.push(ev.clone());
          if let Some(r) = ev.retry {
            retry = Some(r as u64);
          }
        }
        Item::Comment(c) => stream.extend_from_slice(&encode_comment(c)),
        Item::Retry(ms) => {
          stream.extend_from_slice(&encode_retry(*ms));
          retry = Some(*ms as u64);
        }
      }
    }
    let text = utf8(&stream);
    // Feed in chunks split at arbitrary char boundaries (CR/LF may straddle them).
    let mut positions: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).filter(|&i| text.is_char_boundary(i)).collect();
    positions.push(0);
    positions.push(text.len());
    positions.sort_unstable();
    positions.dedup();
    let mut p = SseParser::default();
    let mut got = Vec::new();
    for w in positions.windows(2) {
      got.extend(p.feed(&text[w[0]..w[1]]));
    }
    prop_assert_eq!(&got, &expected(&events, String::new()));
    prop_assert!(p.idle());
    prop_assert_eq!(p.retry, retry);
  }

  /// A comment alone dispatches nothing and leaves every piece of parser state as it
  /// was, whatever state the parser was in between events.
  #[test]
  fn sse_comment_is_inert(text in nasty_string(), before in prop::option::of(ev_strategy())) {
    let mut p = SseParser::default();
    if let Some(ev) = &before {
      p.feed(utf8(&encode(ev)));
    }
    let state = p.observable();
    let got = p.feed(utf8(&encode_comment(&text)));
    prop_assert!(got.is_empty(), "comment dispatched {:?}", got);
    prop_assert_eq!(p.observable(), state);
    prop_assert!(p.idle());
    // Every line of a comment starts with ':'.
    let bytes = encode_comment(&text);
    let body = utf8(&bytes).strip_suffix("\n\n").expect("comment ends with a blank line");
    for line in body.split('\n') {
      prop_assert!(line.starts_with(':') && !line.contains('\r'), "bad comment line {:?}", line);
    }
  }

  /// A lone retry hint sets the reconnection time and nothing else.
  #[test]
  fn sse_retry_hint(ms in any::<u32>(), before in prop::option::of(ev_strategy())) {
    let mut p = SseParser::default();
    if let Some(ev) = &before {
      p.feed(utf8(&encode(ev)));
    }
    let mut state = p.observable();
    prop_assert!(p.feed(utf8(&encode_retry(ms))).is_empty());
    state.retry = Some(ms as u64);
    prop_assert_eq!(p.observable(), state);
  }
}

// ---------------------------------------------------------------------------------
// 2. Header validation
// ---------------------------------------------------------------------------------

/// RFC 9110 token.
fn is_token(s: &str) -> bool {
  !s.is_empty() && s.len() < 1 << 16 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Field value: no control characters other than HTAB (obs-text allowed).
fn is_field_value(s: &str) -> bool {
  s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// One character that is not allowed in a token.
fn not_tchar() -> impl Strategy<Value = char> {
  prop_oneof![
    3 => prop::sample::select("\0\t\n\r \"(),/:;<=>?@[\\]{}\x7f\x01\x1f".chars().collect::<Vec<_>>()),
    1 => any::<char>().prop_filter("non-ASCII", |c| !c.is_ascii()),
  ]
}

fn header_name() -> impl Strategy<Value = String> {
  prop_oneof![
    6 => "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}",
    2 => Just("content-length".to_owned()),
    1 => Just("Content-Length".to_owned()),
    2 => Just("set-cookie".to_owned()),
    3 => ("[a-z-]{0,6}", not_tchar(), "[a-z-]{0,6}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    1 => Just(String::new()),
    2 => ".{0,8}",
  ]
}

fn header_value() -> impl Strategy<Value = String> {
  prop_oneof![
    6 => "[ -~\\t]{0,16}",
    3 => ("[ -~]{0,6}", prop::sample::select(vec!["\r", "\n", "\r\n", "\0", "\x7f", "\x01", "\x1b", "\r\nset-cookie: evil=1"]), "[ -~]{0,6}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    2 => "[\\u{80}-\\u{10FFFF} a-z]{0,6}",
    2 => ".{0,10}",
  ]
}

proptest! {
  #![proptest_config(config(512))]

  #[test]
  fn headers_refuse_anything_that_could_split_a_line(
    pairs in prop::collection::vec((header_name(), header_value()), 0..6),
    odd in prop::option::weighted(0.05, header_name()),
  ) {
    let mut flat: Vec<String> = pairs.iter().flat_map(|(n, v)| [n.clone(), v.clone()]).collect();
    if let Some(extra) = &odd {
      flat.push(extra.clone());
    }
    let result = headers(&flat).map(|h| h.headers);
    let must_fail = odd.is_some()
      || pairs.iter().any(|(n, v)| !is_token(n) || v.contains(['\r', '\n', '\0']));
    let all_valid = odd.is_none() && pairs.iter().all(|(n, v)| is_token(n) && is_field_value(v));
    match &result {
      Err(_) => prop_assert!(!all_valid, "valid headers refused: {:?}", flat),
      Ok(map) => {
        prop_assert!(!must_fail, "accepted {:?}", flat);
        for (name, value) in map.iter() {
          prop_assert!(!value.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)), "{:?}: {:?}", name, value);
          prop_assert!(is_token(name.as_str()));
        }
        // Everything kept, in order.
        let kept: Vec<(String, &str)> = pairs.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.as_str())).collect();
        prop_assert_eq!(map.len(), kept.len());
        let got: Vec<(String, &[u8])> = map.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes())).collect();
        for name in kept.iter().map(|(n, _)| n).collect::<HashSet<_>>() {
          let want: Vec<&[u8]> = kept.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_bytes()).collect();
          let have: Vec<&[u8]> = got.iter().filter(|(n, _)| n == name).map(|(_, v)| *v).collect();
          prop_assert_eq!(want, have, "values of {}", name);
        }
      }
    }
    prop_assert!(must_fail <= result.is_err());
  }
}

// ---------------------------------------------------------------------------------
// 3. Routes
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
  Static(String),
  Param(String),
}

fn pattern_of(segs: &[Seg]) -> String {
  segs
    .iter()
    .map(|s| match s {
      Seg::Static(x) => format!("/{x}"),
      Seg::Param(n) => format!("/:{n}"),
    })
    .collect()
}

/// Small static alphabet so routes share prefixes and segments often; includes the
/// characters matchit treats specially ('{', '}', '*', ':' not leading).
fn static_seg() -> impl Strategy<Value = String> {
  prop_oneof![
    6 => "[ab]{1,2}",
    2 => "[a-z0-9._~-]{1,5}",
    1 => "[ab{}]{1,3}",
    1 => "[ab][:*]{1,2}",
  ]
}

/// A param value: any non-empty string without '/', often equal to a static segment.
fn param_value() -> impl Strategy<Value = String> {
  prop_oneof![
    3 => static_seg(),
    3 => "[^/]{1,6}",
    1 => "[{}:*%?# ]{1,3}",
  ]
}

/// Segments with positional param names (`p0`, `p1`, ...): two routes conflict only
/// if they have the same shape.
fn route_shape() -> impl Strategy<Value = Vec<Seg>> {
  prop::collection::vec(prop_oneof![2 => static_seg().prop_map(Seg::Static), 1 => Just(Seg::Param(String::new()))], 1..5).prop_map(|segs| {
    segs
      .into_iter()
      .enumerate()
      .map(|(i, s)| match s {
        Seg::Param(_) => Seg::Param(format!("p{i}")),
        s => s,
      })
      .collect()
  })
}

fn split_path(path: &str) -> Vec<&str> {
  path[1..].split('/').collect()
}

/// Param values if `segs` matches `path` segment by segment.
fn match_route(segs: &[Seg], path: &[&str]) -> Option<Vec<String>> {
  if segs.len() != path.len() {
    return None;
  }
  let mut params = Vec::new();
  for (s, p) in segs.iter().zip(path) {
    match s {
      Seg::Static(x) if x == p => {}
      Seg::Param(_) if !p.is_empty() => params.push(p.to_string()),
      _ => return None,
    }
  }
  Some(params)
}

/// The most specific matching route: at the first segment where two candidates
/// differ, a static segment beats a parameter.
fn reference_find(routes: &[(Vec<Seg>, u32)], path: &str) -> Option<(u32, Vec<String>)> {
  let parts = split_path(path);
  let mut best: Option<(&Vec<Seg>, u32, Vec<String>)> = None;
  for (segs, id) in routes {
    if let Some(params) = match_route(segs, &parts) {
      let better = match &best {
        None => true,
        Some((b, _, _)) => {
          let k: Vec<bool> = segs.iter().map(|s| matches!(s, Seg::Static(_))).collect();
          let kb: Vec<bool> = b.iter().map(|s| matches!(s, Seg::Static(_))).collect();
          k > kb
        }
      };
      if better {
        best = Some((segs, *id, params));
      }
    }
  }
  best.map(|(_, id, p)| (id, p))
}

fn concrete_path(segs: &[Seg], values: &[String]) -> String {
  segs
    .iter()
    .enumerate()
    .map(|(i, s)| match s {
      Seg::Static(x) => format!("/{x}"),
      Seg::Param(_) => format!("/{}", values[i % values.len()]),
    })
    .collect()
}

proptest! {
  #![proptest_config(config(256))]

  /// `/prefix/:x/suffix` matches `/prefix/<v>/suffix` for any non-empty v without '/',
  /// with v as the only param, for GET and HEAD; not for POST.
  #[test]
  fn route_param_takes_any_segment(
    prefix in prop::collection::vec(static_seg(), 0..3),
    suffix in prop::collection::vec(static_seg(), 0..3),
    name in "[a-z_][a-z0-9_]{0,8}",
    v in param_value(),
  ) {
    let mut segs: Vec<Seg> = prefix.iter().cloned().map(Seg::Static).collect();
    segs.push(Seg::Param(name.clone()));
    segs.extend(suffix.iter().cloned().map(Seg::Static));
    let mut r = Router::default();
    let names = r.add("GET", &pattern_of(&segs), 7).map_err(|e| TestCaseError::fail(e))?;
    prop_assert_eq!(names, vec![name]);
    let path = concrete_path(&segs, std::slice::from_ref(&v));
    let m = r.find(&Method::GET, &path);
    prop_assert!(m.is_some(), "{} did not match {}", path, pattern_of(&segs));
    let m = m.unwrap();
    prop_assert_eq!((m.route, m.params), (7, vec![v.clone()]));
    prop_assert_eq!(r.find(&Method::HEAD, &path).map(|m| m.route), Some(7));
    prop_assert!(r.find(&Method::POST, &path).is_none());
  }

  /// A static route beats a param route at the same place, whatever the order added.
  #[test]
  fn route_static_beats_param(
    prefix in prop::collection::vec(static_seg(), 0..3),
    s in static_seg(),
    tail in prop::collection::vec(static_seg(), 0..2),
    v in param_value(),
    static_first in any::<bool>(),
  ) {
    let with = |mid: Seg| -> Vec<Seg> {
      prefix.iter().cloned().map(Seg::Static).chain([mid]).chain(tail.iter().cloned().map(Seg::Static)).collect()
    };
    let param = with(Seg::Param("x".into()));
    let stat = with(Seg::Static(s.clone()));
    let mut r = Router::default();
    let order: [(&Vec<Seg>, u32); 2] = if static_first { [(&stat, 2), (&param, 1)] } else { [(&param, 1), (&stat, 2)] };
    for (segs, id) in order {
      r.add("GET", &pattern_of(segs), id).map_err(|e| TestCaseError::fail(e))?;
    }
    let m = r.find(&Method::GET, &concrete_path(&stat, &[String::new()]));
    prop_assert_eq!(m.map(|m| (m.route, m.params)), Some((2, vec![])));
    let path = concrete_path(&param, std::slice::from_ref(&v));
    let want = if v == s { (2, vec![]) } else { (1, vec![v.clone()]) };
    prop_assert_eq!(r.find(&Method::GET, &path).map(|m| (m.route, m.params)), Some(want));
  }

  /// Any set of distinct static/param routes can be added (positional param names
  /// never conflict), and every path resolves to the most specific matching route,
  /// with its param values in order.
  #[test]
  fn route_table_agrees_with_reference(
    shapes in prop::collection::vec(route_shape(), 1..8),
    values in prop::collection::vec(param_value(), 1..4),
    extra_paths in prop::collection::vec(prop::collection::vec(prop_oneof![3 => static_seg(), 1 => param_value(), 1 => Just(String::new())], 1..5), 0..6),
  ) {
    let mut r = Router::default();
    let mut added: Vec<(Vec<Seg>, u32)> = Vec::new();
    for (i, segs) in shapes.iter().enumerate() {
      let dup = added.iter().any(|(s, _)| s == segs);
      let res = r.add("GET", &pattern_of(segs), i as u32);
      if dup {
        prop_assert!(res.is_err(), "duplicate {} accepted", pattern_of(segs));
      } else {
        let names = res.map_err(|e| TestCaseError::fail(format!("{} refused: {e}", pattern_of(segs))))?;
        let want: Vec<String> = segs.iter().filter_map(|s| match s { Seg::Param(n) => Some(n.clone()), _ => None }).collect();
        prop_assert_eq!(names, want);
        added.push((segs.clone(), i as u32));
      }
    }
    let mut paths: Vec<String> = added.iter().map(|(segs, _)| concrete_path(segs, &values)).collect();
    paths.extend(extra_paths.iter().map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>()));
    for path in &paths {
      let got = r.find(&Method::GET, path).map(|m| (m.route, m.params));
      let want = reference_find(&added, path);
      prop_assert_eq!(got, want, "path {:?} with routes {:?}", path, added.iter().map(|(s, i)| (pattern_of(s), *i)).collect::<Vec<_>>());
    }
  }

  /// A trailing `*` matches any non-empty rest (slashes included) as its value, and its
  /// implicit bare prefix (`/files/` for `/files/*`) never takes precedence over, nor
  /// blocks, an explicit route for that prefix, in whichever order they are added.
  #[test]
  fn route_wildcard_and_explicit_prefix(
    prefix in prop::collection::vec(static_seg(), 0..3),
    rest in prop::collection::vec("[^/]{1,4}", 1..4),
    wildcard_first in any::<bool>(),
  ) {
    let p: String = prefix.iter().map(|s| format!("/{s}")).collect();
    let wild = format!("{p}/*");
    let bare = format!("{p}/");
    let mut r = Router::default();
    let order = if wildcard_first { [(&wild, 1), (&bare, 2)] } else { [(&bare, 2), (&wild, 1)] };
    for (pattern, id) in order {
      let res = r.add("GET", pattern, id);
      prop_assert!(res.is_ok(), "adding {} after {}: {:?}", pattern, if wildcard_first { &wild } else { &bare }, res.err());
    }
    let rest = rest.join("/");
    let m = r.find(&Method::GET, &format!("{p}/{rest}")).map(|m| (m.route, m.params));
    prop_assert_eq!(m, Some((1, vec![rest.clone()])));
    prop_assert_eq!(r.find(&Method::GET, &bare).map(|m| m.route), Some(2));
  }

  /// Arbitrary patterns are added or refused, never panic; arbitrary paths never
  /// panic in find, and a match reports as many params as the route has names.
  #[test]
  fn router_never_panics(
    patterns in prop::collection::vec(prop_oneof![
      3 => "(/(:?[a-z{}*]{0,3}|\\*)){1,4}",
      1 => ".{0,12}",
    ], 0..8),
    methods in prop::collection::vec(prop::sample::select(vec!["GET", "get", "POST", "HEAD", "ANY", "all", "BAD METHOD", ""]), 8),
    paths in prop::collection::vec(prop_oneof![3 => "(/[a-z{}*:]{0,3}){0,5}", 1 => ".{0,12}"], 1..8),
  ) {
    let mut r = Router::default();
    let mut names_of = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
      match r.add(methods[i % methods.len()], p, i as u32) {
        Ok(names) => names_of.push(Some(names)),
        Err(_) => names_of.push(None),
      }
    }
    for path in &paths {
      for m in [Method::GET, Method::HEAD, Method::POST, Method::DELETE] {
        if let Some(found) = r.find(&m, path) {
          let names = names_of.get(found.route as usize).and_then(|n| n.as_ref());
          prop_assert!(names.is_some(), "{path:?} matched route {} which was refused or never added", found.route);
          // One value per name; the bare-prefix form of a trailing `*` (`/files/` for
          // `/files/*`) has no value for the `*` (JS skips `*` names).
          let names = names.unwrap();
          let ok = names.len() == found.params.len() || (names.last().map(String::as_str) == Some("*") && names.len() == found.params.len() + 1);
          prop_assert!(ok, "path {:?} route {:?}: names {:?} params {:?}", path, patterns[found.route as usize], names, found.params);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// 4. Channel replay
// ---------------------------------------------------------------------------------

fn stream() -> Arc<StreamQueue> {
  StreamQueue::new(StreamLimits { high_water: 1 << 20, max_buffer: 1 << 22, policy: SlowClient::Disconnect }, 0, Arc::new(Stats::default()), Arc::default(), Arc::default())
}

/// Everything queued so far, as text.
fn drain(q: &StreamQueue) -> String {
  let mut out = Vec::new();
  while let Poll::Ready(Take::Data { bytes, .. }) = q.poll_take(&mut Context::from_waker(Waker::noop())) {
    out.extend_from_slice(&bytes);
  }
  String::from_utf8(out).unwrap()
}

proptest! {
  #![proptest_config(config(256))]

  /// With history H and K publishes (ids generated 1..=K), subscribing with
  /// Last-Event-ID n replays exactly the kept events with seq > n, in order, once;
  /// then live events follow with no gap and no duplicate.
  #[test]
  fn channel_replays_exactly_the_missed_events(
    history in 0usize..6,
    k in 0u64..12,
    n_off in 0u64..=14,
    retry in prop::option::of(0u32..5000),
    live in 0u64..3,
    data in nasty_string(),
  ) {
    let n = n_off % (k + 3); // n in 0..=K+2
    let c = std::sync::Arc::new(Channel::new(ChannelOptions { history, retry }));
    let payload = |seq: u64| format!("{seq}:{data}");
    for seq in 1..=k {
      c.publish(&Publish { id: None, event: None, data: &payload(seq), retry: None });
    }
    let q = stream();
    let replayed = c.subscribe(q.clone(), Some(&n.to_string()));
    for seq in k + 1..=k + live {
      c.publish(&Publish { id: None, event: None, data: &payload(seq), retry: None });
    }

    let first_kept = if history == 0 { k + 1 } else { k.saturating_sub(history as u64) + 1 };
    let want_replay: Vec<u64> = (first_kept..=k).filter(|&s| s > n).collect();
    prop_assert_eq!(replayed, Some(want_replay.len() as u32), "H={} K={} n={}", history, k, n);

    let mut p = SseParser::default();
    let text = drain(&q);
    let got = p.feed(&text);
    prop_assert!(p.idle());
    prop_assert_eq!(p.retry, retry.map(u64::from));
    let want: Vec<Dispatched> = want_replay
      .iter()
      .copied()
      .chain(k + 1..=k + live)
      .map(|s| Dispatched {
        event_type: "message".into(),
        data: normalise_breaks(&payload(s)),
        last_event_id: if history > 0 { s.to_string() } else { String::new() },
      })
      .collect();
    prop_assert_eq!(got, want, "H={} K={} n={} stream {:?}", history, k, n, text);
  }

  /// Non-numeric or absent Last-Event-IDs: absent replays nothing; an unknown id
  /// replays nothing.
  #[test]
  fn channel_unknown_or_absent_id_replays_nothing(
    history in 1usize..6,
    k in 0u64..10,
    last in prop::option::of("[a-z ]{0,4}|-[0-9]|[0-9]+x"),
  ) {
    let c = std::sync::Arc::new(Channel::new(ChannelOptions { history, retry: None }));
    for seq in 1..=k {
      c.publish(&Publish { id: None, event: None, data: &seq.to_string(), retry: None });
    }
    let q = stream();
    prop_assert_eq!(c.subscribe(q.clone(), last.as_deref()), Some(0));
    prop_assert_eq!(drain(&q), "");
  }
}
