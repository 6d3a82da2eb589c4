//! A thumbnail viewer: `start_monitor` with `max_width: 320,
//! max_height: 180, fps: 2` (and regions, as `lookout-viewer` asks) on the
//! animated desktop; its bytes on the wire and what it adds to the agent's
//! CPU over an agent nobody watches.

use std::time::Instant;

use lookout_protocol::StreamSettings;
use lookout_tests::client::Endpoint;
use lookout_tests::process::AgentProcess;
use lookout_tests::x11::Xvfb;

use crate::Plan;
use crate::animator::Animator;
use crate::desktop::desktop_rgba;
use crate::measure::{CpuMeter, TOKEN, ViewerPlan, viewer};
use crate::relay::Relay;

/// What the thumbnail viewer asks for.
const THUMBNAIL: StreamSettings = StreamSettings {
    max_width: Some(320),
    max_height: Some(180),
    fps: Some(2),
    ..StreamSettings::DEFAULT
};

/// Measures and prints the thumbnail's figures.
pub(crate) fn thumbnail(plan: &Plan) {
    let (w, h) = plan.scene_size;
    let x = Xvfb::start(w, h);
    let animator = Animator::start_with(x.display(), desktop_rgba(w, h), w, h);
    animator.set_running(true);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN, "--fps", "60"]);
    std::thread::sleep(plan.warmup);
    let idle = CpuMeter::start(agent.process.pid());
    std::thread::sleep(plan.measure);
    let idle = idle.percent();

    let relay = Relay::start(agent.addr);
    let endpoint = Endpoint {
        addr: relay.addr(),
        pin: agent.fingerprint,
    };
    let start_at = Instant::now() + plan.warmup;
    let end_at = start_at + plan.measure;
    let settings = StreamSettings {
        regions: true,
        ..THUMBNAIL
    };
    let thread = std::thread::spawn(move || {
        let viewer_plan = ViewerPlan {
            settings,
            decode: true,
            start_at,
            end_at,
        };
        viewer(endpoint, viewer_plan)
    });
    crate::measure::sleep_until(start_at);
    let before = relay.counted();
    let cpu = CpuMeter::start(agent.process.pid());
    crate::measure::sleep_until(end_at);
    let counted = relay.counted().since(before);
    let cpu = cpu.percent();
    let stats = thread.join().expect("thumbnail viewer");
    animator.stop();
    let _ = agent.process.terminate();
    let seconds = plan.measure.as_secs_f64();
    println!("## Thumbnail stream, animated desktop {w}x{h}");
    println!();
    println!(
        "| asked | frames received | updates/s | KiB/s on the wire | agent CPU, nobody watching | agent CPU with it | extra |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| 320x180, 2 fps, regions | {}x{} | {:.1} | {:.1} | {idle:.1}% | {cpu:.1}% | {:.1}% |",
        stats.size.0,
        stats.size.1,
        stats.fps,
        counted.bytes as f64 / seconds / 1024.0,
        cpu - idle,
    );
    println!();
    if plan.smoke {
        assert!(counted.bytes > 0, "the relay counted nothing");
        assert!(stats.frames > 0, "no thumbnail frames");
    }
}
