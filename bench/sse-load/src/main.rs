//! sse-load: many loopback SSE connections; delivery rate, latency, gaps, server CPU/RSS.
//! See README.md and `sse-load --help`.

mod args;
mod proto;
mod secure;
mod stats;

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;

use args::{Args, Parsed};
use stats::Conn;

const READ_BUF: usize = 16 * 1024;
const MAX_HEAD: usize = 16 * 1024;

/// A connection's byte stream: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Shared {
    /// A connection (or h2 stream) that never got its stream open.
    fn fail(&self, st: &Mutex<Conn>, reason: String) {
        st.lock().unwrap().fail = Some(reason);
        self.failed.fetch_add(1, Relaxed);
    }

    /// Its stream is open, `t0` after the attempt began.
    fn opened(&self, st: &Mutex<Conn>, t0: Instant) {
        {
            let mut s = st.lock().unwrap();
            s.connected = true;
            s.connect_us = t0.elapsed().as_micros() as u64;
        }
        self.connected.fetch_add(1, Relaxed);
    }

    /// The measured window as it stands: (start, end) in wall-clock microseconds.
    fn window(&self) -> (u64, u64) {
        (self.win_start.load(Relaxed), self.win_end.load(Relaxed))
    }
}

/// The outcome of a connect-phase step bounded by the deadline, as a failure reason.
fn in_time<T>(step: Result<Result<T, String>, tokio::time::error::Elapsed>) -> Result<T, String> {
    step.unwrap_or_else(|_| Err("connect phase timeout".into()))
}

struct Shared {
    tls: Option<tokio_rustls::TlsConnector>,
    win_start: AtomicU64,
    win_end: AtomicU64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    sem: Semaphore,
    request: Vec<u8>,
}

fn main() {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{}", args::HELP);
            return;
        }
        Err(e) => {
            eprintln!("sse-load: {e}");
            std::process::exit(2);
        }
    };
    raise_nofile(args.clients as u64 + 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = rt.block_on(run(&args));
    rt.shutdown_timeout(Duration::from_secs(1));
    print!("{}", report.text);
    if args.json {
        println!("{}", report.json);
    }
}

fn raise_nofile(want: u64) {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            if r.rlim_cur < want {
                eprintln!(
                    "sse-load: warning: file descriptor limit {} is below the {} needed",
                    r.rlim_cur, want
                );
            }
        }
    }
}

fn io_reason(prefix: &str, e: &std::io::Error) -> String {
    format!("{prefix}: {:?}", e.kind())
}

/// Connect, send the request, read and check the head. Returns the stream and the bytes
/// read past the head.
async fn tcp_connect(i: usize, args: &Args) -> Result<TcpStream, String> {
    let sock = TcpSocket::new_v4().map_err(|e| io_reason("socket", &e))?;
    if args.sources > 1 {
        // Defer the port choice to connect(), so each source address gets its own
        // ephemeral-port space keyed on the full 4-tuple.
        unsafe {
            let one: libc::c_int = 1;
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let src =
            std::net::SocketAddr::from(([127, 0, 0, 1 + (i % args.sources as usize) as u8], 0));
        sock.bind(src).map_err(|e| io_reason("bind", &e))?;
    }
    let stream = sock
        .connect(args.target.addr.into())
        .await
        .map_err(|e| io_reason("connect", &e))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn establish(
    i: usize,
    args: &Args,
    shared: &Shared,
    buf: &mut [u8],
) -> Result<(Box<dyn Io>, proto::Framing, usize, usize), String> {
    let tcp = tcp_connect(i, args).await?;
    let mut stream: Box<dyn Io> = match &shared.tls {
        None => Box::new(tcp),
        Some(c) => Box::new(secure::handshake(c, tcp).await?),
    };
    stream
        .write_all(&shared.request)
        .await
        .map_err(|e| io_reason("write", &e))?;
    let mut filled = 0;
    let cap = MAX_HEAD.min(buf.len());
    loop {
        if filled == cap {
            return Err("head too large".into());
        }
        let n = stream
            .read(&mut buf[filled..cap])
            .await
            .map_err(|e| io_reason("read head", &e))?;
        if n == 0 {
            return Err("eof before head".into());
        }
        filled += n;
        if let Some(end) = proto::head_end(&buf[..filled]) {
            let framing = proto::parse_head(&buf[..end])?;
            return Ok((stream, framing, end, filled));
        }
    }
}

async fn conn_task(
    i: usize,
    args: Arc<Args>,
    shared: Arc<Shared>,
    st: Arc<Mutex<Conn>>,
    deadline: tokio::time::Instant,
) {
    let mut buf = vec![0u8; READ_BUF];
    let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, shared.sem.acquire()).await else {
        return shared.fail(&st, "connect phase timeout".into());
    };
    let t0 = Instant::now();
    let est = in_time(tokio::time::timeout_at(deadline, establish(i, &args, &shared, &mut buf)).await);
    drop(permit);
    let (mut stream, framing, mut start, mut filled) = match est {
        Ok(x) => x,
        Err(reason) => return shared.fail(&st, reason),
    };
    shared.opened(&st, t0);

    let mut body = proto::Body::new(framing);
    let mut sse = proto::Sse::new();
    loop {
        if start < filled {
            let now = stats::now_us();
            let (ws, we) = shared.window();
            let mut s = st.lock().unwrap();
            let s = &mut *s;
            let r = stats::ThreadHist::with(|hist| {
                body.feed(&buf[start..filled], &mut |payload| {
                    sse.feed(payload, &mut |data, _event| {
                        s.on_event(data, now, ws, we, hist)
                    })
                })
            });
            match r {
                Ok(false) => {}
                Ok(true) => {
                    s.ended = Some("server ended the body".into());
                    return;
                }
                Err(e) => {
                    s.ended = Some(format!("protocol: {e}"));
                    return;
                }
            }
        }
        start = 0;
        filled = match stream.read(&mut buf).await {
            Ok(0) => {
                st.lock().unwrap().ended = Some("eof".into());
                return;
            }
            Ok(n) => n,
            Err(e) => {
                st.lock().unwrap().ended = Some(io_reason("read", &e));
                return;
            }
        };
    }
}

/// One h2 connection carrying one stream per entry of `streams`.
async fn h2_conn_task(
    k: usize,
    args: Arc<Args>,
    shared: Arc<Shared>,
    streams: Vec<Arc<Mutex<Conn>>>,
    deadline: tokio::time::Instant,
) {
    let fail_all = |reason: String| {
        for st in &streams {
            shared.fail(st, reason.clone());
        }
    };
    let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, shared.sem.acquire()).await else {
        return fail_all("connect phase timeout".into());
    };
    let t0 = Instant::now();
    let setup = async {
        let tcp = tcp_connect(k, &args).await?;
        let tls = secure::handshake(shared.tls.as_ref().expect("https"), tcp).await?;
        h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .max_concurrent_reset_streams(0)
            .handshake::<_, bytes::Bytes>(tls)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))
    };
    let (send, connection) = match in_time(tokio::time::timeout_at(deadline, setup).await) {
        Ok(x) => x,
        Err(reason) => return fail_all(reason),
    };
    drop(permit);
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut tasks = Vec::with_capacity(streams.len());
    for st in streams {
        let shared = shared.clone();
        let args = args.clone();
        let mut send = send.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::get(format!("https://{}{}", args.target.host_header, args.target.path))
                .header("accept", "text/event-stream")
                .body(())
                .expect("request");
            let opened = async {
                send = send.ready().await.map_err(|e| format!("h2 ready: {e}"))?;
                let (resp, _) = send.send_request(req, true).map_err(|e| format!("h2 send: {e}"))?;
                let resp = resp.await.map_err(|e| format!("h2 response: {e}"))?;
                if resp.status() != 200 {
                    return Err(format!("status {}", resp.status()));
                }
                Ok(resp.into_body())
            };
            let mut body = match in_time(tokio::time::timeout_at(deadline, opened).await) {
                Ok(b) => b,
                Err(reason) => return shared.fail(&st, reason),
            };
            shared.opened(&st, t0);
            let mut sse = proto::Sse::new();
            loop {
                let chunk = match body.data().await {
                    None => {
                        st.lock().unwrap().ended = Some("server ended the body".into());
                        return;
                    }
                    Some(Err(e)) => {
                        st.lock().unwrap().ended = Some(format!("h2: {e}"));
                        return;
                    }
                    Some(Ok(c)) => c,
                };
                let _ = body.flow_control().release_capacity(chunk.len());
                let now = stats::now_us();
                let (ws, we) = shared.window();
                let mut s = st.lock().unwrap();
                let s = &mut *s;
                let r = stats::ThreadHist::with(|hist| sse.feed(&chunk, &mut |data, _event| s.on_event(data, now, ws, we, hist)));
                if let Err(e) = r {
                    s.ended = Some(format!("protocol: {e}"));
                    return;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    driver.abort();
}

struct Report {
    text: String,
    json: String,
}

struct ProcSample {
    cpu_ticks: Option<u64>,
    rss: Option<u64>,
    self_ticks: Option<u64>,
    at: Instant,
}

fn sample(pid: Option<u32>, also: &[u32]) -> ProcSample {
    let pid = pid.map(|p| p.to_string());
    let others: Option<u64> = also.iter().map(|p| stats::cpu_ticks(&p.to_string())).sum();
    ProcSample {
        cpu_ticks: pid.as_deref().and_then(stats::cpu_ticks).zip(others).map(|(a, b)| a + b),
        rss: pid.as_deref().and_then(stats::rss_kib),
        self_ticks: stats::cpu_ticks("self"),
        at: Instant::now(),
    }
}

async fn run(args: &Args) -> Report {
    let args = Arc::new(args.clone());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: sse-load\r\n\r\n",
        args.target.path, args.target.host_header
    )
    .into_bytes();
    let shared = Arc::new(Shared {
        tls: args.target.tls.then(|| secure::connector(if args.h2 > 0 { b"h2" } else { b"http/1.1" })),
        win_start: AtomicU64::new(u64::MAX),
        win_end: AtomicU64::new(u64::MAX),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        sem: Semaphore::new(args.connect_concurrency),
        request,
    });
    let rss_before = args.pid.and_then(|p| stats::rss_kib(&p.to_string()));
    eprintln!(
        "sse-load: {} clients -> {} ({} source address{})",
        args.clients,
        args.target.url,
        args.sources,
        if args.sources > 1 { "es" } else { "" }
    );

    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.connect_timeout);
    let conns: Vec<Arc<Mutex<Conn>>> = (0..args.clients)
        .map(|_| Arc::new(Mutex::new(Conn::new())))
        .collect();
    let mut handles = Vec::with_capacity(args.clients);
    if args.h2 > 0 {
        for (k, group) in conns.chunks(args.h2).enumerate() {
            handles.push(tokio::spawn(h2_conn_task(k, args.clone(), shared.clone(), group.to_vec(), deadline)));
        }
    } else {
        for (i, c) in conns.iter().enumerate() {
            handles.push(tokio::spawn(conn_task(
                i,
                args.clone(),
                shared.clone(),
                c.clone(),
                deadline,
            )));
        }
    }
    let mut connect_elapsed;
    loop {
        connect_elapsed = t0.elapsed();
        let done = shared.connected.load(Relaxed) + shared.failed.load(Relaxed);
        if done >= args.clients
            || tokio::time::Instant::now() >= deadline + Duration::from_millis(500)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let connected_now = shared.connected.load(Relaxed);
    let rss_connected = args.pid.and_then(|p| stats::rss_kib(&p.to_string()));
    eprintln!(
        "sse-load: {} connected, {} failed in {:.1} ms",
        connected_now,
        shared.failed.load(Relaxed),
        connect_elapsed.as_secs_f64() * 1e3
    );

    let warmup = if args.connect_only { 0.0 } else { args.warmup };
    if connected_now == 0 {
        eprintln!("sse-load: no connection was established; skipping the window");
    } else {
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    }
    let s0 = sample(args.pid, &args.also_pids);
    let ws = stats::now_us();
    let dur_us = (args.duration * 1e6) as u64;
    shared.win_end.store(ws + dur_us, Relaxed);
    shared.win_start.store(ws, Relaxed);
    if !args.connect_only {
        eprintln!("sse-load: measuring for {} s", args.duration);
    }
    if connected_now > 0 {
        tokio::time::sleep_until(
            tokio::time::Instant::from_std(s0.at) + Duration::from_micros(dur_us),
        )
        .await;
        // Make sure the wall clock has passed the window end too.
        while stats::now_us() < ws + dur_us {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let s1 = sample(args.pid, &args.also_pids);
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }
    build_report(
        &args,
        &conns,
        connect_elapsed,
        rss_before,
        rss_connected,
        &s0,
        &s1,
    )
}

fn jstr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn jnum(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "null".into(),
    }
}

fn jmap(m: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{}:{v}", jstr(k))).collect();
    format!("{{{}}}", parts.join(","))
}

fn fmt_opt(x: Option<f64>, digits: usize, unit: &str) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}{unit}"),
        _ => "n/a".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &Args,
    conns: &[Arc<Mutex<Conn>>],
    connect_elapsed: Duration,
    rss_before: Option<u64>,
    rss_connected: Option<u64>,
    s0: &ProcSample,
    s1: &ProcSample,
) -> Report {
    let window_s = (s1.at - s0.at).as_secs_f64().max(1e-9);
    let (hist, lat_sum, lat_max) = stats::ThreadHist::merged();
    let (mut connected, mut events, mut missing, mut dups, mut unparsed, mut negative) =
        (0usize, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut fails: BTreeMap<String, usize> = BTreeMap::new();
    let mut ended: BTreeMap<String, usize> = BTreeMap::new();
    let mut rates = Vec::with_capacity(conns.len());
    let mut connect_times = Vec::with_capacity(conns.len());
    for c in conns {
        let c = c.lock().unwrap();
        if let Some(f) = &c.fail {
            *fails.entry(f.clone()).or_default() += 1;
        }
        if !c.connected {
            if c.fail.is_none() {
                *fails.entry("not connected by the end".into()).or_default() += 1;
            }
            continue;
        }
        connected += 1;
        connect_times.push(c.connect_us);
        if let Some(e) = &c.ended {
            *ended.entry(e.clone()).or_default() += 1;
        }
        events += c.events_window;
        missing += c.missing;
        dups += c.dups;
        unparsed += c.unparsed;
        negative += c.negative;
        rates.push(c.events_window as f64 / args.duration);
    }
    let failed = args.clients - connected;
    let disconnects: usize = ended.values().sum();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    connect_times.sort_unstable();
    let lat_n: u64 = hist.iter().sum();
    let pct = |p: f64| stats::percentile(&hist, lat_n, p, lat_max) / 1000.0;
    let (p50, p90, p99, p999) = (pct(0.50), pct(0.90), pct(0.99), pct(0.999));
    let lat_max_ms = if lat_n > 0 {
        lat_max as f64 / 1000.0
    } else {
        f64::NAN
    };
    let lat_mean_ms = if lat_n > 0 {
        lat_sum as f64 / lat_n as f64 / 1000.0
    } else {
        f64::NAN
    };
    let rate_at = |q: f64| -> Option<f64> {
        if rates.is_empty() {
            None
        } else {
            Some(rates[((rates.len() - 1) as f64 * q).round() as usize])
        }
    };
    let ct_at = |q: f64| -> Option<f64> {
        if connect_times.is_empty() {
            None
        } else {
            Some(
                connect_times[((connect_times.len() - 1) as f64 * q).round() as usize] as f64
                    / 1000.0,
            )
        }
    };
    let eps = events as f64 / args.duration;
    let hz = stats::clk_tck();
    let cpu_s = match (s0.cpu_ticks, s1.cpu_ticks) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / hz),
        _ => None,
    };
    let cpu_pct = cpu_s.map(|c| c / window_s * 100.0);
    let cpu_us_per_event = cpu_s.and_then(|c| {
        if events > 0 {
            Some(c * 1e6 / events as f64)
        } else {
            None
        }
    });
    let self_cpu_pct = match (s0.self_ticks, s1.self_ticks) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / hz / window_s * 100.0),
        _ => None,
    };
    let connect_ms = connect_elapsed.as_secs_f64() * 1e3;
    let rss_per_conn = match (rss_before, rss_connected) {
        (Some(a), Some(b)) if connected > 0 => Some((b as f64 - a as f64) / connected as f64),
        _ => None,
    };
    let opt = |x: Option<u64>| x.map(|v| v as f64);

    let mut t = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        t,
        "target      {}  clients {}  sources {}  {}",
        args.target.url,
        args.clients,
        args.sources,
        if args.connect_only {
            format!("connect-only, held {} s", args.duration)
        } else {
            format!("warmup {} s, window {} s", args.warmup, args.duration)
        }
    );
    let _ = writeln!(
        t,
        "connect     {} connected, {} failed, all done in {:.1} ms (per connection p50 {} max {})",
        connected,
        failed,
        connect_ms,
        fmt_opt(ct_at(0.5), 2, " ms"),
        fmt_opt(ct_at(1.0), 2, " ms")
    );
    if !fails.is_empty() {
        let _ = writeln!(
            t,
            "  failures  {}",
            fails
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let quiet = args.connect_only && events == 0;
    if !quiet {
        let _ = writeln!(
        t,
        "events      {} in the window = {:.0} events/s; per client min/median/max {}/{}/{} events/s",
        events,
        eps,
        fmt_opt(rate_at(0.0), 1, ""),
        fmt_opt(rate_at(0.5), 1, ""),
        fmt_opt(rate_at(1.0), 1, "")
    );
        let _ = writeln!(
            t,
            "latency     p50 {} p90 {} p99 {} p99.9 {} max {} (mean {})",
            fmt_opt(Some(p50), 3, " ms"),
            fmt_opt(Some(p90), 3, " ms"),
            fmt_opt(Some(p99), 3, " ms"),
            fmt_opt(Some(p999), 3, " ms"),
            fmt_opt(Some(lat_max_ms), 3, " ms"),
            fmt_opt(Some(lat_mean_ms), 3, " ms")
        );
    }
    let _ = writeln!(
        t,
        "integrity   missing {} duplicates {} unparsed {} negative-latency {} disconnects {}",
        missing, dups, unparsed, negative, disconnects
    );
    if !ended.is_empty() {
        let _ = writeln!(
            t,
            "  ended     {}",
            ended
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(pid) = args.pid {
        let _ = writeln!(
            t,
            "server      pid {}{} CPU {} = {} over {:.2} s, {} per event; RSS KiB before connect {} / window start {} / end {}{}",
            pid,
            if args.also_pids.is_empty() { String::new() } else { format!(" (+ {:?})", args.also_pids) },
            fmt_opt(cpu_s, 2, " s"),
            fmt_opt(cpu_pct, 1, " %"),
            window_s,
            fmt_opt(cpu_us_per_event, 2, " us"),
            fmt_opt(opt(rss_before), 0, ""),
            fmt_opt(opt(s0.rss), 0, ""),
            fmt_opt(opt(s1.rss), 0, ""),
            match rss_per_conn {
                Some(v) => format!(" ({v:.1} KiB per connection)"),
                None => String::new(),
            }
        );
    }
    let _ = writeln!(
        t,
        "client      CPU {} (sse-load itself, same window)",
        fmt_opt(self_cpu_pct, 1, " %")
    );

    let json = format!(
        concat!(
            "{{\"url\":{},\"mode\":{},\"clients\":{},\"sources\":{},\"warmup_s\":{},\"duration_s\":{},",
            "\"connected\":{},\"connect_failures\":{},\"connect_failure_reasons\":{},\"connect_ms\":{:.1},",
            "\"connect_ms_per_conn\":{{\"p50\":{},\"max\":{}}},",
            "\"events\":{},\"events_per_s\":{:.1},\"client_rate\":{{\"min\":{},\"median\":{},\"max\":{}}},",
            "\"latency_ms\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{}}},",
            "\"missing\":{},\"duplicates\":{},\"unparsed\":{},\"negative_latency\":{},\"disconnects\":{},\"disconnect_reasons\":{},",
            "\"server\":{{\"pid\":{},\"cpu_s\":{},\"cpu_pct\":{},\"cpu_us_per_event\":{},\"rss_kib_before_connect\":{},\"rss_kib_connected\":{},\"rss_kib_start\":{},\"rss_kib_end\":{},\"rss_kib_per_conn\":{}}},",
            "\"client_cpu_pct\":{}}}"
        ),
        jstr(&args.target.url),
        jstr(if args.connect_only { "connect-only" } else { "stream" }),
        args.clients,
        args.sources,
        if args.connect_only { 0.0 } else { args.warmup },
        args.duration,
        connected,
        failed,
        jmap(&fails),
        connect_ms,
        jnum(ct_at(0.5), 3),
        jnum(ct_at(1.0), 3),
        events,
        eps,
        jnum(rate_at(0.0), 2),
        jnum(rate_at(0.5), 2),
        jnum(rate_at(1.0), 2),
        jnum(Some(p50), 3),
        jnum(Some(p90), 3),
        jnum(Some(p99), 3),
        jnum(Some(p999), 3),
        jnum(Some(lat_max_ms), 3),
        jnum(Some(lat_mean_ms), 3),
        missing,
        dups,
        unparsed,
        negative,
        disconnects,
        jmap(&ended),
        args.pid.map_or("null".into(), |p| p.to_string()),
        jnum(cpu_s, 3),
        jnum(cpu_pct, 1),
        jnum(cpu_us_per_event, 3),
        jnum(opt(rss_before), 0),
        jnum(opt(rss_connected), 0),
        jnum(opt(s0.rss), 0),
        jnum(opt(s1.rss), 0),
        jnum(rss_per_conn, 2),
        jnum(self_cpu_pct, 1),
    );
    Report { text: t, json }
}
