//! The wall's benchmark: N real agents (test scenes, distinct seeds, TLS
//! with their pins in a config file) on loopback, one `lookout-viewer
//! --wall` window on Xvfb asking each for its tile at `--wall-fps`.
//!
//! ```text
//! cargo build --release --bins
//! cargo bench -p lookout-tests --bench wall -- [--agents 16] [--seconds 10] [--fps 2]
//! ```
//!
//! Reports the time from starting the wall to every tile live, the wall
//! viewer's CPU and each agent's (percent of one core, from /proc), and
//! the age of the pictures the wall shows (capture to screen: the agent's
//! `captured_at_us` against the clock when the wall took the picture,
//! logged by the wall at debug level), over all tiles and per tile.
//! Without `--bench` (as under `cargo test`) it runs a 2-agent smoke
//! version and checks that pictures reach the wall.

use std::io::Write;
use std::time::{Duration, Instant};

use lookout_tests::process::{AgentProcess, Running, TempDir, command};
use lookout_tests::x11::Xvfb;

const TOKEN: &str = "wall-benchmark-token";
const SCENE: &str = "1280x720";

struct Plan {
    agents: usize,
    seconds: u64,
    fps: u32,
    smoke: bool,
}

fn plan() -> Plan {
    let args: Vec<String> = std::env::args().collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<u64>().expect("a number"))
    };
    Plan {
        agents: value("--agents").map_or(if smoke { 2 } else { 16 }, |v| v as usize),
        seconds: value("--seconds").unwrap_or(if smoke { 3 } else { 10 }),
        fps: value("--fps").map_or(2, |v| v as u32),
        smoke,
    }
}

fn main() {
    let plan = plan();
    let x = Xvfb::start(1600, 1000);
    let agents: Vec<AgentProcess> = (0..plan.agents)
        .map(|i| {
            let seed = i.to_string();
            AgentProcess::start(
                None,
                &[
                    "--token",
                    TOKEN,
                    "--source",
                    "test-pattern",
                    "--pattern-size",
                    SCENE,
                    "--pattern-seed",
                    &seed,
                ],
            )
        })
        .collect();
    let dir = TempDir::new("wall-bench");
    let config = dir.path().join("config.toml");
    let mut file = std::fs::File::create(&config).expect("config file");
    for (i, agent) in agents.iter().enumerate() {
        let fingerprint = agent.fingerprint.expect("a TLS agent");
        writeln!(
            file,
            "[hosts.a{i}]\naddress = \"{}\"\nfingerprint = \"{fingerprint}\"\n",
            agent.addr
        )
        .expect("write config");
    }
    drop(file);

    let started = Instant::now();
    let mut cmd = command("lookout-viewer");
    cmd.arg("--wall")
        .args((0..plan.agents).map(|i| format!("a{i}")))
        .args(["--wall-fps", &plan.fps.to_string(), "--config"])
        .arg(&config)
        .env_remove("LOOKOUT_NO_CONFIG")
        .env("LOOKOUT_TOKEN", TOKEN)
        .env("DISPLAY", x.display())
        .env("RUST_LOG", "info,lookout_viewer::wall=debug")
        .current_dir(dir.path());
    let wall = Running::spawn(cmd);
    // Polled every 20 ms, for at most a minute.
    let all_live = loop {
        if live_tiles(&wall.stderr.text()) >= plan.agents {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every tile went live:\n{}",
            wall.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    // Settle (first full frames, the tile size asked after the layout
    // settles), then measure.
    std::thread::sleep(Duration::from_secs(2));
    let log_from = wall.stderr.text().len();
    let (wall_cpu0, agent_cpu0): (Duration, Vec<Duration>) = (
        wall.cpu_time(),
        agents.iter().map(|a| a.process.cpu_time()).collect(),
    );
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(plan.seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    let percent = |d: Duration| d.as_secs_f64() / elapsed * 100.0;
    let wall_cpu = percent(wall.cpu_time() - wall_cpu0);
    let agent_cpu: Vec<f64> = agents
        .iter()
        .zip(&agent_cpu0)
        .map(|(a, &c0)| percent(a.process.cpu_time() - c0))
        .collect();
    let log = wall.stderr.text();
    let ages = picture_ages(&log[log_from..], plan.agents);

    let all: Vec<u64> = ages.iter().flatten().copied().collect();
    let pictures = all.len();
    println!(
        "wall: {} agents ({SCENE} test scenes, TLS), --wall-fps {}, {:.0} s measured",
        plan.agents, plan.fps, elapsed
    );
    println!(
        "time from start to {} live tiles: {:.2?}",
        plan.agents, all_live
    );
    println!(
        "pictures shown: {pictures} ({:.2} per tile per second)",
        pictures as f64 / plan.agents as f64 / elapsed
    );
    println!(
        "picture age (capture to screen): p50 {} ms, p95 {} ms, max {} ms",
        quantile(&all, 0.5),
        quantile(&all, 0.95),
        quantile(&all, 1.0)
    );
    let per_tile: Vec<String> = ages.iter().map(|a| quantile(a, 0.5).to_string()).collect();
    println!("picture age p50 per tile (ms): {}", per_tile.join(" "));
    println!("wall viewer CPU: {wall_cpu:.1}% of one core");
    let total: f64 = agent_cpu.iter().sum();
    let max = agent_cpu.iter().copied().fold(0.0, f64::max);
    println!(
        "agent CPU: {:.1}% mean, {max:.1}% max, {total:.1}% for all {}",
        total / plan.agents as f64,
        plan.agents
    );
    if plan.smoke {
        assert!(ages.iter().all(|a| !a.is_empty()), "a tile got no picture");
    }
}

/// How many tiles have logged `live` at least once.
fn live_tiles(log: &str) -> usize {
    let mut live: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wall tile") && l.contains("state=\"live\""))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("tile=")))
        .collect();
    live.sort_unstable();
    live.dedup();
    live.len()
}

/// Each tile's picture ages in ms, from the wall's `wall picture` lines.
fn picture_ages(log: &str, tiles: usize) -> Vec<Vec<u64>> {
    let mut ages = vec![Vec::new(); tiles];
    for line in log.lines().filter(|l| l.contains("wall picture")) {
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
        };
        if let (Some(tile), Some(age)) = (field("tile="), field("age_ms="))
            && let Some(list) = ages.get_mut(tile as usize)
        {
            list.push(age);
        }
    }
    ages
}

/// The `q` quantile of `values` (0 when empty).
fn quantile(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}
