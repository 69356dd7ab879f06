//! Command-line parsing (plain std::env, no clap) and loopback-only URL validation.

use std::net::{Ipv4Addr, SocketAddrV4};

pub const HELP: &str = "\
sse-load: open many Server-Sent Events connections to a loopback server and measure delivery.

USAGE:
  sse-load --url http://127.0.0.1:PORT/path [options]

OPTIONS:
  --url URL               http[s]://HOST[:PORT]/path; HOST must be 127.x.x.x or localhost (required);
                          https: TLS (any certificate accepted: loopback benches only), HTTP/1.1
  --h2 N                  https only: HTTP/2, N streams per connection (--clients counts streams)
  --clients N             connections to open (default 1000)
  --duration SECS         measured window, after warmup (default 10, max 120)
  --warmup SECS           time between 'all connected' and the window (default 2, max 60)
  --sources K             spread source addresses over 127.0.0.1..127.0.0.K (default 1, max 254),
                          binding each socket before connect to get past the ephemeral-port range
  --pid PID               server process: sample utime+stime (/proc/PID/stat) and VmRSS
                          (/proc/PID/status) at the start and end of the window
  --also-pid PID          another server process (repeatable): its CPU counts with --pid's
  --connect-only          open all connections, report the time to establish them and the
                          server RSS, hold them for --duration (no warmup), then exit
  --json                  also print one JSON object as the final line of stdout
  --threads N             tokio worker threads (default 2)
  --connect-concurrency N connection attempts in flight at once (default 128)
  --connect-timeout SECS  deadline for the whole connect phase (default 30, max 60)
  -h, --help              this text

PAYLOAD CONVENTION (what the server must send):
  Each event's data is a JSON object {\"seq\":<u64>,\"t\":<send time>}, e.g.
      data: {\"seq\":123,\"t\":1767225600123456}
  seq  increases by 1 per event the server sends to that connection (a broadcast tick
       may give every connection the same seq); gaps = missing, seq <= previous = duplicate.
  t    send time on the CLOCK_REALTIME wall clock, since the Unix epoch, as integer
       MICROSECONDS (preferred). A value below 1e14 is taken as MILLISECONDS (integer like
       Date.now(), or a float with a fraction), so both conventions work.
  Other keys are ignored; `id:` and `event:` fields are parsed but not required.
  Latency = (time the read returned, CLOCK_REALTIME us) - t. Client and server must run
  on the same machine (the target is loopback-only anyway).

MEASUREMENT:
  Timeline: connect phase (bounded by --connect-timeout), --warmup, then the measured
  window of --duration seconds. Events count toward the window if the read that delivered
  them returned inside it. Missing/duplicates are counted for events inside the window,
  against the previous seq of the same connection (which may come from the warmup), so
  each connection's first event never counts as a gap. The tool exits on its own after
  connect + warmup + duration; per-connection errors are counted, never fatal.
";

#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddrV4,
    pub host_header: String,
    pub path: String,
    pub url: String,
    pub tls: bool,
}

#[derive(Clone, Debug)]
pub struct Args {
    pub target: Target,
    pub clients: usize,
    pub duration: f64,
    pub warmup: f64,
    pub sources: u8,
    pub pid: Option<u32>,
    /// More server processes whose CPU counts with `pid`'s (several workers).
    pub also_pids: Vec<u32>,
    pub connect_only: bool,
    pub json: bool,
    pub threads: usize,
    pub connect_concurrency: usize,
    pub connect_timeout: f64,
    /// Streams per h2 connection (0: HTTP/1.1, one connection per client).
    pub h2: usize,
}

pub enum Parsed {
    Run(Args),
    Help,
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse::<T>()
        .map_err(|_| format!("invalid value for --{name}: {v:?}"))
}

fn secs(name: &str, v: &str, max: f64) -> Result<f64, String> {
    let x: f64 = num(name, v)?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!("--{name} must be a non-negative number of seconds"));
    }
    if x > max {
        return Err(format!("--{name} {x} is above the hard cap of {max} s"));
    }
    Ok(x)
}

pub fn parse_url(url: &str) -> Result<Target, String> {
    let (rest, tls) = match url.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (
            url.strip_prefix("http://")
                .ok_or_else(|| format!("only http:// and https:// URLs are supported: {url:?}"))?,
            false,
        ),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("userinfo in the URL is not supported".into());
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority.starts_with('[') => {
            let p: u16 = authority[i + 1..]
                .parse()
                .map_err(|_| format!("bad port in {url:?}"))?;
            (&authority[..i], p)
        }
        _ => (authority, if tls { 443u16 } else { 80u16 }),
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        Ipv4Addr::LOCALHOST
    } else {
        let ip: Ipv4Addr = host.parse().map_err(|_| {
            format!("refusing host {host:?}: the target must be 127.x.x.x or localhost")
        })?;
        if ip.octets()[0] != 127 {
            return Err(format!(
                "refusing host {host}: the target must be on 127.0.0.0/8 (loopback)"
            ));
        }
        ip
    };
    if port == 0 {
        return Err("port 0 is not a valid target".into());
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the path must not contain spaces or control characters".into());
    }
    Ok(Target {
        addr: SocketAddrV4::new(ip, port),
        host_header: authority.to_string(),
        path: path.to_string(),
        url: url.to_string(),
        tls,
    })
}

pub fn parse(argv: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut url = None;
    let mut a = Args {
        target: Target {
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            host_header: String::new(),
            path: String::new(),
            url: String::new(),
            tls: false,
        },
        clients: 1000,
        duration: 10.0,
        warmup: 2.0,
        sources: 1,
        pid: None,
        also_pids: Vec::new(),
        connect_only: false,
        json: false,
        threads: 2,
        connect_concurrency: 128,
        connect_timeout: 30.0,
        h2: 0,
    };
    let mut it = argv.peekable();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--url" => url = Some(value("--url")?),
            "--clients" => a.clients = num("clients", &value("--clients")?)?,
            "--duration" => a.duration = secs("duration", &value("--duration")?, 120.0)?,
            "--warmup" => a.warmup = secs("warmup", &value("--warmup")?, 60.0)?,
            "--sources" => a.sources = num("sources", &value("--sources")?)?,
            "--pid" => a.pid = Some(num("pid", &value("--pid")?)?),
            "--also-pid" => a.also_pids.push(num("also-pid", &value("--also-pid")?)?),
            "--connect-only" => a.connect_only = true,
            "--json" => a.json = true,
            "--threads" => a.threads = num("threads", &value("--threads")?)?,
            "--connect-concurrency" => {
                a.connect_concurrency =
                    num("connect-concurrency", &value("--connect-concurrency")?)?
            }
            "--connect-timeout" => {
                a.connect_timeout = secs("connect-timeout", &value("--connect-timeout")?, 60.0)?
            }
            "--h2" => a.h2 = num("h2", &value("--h2")?)?,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    a.target = parse_url(&url.ok_or("--url is required (see --help)")?)?;
    if a.h2 > 0 && !a.target.tls {
        return Err("--h2 needs an https:// URL".into());
    }
    if a.clients == 0 || a.clients > 200_000 {
        return Err("--clients must be 1..=200000".into());
    }
    if a.sources == 0 || a.sources == 255 {
        return Err("--sources must be 1..=254".into());
    }
    if a.threads == 0 || a.threads > 64 {
        return Err("--threads must be 1..=64".into());
    }
    if a.connect_concurrency == 0 {
        return Err("--connect-concurrency must be at least 1".into());
    }
    if a.duration <= 0.0 {
        return Err("--duration must be above 0".into());
    }
    if a.connect_timeout <= 0.0 {
        return Err("--connect-timeout must be above 0".into());
    }
    if let Some(pid) = a.pid {
        if std::fs::metadata(format!("/proc/{pid}/stat")).is_err() {
            return Err(format!(
                "--pid {pid}: no such process (/proc/{pid}/stat unreadable)"
            ));
        }
    }
    Ok(Parsed::Run(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:8080/sse?x=1").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/sse?x=1");
        assert_eq!(t.host_header, "127.0.0.1:8080");
        let t = parse_url("http://localhost:9").unwrap();
        assert_eq!(t.path, "/");
        assert_eq!(*t.addr.ip(), Ipv4Addr::LOCALHOST);
        assert!(parse_url("http://127.3.4.5:1/").is_ok());
        assert!(parse_url("http://10.0.0.1:80/").is_err());
        assert!(parse_url("http://example.com/").is_err());
        assert!(parse_url("https://127.0.0.1/").unwrap().tls);
        assert!(parse_url("ftp://127.0.0.1/").is_err());
        assert!(parse_url("http://[::1]:80/").is_err());
        assert!(parse_url("http://0.0.0.0:80/").is_err());
    }
}
