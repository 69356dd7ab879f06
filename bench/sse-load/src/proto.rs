//! HTTP/1.1 response head, body framing (chunked / content-length / close-delimited) and
//! a streaming WHATWG event-stream parser. All of it works on borrowed slices of the
//! connection's read buffer; only a partial line at a read boundary and the `data`
//! buffer are copied, into Vecs reused for the life of the connection.

pub type PResult<T> = Result<T, &'static str>;

/// End of the response head (index just past the blank line), if complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // "\n\n" or "\n\r\n"
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

pub enum Framing {
    Close,
    Length(u64),
    Chunked,
}

/// Parses the status line and the headers that matter. Err carries a reason for the report.
pub fn parse_head(head: &[u8]) -> Result<Framing, String> {
    let text = std::str::from_utf8(head).map_err(|_| "bad head: not UTF-8".to_string())?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err("bad head: not HTTP/1.x".into());
    }
    let code = parts.next().unwrap_or("");
    if code != "200" {
        return Err(format!("status {code}"));
    }
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            framing = Framing::Length(
                value
                    .parse()
                    .map_err(|_| "bad head: content-length".to_string())?,
            );
        }
    }
    Ok(framing)
}

#[derive(Clone, Copy)]
enum Chunk {
    Size { val: u64, digits: u32, ext: bool },
    Data(u64),
    DataCr,
    DataLf,
    Trailer { line_start: bool },
    Done,
}

pub struct Body {
    framing: Framing,
    chunk: Chunk,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        Body {
            framing,
            chunk: Chunk::Size {
                val: 0,
                digits: 0,
                ext: false,
            },
        }
    }

    /// Feeds raw bytes; passes payload slices to `sink`. Ok(true) once the body is complete.
    pub fn feed(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> PResult<()>,
    ) -> PResult<bool> {
        match &mut self.framing {
            Framing::Close => {
                if !input.is_empty() {
                    sink(input)?;
                }
                Ok(false)
            }
            Framing::Length(rem) => {
                let take = (*rem).min(input.len() as u64) as usize;
                if take > 0 {
                    sink(&input[..take])?;
                }
                *rem -= take as u64;
                Ok(*rem == 0)
            }
            Framing::Chunked => self.feed_chunked(input, sink),
        }
    }

    fn feed_chunked(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> PResult<()>,
    ) -> PResult<bool> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.chunk {
                Chunk::Size { val, digits, ext } => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return Err("bad chunk size");
                            }
                            self.chunk = if *val == 0 {
                                Chunk::Trailer { line_start: true }
                            } else {
                                Chunk::Data(*val)
                            };
                        }
                        b'\r' => {}
                        _ if *ext => {}
                        b';' | b' ' | b'\t' => *ext = true,
                        _ => {
                            let d = (b as char).to_digit(16).ok_or("bad chunk size")? as u64;
                            if *digits >= 15 {
                                return Err("chunk size too large");
                            }
                            *val = *val * 16 + d;
                            *digits += 1;
                        }
                    }
                }
                Chunk::Data(rem) => {
                    let take = (*rem).min((input.len() - i) as u64) as usize;
                    *rem -= take as u64;
                    let done = *rem == 0;
                    sink(&input[i..i + take])?;
                    i += take;
                    if done {
                        self.chunk = Chunk::DataCr;
                    }
                }
                Chunk::DataCr => {
                    self.chunk = match input[i] {
                        b'\r' => Chunk::DataLf,
                        b'\n' => Chunk::Size {
                            val: 0,
                            digits: 0,
                            ext: false,
                        },
                        _ => return Err("missing CRLF after chunk"),
                    };
                    i += 1;
                }
                Chunk::DataLf => {
                    if input[i] != b'\n' {
                        return Err("missing LF after chunk");
                    }
                    i += 1;
                    self.chunk = Chunk::Size {
                        val: 0,
                        digits: 0,
                        ext: false,
                    };
                }
                Chunk::Trailer { line_start } => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\n' if *line_start => {
                            self.chunk = Chunk::Done;
                            return Ok(true);
                        }
                        b'\n' => *line_start = true,
                        b'\r' => {}
                        _ => *line_start = false,
                    }
                }
                Chunk::Done => return Ok(true),
            }
        }
        Ok(matches!(self.chunk, Chunk::Done))
    }
}

const MAX_LINE: usize = 1 << 20;

/// Streaming event-stream parser (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
pub struct Sse {
    line: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    pub last_id: Vec<u8>,
    skip_lf: bool,
    bom_checked: bool,
    pub comments: u64,
}

impl Sse {
    pub fn new() -> Self {
        Sse {
            line: Vec::with_capacity(256),
            data: Vec::with_capacity(256),
            event: Vec::new(),
            last_id: Vec::new(),
            skip_lf: false,
            bom_checked: false,
            comments: 0,
        }
    }

    /// Feeds decoded body bytes; calls `on_event(data, event_type)` per dispatched event
    /// (event_type empty = "message").
    pub fn feed(
        &mut self,
        mut input: &[u8],
        on_event: &mut impl FnMut(&[u8], &[u8]),
    ) -> PResult<()> {
        if input.is_empty() {
            return Ok(());
        }
        if !self.bom_checked {
            // A leading UTF-8 BOM is stripped (only at the very start of the stream).
            if self.line.len() + input.len() < 3
                && b"\xEF\xBB\xBF".starts_with(&[&self.line[..], input].concat())
            {
                self.line.extend_from_slice(input);
                return Ok(());
            }
            self.bom_checked = true;
            if !self.line.is_empty() {
                let held = std::mem::take(&mut self.line);
                let joined = [&held[..], input].concat();
                let rest = joined
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(&joined)
                    .to_vec();
                return self.feed(&rest, on_event);
            }
            if let Some(rest) = input.strip_prefix(b"\xEF\xBB\xBF") {
                input = rest;
            }
        }
        if self.skip_lf {
            self.skip_lf = false;
            if input.first() == Some(&b'\n') {
                input = &input[1..];
            }
        }
        let mut i = 0;
        while i < input.len() {
            match input[i..].iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(off) => {
                    let end = i + off;
                    if self.line.is_empty() {
                        process_line(
                            &input[i..end],
                            &mut self.data,
                            &mut self.event,
                            &mut self.last_id,
                            &mut self.comments,
                            on_event,
                        );
                    } else {
                        self.line.extend_from_slice(&input[i..end]);
                        let line = std::mem::take(&mut self.line);
                        process_line(
                            &line,
                            &mut self.data,
                            &mut self.event,
                            &mut self.last_id,
                            &mut self.comments,
                            on_event,
                        );
                        self.line = line;
                        self.line.clear();
                    }
                    if self.data.len() > MAX_LINE {
                        return Err("event data above 1 MiB");
                    }
                    i = end + 1;
                    if input[end] == b'\r' {
                        if i < input.len() {
                            if input[i] == b'\n' {
                                i += 1;
                            }
                        } else {
                            self.skip_lf = true;
                        }
                    }
                }
                None => {
                    self.line.extend_from_slice(&input[i..]);
                    if self.line.len() > MAX_LINE {
                        return Err("line above 1 MiB");
                    }
                    break;
                }
            }
        }
        Ok(())
    }
}

fn process_line(
    line: &[u8],
    data: &mut Vec<u8>,
    event: &mut Vec<u8>,
    last_id: &mut Vec<u8>,
    comments: &mut u64,
    on_event: &mut impl FnMut(&[u8], &[u8]),
) {
    if line.is_empty() {
        // Dispatch.
        if data.is_empty() {
            event.clear();
            return;
        }
        data.pop(); // the trailing LF
        on_event(data, event);
        data.clear();
        event.clear();
        return;
    }
    if line[0] == b':' {
        *comments += 1;
        return;
    }
    let (field, value) = match line.iter().position(|&b| b == b':') {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &b""[..]),
    };
    match field {
        b"data" => {
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        b"event" => {
            event.clear();
            event.extend_from_slice(value);
        }
        b"id" => {
            if !value.contains(&0) {
                last_id.clear();
                last_id.extend_from_slice(value);
            }
        }
        _ => {} // retry and unknown fields: ignored
    }
}

/// Extracts `seq` and `t` (in microseconds) from a payload `{"seq":N,"t":T,...}`.
/// Tolerates whitespace, other keys and nested values; never allocates.
pub fn parse_payload(d: &[u8]) -> (Option<u64>, Option<f64>) {
    let mut seq = None;
    let mut t = None;
    let n = d.len();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < n && matches!(d[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    ws(&mut i);
    if i >= n || d[i] != b'{' {
        return (None, None);
    }
    i += 1;
    loop {
        ws(&mut i);
        if i >= n || d[i] != b'"' {
            break;
        }
        let ks = i + 1;
        i = skip_string(d, i);
        if i > n {
            break;
        }
        let key = &d[ks..i - 1];
        ws(&mut i);
        if i >= n || d[i] != b':' {
            break;
        }
        i += 1;
        ws(&mut i);
        let vs = i;
        i = skip_value(d, i);
        let val = &d[vs..i.min(n)];
        match key {
            b"seq" => seq = parse_u64(val),
            b"t" => t = parse_number(val).map(|v| if v < 1e14 { v * 1000.0 } else { v }),
            _ => {}
        }
        ws(&mut i);
        if i < n && d[i] == b',' {
            i += 1;
        } else {
            break;
        }
    }
    (seq, t)
}

/// `i` at an opening quote; returns the index after the closing quote (n+1 if unterminated).
fn skip_string(d: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < d.len() {
        match d[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    d.len() + 1
}

fn skip_value(d: &[u8], mut i: usize) -> usize {
    let n = d.len();
    if i >= n {
        return n;
    }
    match d[i] {
        b'"' => skip_string(d, i).min(n),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < n {
                match d[i] {
                    b'"' => {
                        i = skip_string(d, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            n
        }
        _ => {
            while i < n && !matches!(d[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            i
        }
    }
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut x = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        x = x * 10 + (b - b'0') as u64;
    }
    Some(x)
}

fn parse_number(v: &[u8]) -> Option<f64> {
    if let Some(x) = parse_u64(v) {
        return Some(x as f64);
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut p = Sse::new();
        let mut out = vec![];
        for c in chunks {
            p.feed(c, &mut |d, e| {
                out.push((
                    String::from_utf8_lossy(d).into(),
                    String::from_utf8_lossy(e).into(),
                ))
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn sse_line_endings_and_fields() {
        let all: &[u8] = b"\xEF\xBB\xBF: hi\r\ndata: a\rdata:b\r\n\r\nevent: x\nid: 7\ndata\n\n\n\ndata: c\r\rdata: lost";
        let expect = vec![
            ("a\nb".to_string(), "".to_string()),
            ("".into(), "x".into()),
            ("c".into(), "".into()),
        ];
        assert_eq!(events(&[all]), expect);
        // Every split point gives the same result.
        for k in 0..all.len() {
            assert_eq!(events(&[&all[..k], &all[k..]]), expect, "split at {k}");
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(events(&bytes), expect);
    }

    #[test]
    fn sse_no_data_no_dispatch() {
        assert!(events(&[b"event: x\n\nid: 1\n\n"]).is_empty());
    }

    #[test]
    fn chunked() {
        let raw: &[u8] =
            b"5;ext=1\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        for k in 0..raw.len() {
            let mut b = Body::new(Framing::Chunked);
            let mut out = Vec::new();
            let mut sink = |s: &[u8]| {
                out.extend_from_slice(s);
                Ok(())
            };
            let e1 = b.feed(&raw[..k], &mut sink).unwrap();
            let e2 = b.feed(&raw[k..], &mut sink).unwrap();
            assert!(!e1 || k == raw.len());
            assert!(e2 || e1);
            assert_eq!(out, b"hello world0123456789");
        }
    }

    #[test]
    fn head() {
        let h = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nxx";
        let end = head_end(h).unwrap();
        assert_eq!(&h[end..], b"xx");
        assert!(matches!(parse_head(&h[..end]), Ok(Framing::Chunked)));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\n\r\n"),
            Ok(Framing::Close)
        ));
        assert_eq!(
            parse_head(b"HTTP/1.1 404 Not Found\r\n\r\n").err().unwrap(),
            "status 404"
        );
    }

    #[test]
    fn payload() {
        assert_eq!(
            parse_payload(b"{\"seq\":123,\"t\":1767225600123456}"),
            (Some(123), Some(1767225600123456.0))
        );
        assert_eq!(
            parse_payload(b" { \"x\" : {\"t\":[1,\"}\"]}, \"t\" : 1767225600123.5 , \"seq\": 9 }"),
            (Some(9), Some(1767225600123500.0))
        );
        assert_eq!(
            parse_payload(b"{\"seq\":1,\"t\":1767225600123}").1,
            Some(1767225600123000.0)
        );
        assert_eq!(parse_payload(b"hello"), (None, None));
        assert_eq!(parse_payload(b"{\"seq\":-1}"), (None, None));
    }
}
