//! Per-connection counters, a log-linear latency histogram (~1.6 % bucket width), and
//! /proc sampling for the server process.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed},
};
use std::sync::{Arc, Mutex};

pub const SUB_BITS: u32 = 6; // 64 sub-buckets per power of two
const LINEAR: u64 = 1 << (SUB_BITS + 1); // exact below 128 us
const MAX_EXP: u32 = 36; // up to 2^37 us (~38 h)
pub const BUCKETS: usize = LINEAR as usize + ((MAX_EXP - SUB_BITS) as usize) * (1 << SUB_BITS);

#[inline]
pub fn bucket(v: u64) -> usize {
    let v = v.min((1u64 << (MAX_EXP + 1)) - 1);
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= 7
    let shift = e - SUB_BITS;
    let sub = (v >> shift) as usize - (1 << SUB_BITS);
    LINEAR as usize + (e - SUB_BITS - 1) as usize * (1 << SUB_BITS) + sub
}

/// Midpoint of a bucket, in microseconds.
pub fn bucket_value(i: usize) -> f64 {
    if (i as u64) < LINEAR {
        return i as f64;
    }
    let k = i - LINEAR as usize;
    let e = (k >> SUB_BITS) as u32 + SUB_BITS + 1;
    let sub = (k & ((1 << SUB_BITS) - 1)) as u64;
    let shift = e - SUB_BITS;
    let lower = ((1u64 << SUB_BITS) + sub) << shift;
    lower as f64 + (1u64 << shift) as f64 / 2.0
}

pub struct Conn {
    pub connected: bool,
    pub connect_us: u64,
    pub fail: Option<String>,
    pub ended: Option<String>,
    pub events_total: u64,
    pub events_window: u64,
    pub last_seq: Option<u64>,
    pub missing: u64,
    pub dups: u64,
    pub unparsed: u64,
    pub negative: u64,
}

/// Latency histogram shared by the connections served on one worker thread: a single
/// writer (that thread), read after all tasks have stopped. Keeping it per thread rather
/// than per connection keeps it in cache (a per-connection one missed on every event).
pub struct ThreadHist {
    pub buckets: Box<[AtomicU64]>,
    pub sum_us: AtomicU64,
    pub max_us: AtomicU64,
}

static HISTS: Mutex<Vec<Arc<ThreadHist>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: Arc<ThreadHist> = {
        let h = Arc::new(ThreadHist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        });
        HISTS.lock().unwrap().push(h.clone());
        h
    };
}

impl ThreadHist {
    /// The calling thread's histogram.
    #[cfg(test)]
    pub fn local() -> Arc<ThreadHist> {
        LOCAL.with(|h| h.clone())
    }

    /// Runs `f` with the calling thread's histogram (no refcount traffic).
    #[inline]
    pub fn with<R>(f: impl FnOnce(&ThreadHist) -> R) -> R {
        LOCAL.with(|h| f(h))
    }

    #[inline]
    fn record(&self, v: u64) {
        // Single writer: plain load + store, no locked read-modify-write.
        let b = &self.buckets[bucket(v)];
        b.store(b.load(Relaxed) + 1, Relaxed);
        self.sum_us.store(self.sum_us.load(Relaxed) + v, Relaxed);
        if v > self.max_us.load(Relaxed) {
            self.max_us.store(v, Relaxed);
        }
    }

    /// Sum of every thread's histogram: (buckets, sum, max).
    pub fn merged() -> (Vec<u64>, u64, u64) {
        let mut out = vec![0u64; BUCKETS];
        let (mut sum, mut max) = (0, 0);
        for h in HISTS.lock().unwrap().iter() {
            for (o, b) in out.iter_mut().zip(h.buckets.iter()) {
                *o += b.load(Acquire);
            }
            sum += h.sum_us.load(Acquire);
            max = max.max(h.max_us.load(Acquire));
        }
        (out, sum, max)
    }
}

impl Conn {
    pub fn new() -> Self {
        Conn {
            connected: false,
            connect_us: 0,
            fail: None,
            ended: None,
            events_total: 0,
            events_window: 0,
            last_seq: None,
            missing: 0,
            dups: 0,
            unparsed: 0,
            negative: 0,
        }
    }

    /// One dispatched event whose read returned at `now_us`; window = [ws, we).
    #[inline]
    pub fn on_event(&mut self, data: &[u8], now_us: u64, ws: u64, we: u64, hist: &ThreadHist) {
        self.events_total += 1;
        if now_us >= we {
            return;
        }
        let (seq, t) = crate::proto::parse_payload(data);
        if now_us < ws {
            if let Some(s) = seq {
                if self.last_seq.map_or(true, |l| s > l) {
                    self.last_seq = Some(s);
                }
            }
            return;
        }
        self.events_window += 1;
        match seq {
            Some(s) => {
                if let Some(l) = self.last_seq {
                    if s > l + 1 {
                        self.missing += s - l - 1;
                    } else if s <= l {
                        self.dups += 1;
                    }
                }
                if self.last_seq.map_or(true, |l| s > l) {
                    self.last_seq = Some(s);
                }
            }
            None => self.unparsed += 1,
        }
        match t {
            Some(t) => {
                let now = now_us as f64;
                let lat = if now >= t {
                    (now - t) as u64
                } else {
                    self.negative += 1;
                    0
                };
                hist.record(lat);
            }
            None => {
                if seq.is_some() {
                    self.unparsed += 1;
                }
            }
        }
    }
}

pub fn percentile(hist: &[u64], total: u64, p: f64, max: u64) -> f64 {
    if total == 0 {
        return f64::NAN;
    }
    let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
    let mut acc = 0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= rank {
            return bucket_value(i).min(max as f64);
        }
    }
    max as f64
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks (all threads, /proc/PID/stat fields 14 and 15).
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn clk_tck() -> f64 {
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn buckets_monotonic_and_tight() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            12345,
            1_000_000,
            60_000_000,
            1 << 37,
            u64::MAX,
        ] {
            let b = bucket(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            last = b;
            let mid = bucket_value(b);
            if v < (1 << 37) {
                assert!(
                    (mid - v as f64).abs() <= v as f64 / 64.0 + 0.5,
                    "{v} -> {mid}"
                );
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn gaps_and_dups() {
        let mut c = Conn::new();
        let h = ThreadHist::local();
        const B: u64 = 1_767_225_600_000_000; // realistic epoch microseconds
        let ev = |c: &mut Conn, seq: u64, now: u64| {
            c.on_event(
                format!("{{\"seq\":{seq},\"t\":{}}}", B + now - 500).as_bytes(),
                B + now,
                B + 1000,
                B + 2000,
                &h,
            )
        };
        ev(&mut c, 5, 900); // before the window: sets last_seq only
        ev(&mut c, 6, 1000);
        ev(&mut c, 9, 1100); // 7, 8 missing
        ev(&mut c, 9, 1200); // duplicate
        ev(&mut c, 10, 2000); // after the window: ignored
        assert_eq!(
            (c.events_window, c.missing, c.dups, c.events_total),
            (3, 2, 1, 5)
        );
        assert_eq!(h.max_us.load(Relaxed), 500);
        assert_eq!(h.buckets.iter().map(|b| b.load(Relaxed)).sum::<u64>(), 3);
    }
}
