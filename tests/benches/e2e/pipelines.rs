//! The pipeline sweep: for each screen size, each pipeline (lookout: X11
//! shared memory + libjpeg-turbo; baseline: the portable xcap capture +
//! libjpeg-turbo) and each viewer count, the animated desktop's frame rate,
//! latency, CPU and bytes per frame, then the same with the screen still.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lookout_protocol::StreamSettings;
use lookout_tests::process::AgentProcess;
use lookout_tests::x11::Xvfb;

use crate::Plan;
use crate::animator::Animator;
use crate::measure::{TOKEN, ViewerPlan, ViewerStats, process_cpu, sleep_until, viewer};

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

/// Runs the sweep and prints its two tables.
pub(crate) fn sweep(plan: &Plan) {
    println!("## Pipelines, animated desktop");
    println!();
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
                let mut r = run(&x, pipeline, viewers, plan);
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
            let r = run(&x, pipeline, 1, plan);
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
    println!();
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
    // Full frames, as the sweep always measured: the pipeline's cost per
    // frame, not the region updates' savings (the scenes measure those).
    let threads: Vec<JoinHandle<ViewerStats>> = (0..viewers)
        .map(|i| {
            let viewer_plan = ViewerPlan {
                settings: StreamSettings::default(),
                decode: i == 0,
                start_at,
                end_at,
            };
            std::thread::spawn(move || viewer(endpoint, viewer_plan))
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
