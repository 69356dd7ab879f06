//! Response heads from JS values: every status and header is checked here, at the
//! boundary, so a CR/LF from user code can never reach the wire as a new line.

use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};

/// Why a head from JS was refused; becomes a JS `Error` with this message.
#[derive(Debug)]
pub struct HeadError(pub String);

pub fn status(code: u32) -> Result<StatusCode, HeadError> {
  u16::try_from(code)
    .ok()
    .and_then(|c| StatusCode::from_u16(c).ok())
    .ok_or_else(|| HeadError(format!("invalid status code {code}: expected an integer from 100 to 999")))
}

/// The name under which JS sends a custom reason phrase among the headers (no header
/// can have it: a colon is not a token character).
pub const REASON: &str = ":reason";

/// A checked head: the headers, and the status line's reason phrase if JS set one.
pub struct Head {
  pub headers: HeaderMap,
  pub reason: Option<ReasonPhrase>,
}

impl Head {
  /// Puts the head on `resp`.
  pub fn apply<B>(self, resp: &mut hyper::Response<B>) {
    *resp.headers_mut() = self.headers;
    if let Some(r) = self.reason {
      resp.extensions_mut().insert(r);
    }
  }
}

/// `flat` is `[name, value, name, value, ...]` in the order the handler set them.
pub fn headers(flat: &[String]) -> Result<Head, HeadError> {
  if flat.len() % 2 != 0 {
    return Err(HeadError("headers must come as name/value pairs".into()));
  }
  let mut map = HeaderMap::with_capacity(flat.len() / 2);
  let mut reason = None;
  for pair in flat.chunks_exact(2) {
    if pair[0] == REASON {
      reason = Some(
        ReasonPhrase::try_from(pair[1].as_bytes())
          .map_err(|_| HeadError(format!("invalid status message {:?}: CR, LF and other control characters are not allowed", pair[1])))?,
      );
      continue;
    }
    let name = HeaderName::from_bytes(pair[0].as_bytes())
      .map_err(|_| HeadError(format!("invalid header name {:?}", pair[0])))?;
    let value = HeaderValue::from_str(&pair[1])
      .map_err(|_| HeadError(format!("invalid value for header {:?}: CR, LF and other control characters are not allowed", pair[0])))?;
    map.append(name, value);
  }
  Ok(Head { headers: map, reason })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
  }

  #[test]
  fn rejects_crlf_in_values_and_names() {
    assert!(headers(&s(&["x", "a\r\nset-cookie: evil"])).is_err());
    assert!(headers(&s(&["x\ny", "a"])).is_err());
    assert!(headers(&s(&["", "a"])).is_err());
    assert!(headers(&s(&[REASON, "a\r\nx: y"])).is_err());
  }

  #[test]
  fn keeps_repeated_names_in_order() {
    let m = headers(&s(&["set-cookie", "a=1", "Set-Cookie", "b=2", REASON, "Fine"])).unwrap();
    assert_eq!(m.reason.as_ref().map(|r| r.as_bytes()), Some(&b"Fine"[..]));
    let m = m.headers;
    let v: Vec<_> = m.get_all("set-cookie").iter().collect();
    assert_eq!(v, ["a=1", "b=2"]);
  }

  #[test]
  fn status_bounds() {
    assert!(status(99).is_err());
    assert!(status(1000).is_err());
    assert_eq!(status(204).unwrap(), StatusCode::NO_CONTENT);
  }
}
