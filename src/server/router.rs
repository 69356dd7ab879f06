//! Route table, matched in Rust before any JS runs. Patterns use HyperExpress's
//! syntax (`/users/:id`, `/files/*`) and are translated to matchit's.

use hyper::Method;

/// Route id reported for a request that matched nothing (JS runs its not-found path).
pub const UNMATCHED: u32 = u32::MAX;

const WILDCARD: &str = "__wildcard";

#[derive(Default)]
pub struct Router {
  by_method: Vec<(Method, Table)>,
  any: Table,
  /// Per route id: a request declaring a longer body gets 413 before JS sees it
  /// (HyperExpress's `max_body_length`); absent: no such check.
  body_limits: Vec<Option<u64>>,
}

/// One method's routes. `implicit` holds the bare prefixes added for wildcard routes
/// (`/files/` for `/files/*`): an explicit route for the same path replaces them.
#[derive(Default)]
struct Table {
  routes: matchit::Router<u32>,
  implicit: std::collections::HashSet<String>,
}

impl Table {
  fn insert(&mut self, path: &str, route: u32, implicit: bool) -> Result<(), matchit::InsertError> {
    match self.routes.insert(path, route) {
      Ok(()) => {
        if implicit {
          self.implicit.insert(path.to_owned());
        }
        Ok(())
      }
      // An explicit route takes over a wildcard's implicit bare prefix.
      Err(_) if !implicit && self.implicit.remove(path) => {
        self.routes.remove(path);
        self.routes.insert(path, route)
      }
      Err(e) => Err(e),
    }
  }
}

pub struct Matched {
  pub route: u32,
  pub params: Vec<String>,
  pub body_limit: Option<u64>,
}

impl Router {
  /// Adds a route; returns its parameter names in the order values will be reported
  /// (`*` for a wildcard). `method` "ANY" matches every method.
  pub fn add(&mut self, method: &str, pattern: &str, route: u32) -> Result<Vec<String>, String> {
    let (paths, names) = translate(pattern)?;
    let table = if method.eq_ignore_ascii_case("ANY") || method.eq_ignore_ascii_case("ALL") {
      &mut self.any
    } else {
      let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| format!("invalid method {method:?}"))?;
      match self.by_method.iter().position(|(x, _)| *x == m) {
        Some(i) => &mut self.by_method[i].1,
        None => {
          self.by_method.push((m, Table::default()));
          &mut self.by_method.last_mut().expect("just pushed").1
        }
      }
    };
    for (i, path) in paths.iter().enumerate() {
      match table.insert(path, route, i > 0) {
        Ok(()) => {}
        // The extra bare-prefix form of a wildcard route may already be taken: fine.
        Err(_) if i > 0 => {}
        Err(e) => return Err(format!("route {method} {pattern} conflicts with an existing route: {e}")),
      }
    }
    Ok(names)
  }

  /// Requests for `route` declaring a body longer than `limit` bytes get 413.
  pub fn set_body_limit(&mut self, route: u32, limit: Option<u64>) {
    let i = route as usize;
    if self.body_limits.len() <= i {
      self.body_limits.resize(i + 1, None);
    }
    self.body_limits[i] = limit;
  }

  pub fn find(&self, method: &Method, path: &str) -> Option<Matched> {
    let found = |table: &Table| {
      table.routes.at(path).ok().map(|m| Matched {
        route: *m.value,
        params: m.params.iter().map(|(_, v)| v.to_owned()).collect(),
        body_limit: self.body_limits.get(*m.value as usize).copied().flatten(),
      })
    };
    let exact = |m: &Method| self.by_method.iter().find(|(x, _)| x == m).and_then(|(_, t)| found(t));
    exact(method)
      .or_else(|| if method == Method::HEAD { exact(&Method::GET) } else { None })
      .or_else(|| found(&self.any))
  }
}

/// HyperExpress pattern -> matchit paths (a trailing `*` also matches its bare prefix)
/// and the parameter names in order.
fn translate(pattern: &str) -> Result<(Vec<String>, Vec<String>), String> {
  if !pattern.starts_with('/') {
    return Err(format!("route pattern {pattern:?} must start with '/'"));
  }
  let mut out = String::with_capacity(pattern.len() + 8);
  let mut names = Vec::new();
  let segments: Vec<&str> = pattern[1..].split('/').collect();
  let mut bare_prefix = None;
  for (i, seg) in segments.iter().enumerate() {
    out.push('/');
    if let Some(name) = seg.strip_prefix(':') {
      if name.is_empty() {
        return Err(format!("route pattern {pattern:?} has a parameter with no name"));
      }
      if names.iter().any(|n| n == name) {
        return Err(format!("route pattern {pattern:?} repeats parameter {name:?}"));
      }
      out.push('{');
      out.push_str(&escape(name));
      out.push('}');
      names.push(name.to_owned());
    } else if *seg == "*" {
      if i + 1 != segments.len() {
        return Err(format!("route pattern {pattern:?}: '*' is only allowed as the last segment"));
      }
      bare_prefix = Some(out.clone());
      out.push_str("{*");
      out.push_str(WILDCARD);
      out.push('}');
      names.push("*".to_owned());
    } else {
      out.push_str(&escape(seg));
    }
  }
  let mut paths = vec![out];
  paths.extend(bare_prefix);
  Ok((paths, names))
}

fn escape(s: &str) -> String {
  s.replace('{', "{{").replace('}', "}}")
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn params_of_any_name_length() {
    let mut r = Router::default();
    assert_eq!(r.add("GET", "/a/:b/:longer_name", 1).unwrap(), ["b", "longer_name"]);
    let m = r.find(&Method::GET, "/a/x/yy").unwrap();
    assert_eq!((m.route, m.params), (1, vec!["x".to_string(), "yy".to_string()]));
  }

  #[test]
  fn wildcard_and_method_fallbacks() {
    let mut r = Router::default();
    r.add("GET", "/files/*", 1).unwrap();
    r.add("any", "/any", 2).unwrap();
    assert_eq!(r.find(&Method::GET, "/files/a/b").unwrap().params, ["a/b"]);
    assert_eq!(r.find(&Method::GET, "/files/").unwrap().route, 1);
    assert_eq!(r.find(&Method::HEAD, "/files/x").unwrap().route, 1);
    assert_eq!(r.find(&Method::DELETE, "/any").unwrap().route, 2);
    assert!(r.find(&Method::POST, "/files/x").is_none());
  }

  #[test]
  fn static_beats_param() {
    let mut r = Router::default();
    r.add("GET", "/u/:id", 1).unwrap();
    r.add("GET", "/u/me", 2).unwrap();
    assert_eq!(r.find(&Method::GET, "/u/me").unwrap().route, 2);
    assert_eq!(r.find(&Method::GET, "/u/7").unwrap().route, 1);
  }

  #[test]
  fn explicit_route_takes_over_a_wildcards_bare_prefix() {
    let mut r = Router::default();
    r.add("GET", "/x/*", 1).unwrap();
    r.add("GET", "/x/", 2).unwrap();
    assert_eq!(r.find(&Method::GET, "/x/").unwrap().route, 2);
    assert_eq!(r.find(&Method::GET, "/x/y").unwrap().route, 1);
    assert!(r.add("GET", "/x/", 3).is_err(), "a second explicit route still conflicts");
  }

  #[test]
  fn bad_patterns_are_errors() {
    let mut r = Router::default();
    assert!(r.add("GET", "nope", 1).is_err());
    assert!(r.add("GET", "/a/*/b", 1).is_err());
    assert!(r.add("GET", "/a/:", 1).is_err());
    r.add("GET", "/x/:a", 1).unwrap();
    assert!(r.add("GET", "/x/:b", 2).is_err());
  }
}
