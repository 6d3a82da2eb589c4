//! What every part of the bench measures with: a measuring viewer on its
//! own thread (frames, bytes, latency from `captured_at_us`, its CPU), and
//! the CPU time of processes and threads.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lookout_protocol::{ClientMessage, FramePairing, Paired, ServerMessage, StreamSettings};
use lookout_tests::client::{Client, Endpoint};
use lookout_viewer::decode::{Composer, FrameBound, Update};

/// The token every agent of the bench is started with.
pub(crate) const TOKEN: &str = "e2e-benchmark-token";

/// One viewer's figures over the measuring window.
#[derive(Debug, Default)]
pub(crate) struct ViewerStats {
    /// Full frames and region updates received in the window.
    pub(crate) frames: u64,
    /// Bytes of JPEG they carried.
    pub(crate) bytes: u64,
    /// `frames` per second.
    pub(crate) fps: f64,
    /// The viewer thread's CPU, percent of one core.
    pub(crate) cpu: f64,
    /// Capture to decoded picture, one per update (decoding viewers only).
    pub(crate) latencies_us: Vec<u64>,
    /// The size of the last picture received.
    pub(crate) size: (u32, u32),
}

impl ViewerStats {
    /// Kilobytes of JPEG per update.
    pub(crate) fn kb_per_frame(&self) -> f64 {
        if self.frames == 0 {
            return 0.0;
        }
        self.bytes as f64 / self.frames as f64 / 1000.0
    }

    /// Latency quantile `q` in milliseconds, if any was measured.
    pub(crate) fn latency_ms(&mut self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        Some(self.latencies_us[i] as f64 / 1000.0)
    }

    /// "p50 / p95 ms", or "-".
    pub(crate) fn latency(&mut self) -> String {
        match (self.latency_ms(0.5), self.latency_ms(0.95)) {
            (Some(p50), Some(p95)) => format!("{p50:.1} / {p95:.1} ms"),
            _ => "-".into(),
        }
    }
}

/// How a measuring viewer asks and what it does with what it gets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewerPlan {
    /// The `start_monitor` settings it sends.
    pub(crate) settings: StreamSettings,
    /// Decode (and compose region updates) as `lookout-viewer` does, and
    /// measure latency; otherwise only receive.
    pub(crate) decode: bool,
    /// Measuring starts here...
    pub(crate) start_at: Instant,
    /// ...and ends here.
    pub(crate) end_at: Instant,
}

/// A viewer on its own thread and runtime, so its CPU time is its own.
pub(crate) fn viewer(endpoint: Endpoint, plan: ViewerPlan) -> ViewerStats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(receive(endpoint, plan))
}

async fn receive(endpoint: Endpoint, plan: ViewerPlan) -> ViewerStats {
    let (mut client, welcome) = Client::welcome(endpoint, TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!("Client::welcome checks for welcome");
    };
    let bound = FrameBound::of_monitors(&monitors);
    client
        .send(ClientMessage::StartMonitor(plan.settings))
        .await;
    let mut stats = ViewerStats::default();
    let mut cpu0 = None;
    let mut pairing = FramePairing::new();
    pairing.set_regions(plan.settings.regions);
    let mut composer = Composer::new();
    let mut last_ping = Instant::now();
    // Bounded by time: every pass waits at most until `end_at`.
    loop {
        let now = Instant::now();
        if now >= plan.start_at && cpu0.is_none() {
            cpu0 = Some(thread_cpu());
        }
        if now >= plan.end_at {
            break;
        }
        if now.duration_since(last_ping) > Duration::from_secs(4) {
            client.send(ClientMessage::Ping { id: 0 }).await;
            last_ping = now;
        }
        let wake = if now < plan.start_at {
            plan.start_at
        } else {
            plan.end_at
        };
        let next = tokio::time::timeout_at(wake.into(), client.framed.next()).await;
        let Ok(Some(Ok(item))) = next else {
            if next.is_err() {
                continue;
            }
            panic!("the agent closed the connection");
        };
        let update = match pairing.push(item).expect("a well-formed stream") {
            Some(Paired::Frame(frame)) => Update::Full(frame),
            Some(Paired::Region(region)) => Update::Region(region),
            _ => continue,
        };
        stats.size = (update.meta().width, update.meta().height);
        if cpu0.is_some() {
            stats.frames += 1;
            stats.bytes += update.jpeg_len();
        }
        if plan.decode {
            composer.apply(&update, bound).expect("decode");
            std::hint::black_box(composer.picture());
            if cpu0.is_some() {
                let captured = update.meta().captured_at_us;
                stats
                    .latencies_us
                    .push(unix_micros().saturating_sub(captured));
            }
        }
    }
    let window = plan.end_at.duration_since(plan.start_at).as_secs_f64();
    stats.cpu = (thread_cpu() - cpu0.unwrap_or_default()).as_secs_f64() / window * 100.0;
    stats.fps = stats.frames as f64 / window;
    stats
}

/// Sleeps until `t` (returns at once if it has passed).
pub(crate) fn sleep_until(t: Instant) {
    if let Some(left) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// CPU time of the calling thread (nanoseconds from schedstat).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat runtime");
    Duration::from_nanos(ns)
}

/// User plus system CPU time of a process, all threads.
pub(crate) fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A process's CPU over a stretch, percent of one core.
pub(crate) struct CpuMeter {
    pid: u32,
    at: Instant,
    cpu: Duration,
}

impl CpuMeter {
    /// Starts counting now.
    pub(crate) fn start(pid: u32) -> Self {
        Self {
            pid,
            at: Instant::now(),
            cpu: process_cpu(pid),
        }
    }

    /// Percent of one core since [`CpuMeter::start`].
    pub(crate) fn percent(&self) -> f64 {
        let used = process_cpu(self.pid).saturating_sub(self.cpu);
        used.as_secs_f64() / self.at.elapsed().as_secs_f64() * 100.0
    }
}
