//! End-to-end benchmark: the real agent binary on virtual X displays, real
//! viewers, and what it costs. One command reproduces every figure of
//! BENCHMARKS.md's end-to-end sections:
//!
//! ```text
//! cargo build --release -p lookout-server -p lookout-viewer --bins
//! cargo bench -p lookout-tests --bench e2e -- [--parts pipelines,scenes,slow-link,thumbnail]
//!     [--sizes 1280x720,1920x1080] [--viewers 1,4,16] [--seconds 5]
//!     [--scene-seconds 8] [--shots DIR]   (parts: ...,thumbnail,web)
//! ```
//!
//! (`./dev.sh bench` installs what the bench needs and runs exactly that.)
//!
//! * `pipelines` ([`pipelines`]): the animated desktop per screen size,
//!   pipeline and viewer count: frame rate, latency, CPU, bytes per frame.
//! * `scenes` ([`scenes`]): everyday work, lookout against x11vnc with
//!   each system's real viewer, same desktop, same run.
//! * `slow-link` ([`slowlink`]): a viewer behind a 10 and a 2 Mbit/s link
//!   beside an unshaped one (needs root).
//! * `thumbnail` ([`thumbnail`]): a 320x180, 2 fps stream's bytes and CPU.
//! * `web` ([`web`]): the browser viewer in headless chromium: the animated
//!   desktop's frame rate and capture-to-canvas latency, and the typing
//!   scene's bytes against the native viewer's.
//! * `wayland` ([`wayland`], not in the default run: `--parts wayland`):
//!   lookout's wlroots backend against wayvnc on headless sway (needs root).
//!
//! The whole default run took 273 s on the 2-core machine of
//! BENCHMARKS.md (`--sizes 1280x720,1920x1080,3840x2160` adds 4K to the
//! sweep, about a minute more).
//!
//! Without `--bench` (as under `cargo test`) it runs a tiny smoke version:
//! the relay's counting checked against known bursts, then the pipelines
//! and the thumbnail, checking that frames flow and bytes are counted.

mod animator;
mod desktop;
mod measure;
mod pipelines;
mod relay;
mod scenes;
mod slowlink;
mod thumbnail;
mod wayland;
mod web;
mod wl_animator;
// The page tests' chromium driver, shared with the bench (not every helper
// is used here).
#[allow(dead_code)]
#[path = "../../tests/web_browser.rs"]
mod web_browser;

use std::time::Duration;

/// What to run, and for how long.
#[derive(Debug)]
struct Plan {
    parts: Vec<String>,
    sizes: Vec<(u32, u32)>,
    viewers: Vec<usize>,
    warmup: Duration,
    measure: Duration,
    /// Each everyday scene's length.
    scene: Duration,
    /// The screen of the scenes, the slow link and the thumbnail.
    scene_size: (u32, u32),
    /// Where the scenes keep their screenshots, if anywhere (`--shots DIR`).
    shots: Option<std::path::PathBuf>,
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
            parts: vec!["pipelines".into(), "thumbnail".into()],
            sizes: vec![(320, 240)],
            viewers: vec![1, 2],
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(1),
            scene: Duration::from_secs(1),
            scene_size: (320, 240),
            shots: None,
            smoke: true,
        };
    }
    let seconds: u64 = value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5);
    let scene: u64 = value("--scene-seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    Plan {
        parts: list("--parts", "pipelines,scenes,slow-link,thumbnail,web"),
        sizes: list("--sizes", "1280x720,1920x1080")
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
        scene: Duration::from_secs(scene),
        scene_size: (1920, 1080),
        shots: value("--shots").map(Into::into),
        smoke: false,
    }
}

fn main() {
    let plan = plan();
    if plan.smoke {
        relay::self_check();
    }
    for part in &plan.parts {
        match part.as_str() {
            "pipelines" => pipelines::sweep(&plan),
            "scenes" => scenes::scenes(&plan),
            "slow-link" => slowlink::slow_link(&plan),
            "thumbnail" => thumbnail::thumbnail(&plan),
            "web" => web::web(&plan),
            "wayland" => wayland::wayland(&plan),
            other => {
                panic!(
                    "unknown part {other:?}: pipelines, scenes, slow-link, thumbnail, web, wayland"
                )
            }
        }
    }
}
