//! End-to-end benchmark: the real agent binary on a virtual X display with
//! an animated desktop, viewers on loopback over TLS, and what it costs.
//!
//! ```text
//! cargo build --release --bins
//! cargo bench -p lookout-tests --bench e2e -- [--sizes 1280x720,1920x1080,3840x2160]
//!     [--viewers 1,4,16] [--seconds 5]
//! ```
//!
//! For each screen size, each pipeline (lookout: X11 shared memory +
//! libjpeg-turbo; baseline: the portable xcap capture + libjpeg-turbo; the
//! encoders alone are raced in `server/benches/pipeline.rs`) and each
//! viewer count, it reports the frames per second the decoding viewer
//! presents, the capture-to-present latency (from `captured_at_us` to the
//! decoded `u32` buffer, p50 and p95), the slowest receiving viewer's rate,
//! agent and viewer CPU (percent of one core), and bytes per frame; then the
//! same with the screen still. One viewer decodes every frame exactly as
//! `lookout-viewer` does; the others only receive, so the figures measure
//! the agent. Without `--bench` (as under `cargo test`) it runs a tiny
//! smoke version and checks that frames flow.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lookout_protocol::{ClientMessage, ServerMessage};
use lookout_protocol::{FramePairing, Paired};
use lookout_server::capture::{Capturer, TestPattern};
use lookout_tests::client::{Client, Endpoint};
use lookout_tests::process::AgentProcess;
use lookout_tests::x11::Xvfb;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, ImageFormat, Rectangle};
use x11rb::wrapper::ConnectionExt as _;

const TOKEN: &str = "e2e-benchmark-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    Lookout,
    Baseline,
}

impl Pipeline {
    fn name(self) -> &'static str {
        match self {
            Pipeline::Lookout => "lookout (X11 SHM + libjpeg-turbo 4:2:0)",
            Pipeline::Baseline => "baseline (xcap + libjpeg-turbo 4:2:0)",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Pipeline::Lookout => &["--capture", "x11"],
            Pipeline::Baseline => &["--capture", "xcap"],
        }
    }
}

struct Plan {
    sizes: Vec<(u32, u32)>,
    viewers: Vec<usize>,
    warmup: Duration,
    measure: Duration,
    smoke: bool,
}

fn plan() -> Plan {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let list = |flag: &str, default: &str| -> Vec<String> {
        value(flag)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    if !bench {
        return Plan {
            sizes: vec![(320, 240)],
            viewers: vec![1, 2],
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(1),
            smoke: true,
        };
    }
    let seconds: u64 = value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5);
    Plan {
        sizes: list("--sizes", "1280x720,1920x1080,3840x2160")
            .iter()
            .map(|s| {
                let (w, h) = s.split_once('x').expect("WIDTHxHEIGHT");
                (w.parse().expect("width"), h.parse().expect("height"))
            })
            .collect(),
        viewers: list("--viewers", "1,4,16")
            .iter()
            .map(|n| n.parse().expect("viewer count"))
            .collect(),
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(seconds),
        smoke: false,
    }
}

fn main() {
    let plan = plan();
    println!(
        "| size | pipeline | viewers | fps (decoding viewer) | slowest receiver fps | latency p50 / p95 | agent CPU | decoding viewer CPU | receiver CPU each | KB/frame |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut still_rows = Vec::new();
    for &(w, h) in &plan.sizes {
        let x = Xvfb::start(w, h);
        let animator = Animator::start(x.display(), w, h);
        for pipeline in [Pipeline::Lookout, Pipeline::Baseline] {
            for &viewers in &plan.viewers {
                animator.set_running(true);
                let mut r = run(&x, pipeline, viewers, &plan);
                let latency = r.decoder.latency();
                println!(
                    "| {w}x{h} | {} | {viewers} | {:.1} | {} | {} | {:.1}% | {:.1}% | {} | {:.0} |",
                    pipeline.name(),
                    r.decoder.fps,
                    r.slowest_receiver()
                        .map_or("-".into(), |f| format!("{f:.1}")),
                    latency,
                    r.agent_cpu,
                    r.decoder.cpu,
                    r.receiver_cpu().map_or("-".into(), |c| format!("{c:.2}%")),
                    r.decoder.kb_per_frame(),
                );
                if plan.smoke {
                    assert!(r.decoder.frames > 0, "no frames with {}", pipeline.name());
                }
            }
            animator.set_running(false);
            std::thread::sleep(Duration::from_millis(200));
            let r = run(&x, pipeline, 1, &plan);
            still_rows.push(format!(
                "| {w}x{h} | {} | {:.2}% | {:.1} | {:.0} |",
                pipeline.name(),
                r.agent_cpu,
                r.decoder.fps,
                r.decoder.bytes as f64 / plan.measure.as_secs_f64(),
            ));
        }
        animator.stop();
    }
    println!();
    println!("Still screen, one viewer monitoring:");
    println!();
    println!("| size | pipeline | agent CPU | frames/s sent | bytes/s sent |");
    println!("|---|---|---|---|---|");
    for row in still_rows {
        println!("{row}");
    }
}

/// What one scenario measured.
struct Outcome {
    agent_cpu: f64,
    decoder: ViewerStats,
    receivers: Vec<ViewerStats>,
}

impl Outcome {
    fn slowest_receiver(&self) -> Option<f64> {
        self.receivers.iter().map(|r| r.fps).reduce(f64::min)
    }

    fn receiver_cpu(&self) -> Option<f64> {
        (!self.receivers.is_empty()).then(|| {
            self.receivers.iter().map(|r| r.cpu).sum::<f64>() / self.receivers.len() as f64
        })
    }
}

fn run(x: &Xvfb, pipeline: Pipeline, viewers: usize, plan: &Plan) -> Outcome {
    let mut args = vec!["--token", TOKEN, "--fps", "60", "--max-viewers", "32"];
    args.extend_from_slice(pipeline.args());
    let agent = AgentProcess::start(Some(x.display()), &args);
    let endpoint = agent.endpoint();
    let start_at = Instant::now() + plan.warmup + Duration::from_millis(300);
    let end_at = start_at + plan.measure;
    let threads: Vec<JoinHandle<ViewerStats>> = (0..viewers)
        .map(|i| {
            let decode = i == 0;
            std::thread::spawn(move || viewer(endpoint, decode, start_at, end_at))
        })
        .collect();
    sleep_until(start_at);
    let cpu0 = process_cpu(agent.process.pid());
    sleep_until(end_at);
    let cpu1 = process_cpu(agent.process.pid());
    let mut stats: Vec<ViewerStats> = threads
        .into_iter()
        .map(|t| t.join().expect("viewer thread"))
        .collect();
    let decoder = stats.remove(0);
    let _ = agent.process.terminate();
    Outcome {
        agent_cpu: (cpu1 - cpu0).as_secs_f64() / plan.measure.as_secs_f64() * 100.0,
        decoder,
        receivers: stats,
    }
}

fn sleep_until(t: Instant) {
    if let Some(left) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

/// One viewer's figures over the measuring window.
#[derive(Debug, Default)]
struct ViewerStats {
    frames: u64,
    bytes: u64,
    fps: f64,
    cpu: f64,
    latencies_us: Vec<u64>,
}

impl ViewerStats {
    fn kb_per_frame(&self) -> f64 {
        if self.frames == 0 {
            return 0.0;
        }
        self.bytes as f64 / self.frames as f64 / 1000.0
    }

    fn latency(&mut self) -> String {
        if self.latencies_us.is_empty() {
            return "-".into();
        }
        self.latencies_us.sort_unstable();
        let at = |q: f64| {
            let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
            self.latencies_us[i] as f64 / 1000.0
        };
        format!("{:.1} / {:.1} ms", at(0.5), at(0.95))
    }
}

/// A viewer on its own thread and runtime, so its CPU time is its own.
fn viewer(endpoint: Endpoint, decode: bool, start_at: Instant, end_at: Instant) -> ViewerStats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (mut client, welcome) = Client::welcome(endpoint, TOKEN).await;
        let ServerMessage::Welcome { monitors, .. } = welcome else {
            unreachable!("Client::welcome checks for welcome");
        };
        let bound = lookout_viewer::decode::FrameBound::of_monitors(&monitors);
        client.send(ClientMessage::start_monitor()).await;
        let mut stats = ViewerStats::default();
        let mut cpu0 = None;
        let mut pairing = FramePairing::new();
        let mut last_ping = Instant::now();
        loop {
            let now = Instant::now();
            if now >= start_at && cpu0.is_none() {
                cpu0 = Some(thread_cpu());
            }
            if now >= end_at {
                break;
            }
            if now.duration_since(last_ping) > Duration::from_secs(4) {
                client.send(ClientMessage::Ping { id: 0 }).await;
                last_ping = now;
            }
            let wake = if now < start_at { start_at } else { end_at };
            let next = tokio::time::timeout_at(wake.into(), client.framed.next()).await;
            let Ok(Some(Ok(frame))) = next else {
                if next.is_err() {
                    continue;
                }
                panic!("the agent closed the connection");
            };
            let paired = pairing
                .push(frame)
                .expect("every image follows its frame message");
            let Some(Paired::Frame(frame)) = paired else {
                continue;
            };
            if cpu0.is_some() {
                stats.frames += 1;
                stats.bytes += frame.jpeg.len() as u64;
            }
            if decode {
                let decoded = lookout_viewer::decode::decode_jpeg(&frame, bound).expect("decode");
                std::hint::black_box(&decoded.pixels);
                if cpu0.is_some() {
                    stats
                        .latencies_us
                        .push(unix_micros().saturating_sub(frame.meta.captured_at_us));
                }
            }
        }
        let window = end_at.duration_since(start_at).as_secs_f64();
        stats.cpu = (thread_cpu() - cpu0.unwrap_or_default()).as_secs_f64() / window * 100.0;
        stats.fps = stats.frames as f64 / window;
        stats
    })
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
fn process_cpu(pid: u32) -> Duration {
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

/// An X client that animates the display like someone dragging a window
/// over a desktop, at 60 frames per second: a desktop image once, then per
/// frame the window drawn at its new place and a taskbar clock.
struct Animator {
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Animator {
    fn start(display: &str, w: u32, h: u32) -> Self {
        let running = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&running), Arc::clone(&stop));
        let display = display.to_owned();
        let thread = std::thread::spawn(move || animate(&display, w, h, &r, &s));
        Self {
            running,
            stop,
            thread: Some(thread),
        }
    }

    fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::SeqCst);
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("animator");
        }
    }
}

fn animate(display: &str, w: u32, h: u32, running: &AtomicBool, stop: &AtomicBool) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let screen = &conn.setup().roots[screen];
    let root = screen.root;
    let desktop = {
        let mut p = TestPattern::still(w, h);
        p.capture(0).expect("render desktop")
    };
    // The desktop into a pixmap, in strips that fit in a request.
    let pixmap = conn.generate_id().unwrap();
    conn.create_pixmap(screen.root_depth, pixmap, root, w as u16, h as u16)
        .unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, root, &CreateGCAux::new().foreground(screen.black_pixel))
        .unwrap();
    let max_bytes = conn.maximum_request_bytes().saturating_sub(64);
    let rows_per_strip = (max_bytes / (w as usize * 4)).max(1);
    let bgrx: Vec<u8> = desktop
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    for (i, strip) in bgrx.chunks(rows_per_strip * w as usize * 4).enumerate() {
        let rows = strip.len() / (w as usize * 4);
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            pixmap,
            gc,
            w as u16,
            rows as u16,
            0,
            (i * rows_per_strip) as i16,
            0,
            screen.root_depth,
            strip,
        )
        .unwrap();
    }
    conn.copy_area(pixmap, root, gc, 0, 0, 0, 0, w as u16, h as u16)
        .unwrap();
    conn.sync().unwrap();

    let (mw, mh) = (w / 4, h / 4);
    let taskbar = 32.min(h / 8);
    let started = Instant::now();
    let mut last = (0i16, 0i16);
    let period = Duration::from_secs(1) / 60;
    let mut tick = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        tick += period;
        sleep_until(tick);
        if !running.load(Ordering::SeqCst) {
            continue;
        }
        let t = started.elapsed().as_secs_f32();
        let x = ((w - mw) as f32 * 0.5 * (1.0 + (t * 0.7).sin())) as i16;
        let y = ((h - taskbar - mh) as f32 * 0.5 * (1.0 + (t * 0.45).cos())) as i16;
        // Erase the window where it was, draw it where it is.
        conn.copy_area(
            pixmap, root, gc, last.0, last.1, last.0, last.1, mw as u16, mh as u16,
        )
        .unwrap();
        conn.copy_area(
            pixmap,
            root,
            gc,
            (w / 16) as i16,
            (h / 12) as i16,
            x,
            y,
            mw as u16,
            mh as u16,
        )
        .unwrap();
        last = (x, y);
        // The taskbar clock grows and wraps every ten seconds.
        let clock = ((t % 10.0) / 10.0 * (w / 5) as f32) as u16 + 1;
        conn.copy_area(
            pixmap,
            root,
            gc,
            0,
            (h - taskbar) as i16,
            0,
            (h - taskbar) as i16,
            (w / 5) as u16 + 1,
            taskbar as u16,
        )
        .unwrap();
        conn.poly_fill_rectangle(
            root,
            gc,
            &[Rectangle {
                x: 0,
                y: (h - taskbar) as i16 + 4,
                width: clock,
                height: taskbar as u16 - 8,
            }],
        )
        .unwrap();
        conn.sync().unwrap();
    }
}
