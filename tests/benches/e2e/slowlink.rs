//! A slow link: the agent in a network namespace of its own, reached over
//! two veth pairs from this (the root) namespace: one shaped on the agent's
//! side with `tc ... tbf` (10 Mbit/s, then 2 Mbit/s), one not. A measuring
//! viewer on each; the unshaped one's frame rate alone and beside the
//! shaped one. Needs root and `ip`/`tc`; skipped with a message otherwise.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use lookout_protocol::StreamSettings;
use lookout_tests::client::Endpoint;
use lookout_tests::process::{Running, TempDir, binary};
use lookout_tests::x11::Xvfb;

use crate::Plan;
use crate::animator::Animator;
use crate::desktop::desktop_rgba;
use crate::measure::{TOKEN, ViewerPlan, ViewerStats, viewer};

const NETNS: &str = "lookout-bench-agent";
/// The shaped pair: agent side, this side, and their addresses.
const SHAPED: (&str, &str, &str, &str) = ("lkb-s0", "lkb-s1", "10.231.0.1", "10.231.0.2");
/// The unshaped pair.
const UNSHAPED: (&str, &str, &str, &str) = ("lkb-u0", "lkb-u1", "10.231.1.1", "10.231.1.2");
const RATES: [&str; 2] = ["10mbit", "2mbit"];

/// Runs the slow-link part and prints its table (or why it was skipped).
pub(crate) fn slow_link(plan: &Plan) {
    println!("## Slow link, animated desktop");
    println!();
    if let Some(why) = missing() {
        println!("Skipped: {why}.");
        println!();
        return;
    }
    let (w, h) = plan.scene_size;
    let x = Xvfb::start(w, h);
    let animator = Animator::start_with(x.display(), desktop_rgba(w, h), w, h);
    animator.set_running(true);
    let net = Namespace::create();
    let (agent, port, pin, _identity) = agent_in(&x);
    let at = |ip: &str| Endpoint {
        addr: SocketAddr::new(ip.parse().expect("an address"), port),
        pin: Some(pin),
    };
    let alone = {
        let start_at = Instant::now() + plan.warmup;
        let unshaped = spawn(at(UNSHAPED.2), start_at, start_at + plan.measure);
        unshaped.join().expect("unshaped viewer")
    };
    println!(
        "| link (tbf on the agent's side) | shaped viewer fps | shaped latency p50 / p95 | shaped KiB/s | unshaped viewer fps alone | unshaped fps beside the shaped one | unshaped latency p50 / p95 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for rate in RATES {
        net.shape(rate);
        // The shaped viewer's first full frame takes a while at 2 Mbit/s.
        let start_at = Instant::now() + plan.warmup + Duration::from_secs(2);
        let end_at = start_at + plan.measure;
        let shaped = spawn(at(SHAPED.2), start_at, end_at);
        let unshaped = spawn(at(UNSHAPED.2), start_at, end_at);
        let mut shaped = shaped.join().expect("shaped viewer");
        let mut unshaped = unshaped.join().expect("unshaped viewer");
        let (shaped_latency, unshaped_latency) = (shaped.latency(), unshaped.latency());
        println!(
            "| {rate} | {:.1} | {shaped_latency} | {:.1} | {:.1} | {:.1} | {unshaped_latency} |",
            shaped.fps,
            shaped.bytes as f64 / plan.measure.as_secs_f64() / 1024.0,
            alone.fps,
            unshaped.fps,
        );
    }
    println!();
    println!(
        "Viewers decode and compose region updates as lookout-viewer does; latency is capture to composed picture. The agent runs at --fps 60 in namespace {NETNS}; KiB/s counts JPEG bytes."
    );
    println!();
    let _ = agent.terminate();
    animator.stop();
    drop(net);
}

/// Why the part cannot run here, if it cannot.
fn missing() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Some("network namespaces need root".into());
    }
    for tool in ["ip", "tc"] {
        let found = Command::new(tool)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{tool}` is missing (package iproute2)"));
        }
    }
    None
}

fn spawn(
    endpoint: Endpoint,
    start_at: Instant,
    end_at: Instant,
) -> std::thread::JoinHandle<ViewerStats> {
    let plan = ViewerPlan {
        settings: StreamSettings {
            regions: true,
            ..StreamSettings::DEFAULT
        },
        decode: true,
        start_at,
        end_at,
    };
    std::thread::spawn(move || viewer(endpoint, plan))
}

/// The agent binary inside the namespace, on every address; its port and
/// fingerprint.
fn agent_in(x: &Xvfb) -> (Running, u16, lookout_protocol::Fingerprint, TempDir) {
    let identity = TempDir::new("slow-link-identity");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", NETNS])
        .arg(binary("lookout-server"))
        .args(["--bind", "0.0.0.0:0", "--token", TOKEN, "--fps", "60"])
        .arg("--identity")
        .arg(identity.path())
        .env("DISPLAY", x.display())
        .env("LOOKOUT_NO_CONFIG", "1")
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN");
    let agent = Running::spawn(cmd);
    let port = agent.stderr.wait_for(Duration::from_secs(20), |line| {
        let at = line.find("listening")?;
        let addr = &line[at..];
        let start = addr.find("addr=")? + 5;
        addr[start..]
            .split_whitespace()
            .next()?
            .parse::<SocketAddr>()
            .ok()
            .map(|a| a.port())
    });
    let Some(port) = port else {
        panic!("the agent did not listen: {}", agent.process_output());
    };
    let pin = agent
        .stdout
        .wait_for(Duration::from_secs(5), |line| {
            line.strip_prefix("fingerprint ")?.parse().ok()
        })
        .expect("the agent's fingerprint");
    (agent, port, pin, identity)
}

/// The namespace and its links; deleted on drop, even after a panic.
struct Namespace;

impl Namespace {
    fn create() -> Self {
        // A namespace left by a run that was killed.
        let _ = Command::new("ip").args(["netns", "del", NETNS]).output();
        let guard = Namespace;
        ip(&["netns", "add", NETNS]);
        ip(&["-n", NETNS, "link", "set", "lo", "up"]);
        for (inside, outside, inside_ip, outside_ip) in [SHAPED, UNSHAPED] {
            let _ = Command::new("ip").args(["link", "del", outside]).output();
            ip(&[
                "link", "add", inside, "type", "veth", "peer", "name", outside,
            ]);
            ip(&["link", "set", inside, "netns", NETNS]);
            ip(&[
                "-n",
                NETNS,
                "addr",
                "add",
                &format!("{inside_ip}/24"),
                "dev",
                inside,
            ]);
            ip(&["-n", NETNS, "link", "set", inside, "up"]);
            ip(&["addr", "add", &format!("{outside_ip}/24"), "dev", outside]);
            ip(&["link", "set", outside, "up"]);
        }
        guard
    }

    /// Shapes what the agent sends on the shaped pair to `rate`.
    fn shape(&self, rate: &str) {
        let ok = Command::new("ip")
            .args([
                "netns", "exec", NETNS, "tc", "qdisc", "replace", "dev", SHAPED.0,
            ])
            .args([
                "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "50ms",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tc qdisc replace ... tbf rate {rate} failed");
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth ends in it, and with
        // them their peers here.
        let _ = Command::new("ip").args(["netns", "del", NETNS]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
