//! Response heads from JS values: every status and header is checked here, at the
//! boundary, so a CR/LF from user code can never reach the wire as a new line.

use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
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

/// `flat` is `[name, value, name, value, ...]` in the order the handler set them.
/// `drop_length` removes a caller's `content-length` where the body's own size rules.
pub fn headers(flat: &[String], drop_length: bool) -> Result<HeaderMap, HeadError> {
  if flat.len() % 2 != 0 {
    return Err(HeadError("headers must come as name/value pairs".into()));
  }
  let mut map = HeaderMap::with_capacity(flat.len() / 2);
  for pair in flat.chunks_exact(2) {
    let name = HeaderName::from_bytes(pair[0].as_bytes())
      .map_err(|_| HeadError(format!("invalid header name {:?}", pair[0])))?;
    let value = HeaderValue::from_str(&pair[1])
      .map_err(|_| HeadError(format!("invalid value for header {:?}: CR, LF and other control characters are not allowed", pair[0])))?;
    if drop_length && name == CONTENT_LENGTH {
      continue;
    }
    map.append(name, value);
  }
  Ok(map)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
  }

  #[test]
  fn rejects_crlf_in_values_and_names() {
    assert!(headers(&s(&["x", "a\r\nset-cookie: evil"]), false).is_err());
    assert!(headers(&s(&["x\ny", "a"]), false).is_err());
    assert!(headers(&s(&["", "a"]), false).is_err());
  }

  #[test]
  fn keeps_repeated_names_in_order() {
    let m = headers(&s(&["set-cookie", "a=1", "Set-Cookie", "b=2"]), false).unwrap();
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
