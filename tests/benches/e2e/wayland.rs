//! Wayland: lookout's wlroots backend against wayvnc, on the same headless
//! sway (1920x1080, pixman), in the same run, each with its own viewer
//! through a counting relay: lookout's measuring viewer (decoding, so its
//! latency is capture to decoded picture), TigerVNC's viewer for wayvnc
//! (its window on an Xvfb of its own).
//!
//! The scenes are drawn by a terminal (foot) in the session: `scrolling`
//! prints a screenful of lines every 16 ms (in practice the window changes
//! about 30 times a second), `animated` a hex dump of random bytes as fast
//! as foot takes it (it scrolls at every frame foot draws, up to the
//! compositor's 60 Hz, and 47 columns of every row are new each time: the
//! scene for the 60 fps target), `typing` one character every
//! 83 ms (12 keys a second), `still` nothing. Two more are drawn by the
//! bench's own Wayland client ([`crate::wl_animator`]), the scenes of the
//! X11 bench: `animated desktop` (a window moving over the desktop and a
//! taskbar clock at every frame the compositor takes: the scene for the
//! 60 fps target) and `dragging` (the window alone, 30 moves a second).
//! The animator counts the frames it drew: the rate the compositor took.
//!
//! `--wayland-scenes NAME,...` (scrolling, animated, typing, still,
//! desktop, dragging) runs only those.
//!
//! Needs root and the packages of dev.sh (sway, foot, wayvnc, TigerVNC's
//! viewer); without them the part says why and is skipped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lookout_protocol::StreamSettings;
use lookout_tests::client::Endpoint;
use lookout_tests::process::{AgentProcess, Running};
use lookout_tests::sway::Sway;
use lookout_tests::x11::Xvfb;

use crate::Plan;
use crate::measure::{CpuMeter, TOKEN, ViewerPlan, ViewerStats, sleep_until, viewer};
use crate::relay::Relay;
use crate::scenes::VNC_VIEWER_ARGS;
use crate::wl_animator::{Animation, WlAnimator};

#[derive(Debug, Clone, Copy)]
enum Scene {
    Scrolling,
    Animated,
    Typing,
    Still,
    /// Drawn by the bench's animator.
    Drawn(Animation),
}

impl Scene {
    fn name(self) -> &'static str {
        match self {
            Scene::Scrolling => "scrolling",
            Scene::Animated => "animated (60 Hz)",
            Scene::Typing => "typing",
            Scene::Still => "still",
            Scene::Drawn(Animation::Desktop) => "animated desktop (60 Hz)",
            Scene::Drawn(Animation::Dragging) => "dragging, 30 moves/s",
        }
    }

    /// The scene's name for `--wayland-scenes`.
    fn key(self) -> &'static str {
        match self {
            Scene::Scrolling => "scrolling",
            Scene::Animated => "animated",
            Scene::Typing => "typing",
            Scene::Still => "still",
            Scene::Drawn(Animation::Desktop) => "desktop",
            Scene::Drawn(Animation::Dragging) => "dragging",
        }
    }

    /// The shell loop the scene's terminal runs.
    fn script(self) -> &'static str {
        match self {
            Scene::Scrolling => "i=0; while :; do i=$((i+70)); seq $i $((i+69)); sleep 0.016; done",
            Scene::Animated => "od -x /dev/urandom",
            Scene::Typing => "while :; do printf x; sleep 0.083; done",
            Scene::Still => "echo a still terminal; sleep 3600",
            Scene::Drawn(_) => unreachable!("drawn by the animator"),
        }
    }
}

/// One system's figures on one scene.
#[derive(Debug, Default)]
struct Measured {
    bytes_per_s: f64,
    updates_per_s: f64,
    cpu: f64,
    /// Frames the animator drew per second meanwhile (its scenes only).
    drawn_per_s: Option<f64>,
    /// lookout's measuring viewer only.
    viewer: Option<ViewerStats>,
}

pub(crate) fn wayland(plan: &Plan) {
    let (w, h) = plan.scene_size;
    let sway = match Sway::start(&[(w, h)]) {
        Ok(sway) => sway,
        Err(why) => {
            println!("## Wayland: skipped ({why})\n");
            return;
        }
    };
    let b = Xvfb::start(w, h);
    println!("## Wayland: lookout (wlroots) against wayvnc, headless sway {w}x{h}\n");
    println!(
        "| scene | lookout KiB/s | wayvnc KiB/s | lookout / wayvnc | agent CPU lookout / wayvnc | updates/s lookout / wayvnc | lookout fps, p50 / p95 capture to decoded | animator frames/s, lookout's / wayvnc's run |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let only = std::env::args()
        .skip_while(|a| a != "--wayland-scenes")
        .nth(1);
    let scenes = [
        Scene::Scrolling,
        Scene::Animated,
        Scene::Drawn(Animation::Desktop),
        Scene::Drawn(Animation::Dragging),
        Scene::Typing,
        Scene::Still,
    ];
    for key in only.iter().flat_map(|o| o.split(',')) {
        assert!(
            scenes.iter().any(|s| s.key() == key),
            "--wayland-scenes: no scene {key:?}; the scenes: {:?}",
            scenes.map(|s| s.key())
        );
    }
    for scene in scenes {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|k| k == scene.key()))
        {
            continue;
        }
        let animator = match scene {
            Scene::Drawn(animation) => Some(WlAnimator::start(sway.socket(), w, h, animation)),
            _ => {
                sway.exec(&format!("foot --title scene sh -c '{}'", scene.script()));
                assert!(
                    sway.wait_window("scene", Duration::from_secs(20)),
                    "{}",
                    sway.log()
                );
                None
            }
        };
        std::thread::sleep(Duration::from_secs(1));
        let drawn = || animator.as_ref().map(WlAnimator::drawn);
        let l = lookout(&sway, plan, &drawn);
        let v = wayvnc(&sway, &b, plan, &drawn);
        match animator {
            Some(animator) => animator.stop(),
            None => {
                sway.msg(&["[title=\"scene\"]", "kill"]);
            }
        }
        let mut stats = l.viewer.unwrap_or_default();
        let latency = stats.latency();
        let rate = |m: Option<f64>| m.map_or("-".to_owned(), |r| format!("{r:.1}"));
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.1}% / {:.1}% | {:.1} / {:.1} | {:.1}, {} | {} / {} |",
            scene.name(),
            l.bytes_per_s / 1024.0,
            v.bytes_per_s / 1024.0,
            l.bytes_per_s / v.bytes_per_s.max(1.0),
            l.cpu,
            v.cpu,
            l.updates_per_s,
            v.updates_per_s,
            stats.fps,
            latency,
            rate(l.drawn_per_s),
            rate(v.drawn_per_s),
        );
        if plan.smoke {
            assert!(l.bytes_per_s > 0.0, "{scene:?}");
        }
        // The window is gone before the next scene's opens.
        std::thread::sleep(Duration::from_millis(500));
    }
    println!();
    println!(
        "Agent `--capture wlr --fps 60`; wayvnc 0.5 with its defaults. Bytes counted server to viewer on the server's side; updates/s are bursts at least 4 ms apart; agent CPU is the server process's, percent of one core (sway's and foot's are not counted, and are the same for both). TigerVNC viewer options: {}.",
        VNC_VIEWER_ARGS.join(" ")
    );
    println!();
}

/// The agent and the measuring viewer through a relay.
/// `drawn` counts the animator's frames, if the scene has one.
fn lookout(sway: &Sway, plan: &Plan, drawn: &dyn Fn() -> Option<u64>) -> Measured {
    let agent = AgentProcess::start_with_env(
        "127.0.0.1:0",
        None,
        &sway.agent_env(),
        &["--token", TOKEN, "--capture", "wlr", "--fps", "60"],
    );
    let relay = Relay::start(agent.addr);
    let endpoint = Endpoint {
        addr: relay.addr(),
        pin: agent.fingerprint,
    };
    let start_at = Instant::now() + plan.warmup;
    let end_at = start_at + plan.scene;
    let plan_v = ViewerPlan {
        // As lookout-viewer asks: region updates where the agent offers them.
        settings: StreamSettings {
            regions: true,
            ..StreamSettings::default()
        },
        decode: true,
        start_at,
        end_at,
    };
    let measuring = std::thread::spawn(move || viewer(endpoint, plan_v));
    sleep_until(start_at);
    let before = relay.counted();
    let drawn_before = drawn();
    let cpu = CpuMeter::start(agent.process.pid());
    sleep_until(end_at);
    let counted = relay.counted().since(before);
    let cpu = cpu.percent();
    let seconds = plan.scene.as_secs_f64();
    let drawn_per_s = drawn_before
        .zip(drawn())
        .map(|(b, a)| (a - b) as f64 / seconds);
    let stats = measuring.join().expect("the measuring viewer");
    let _ = agent.process.terminate();
    Measured {
        bytes_per_s: counted.bytes as f64 / seconds,
        updates_per_s: counted.bursts as f64 / seconds,
        cpu,
        drawn_per_s,
        viewer: Some(stats),
    }
}

/// wayvnc in the session and TigerVNC's viewer on `b`, through a relay.
fn wayvnc(sway: &Sway, b: &Xvfb, plan: &Plan, drawn: &dyn Fn() -> Option<u64>) -> Measured {
    let port = free_port();
    let mut cmd = sway.user_command("wayvnc");
    cmd.args(["127.0.0.1", &port.to_string()]);
    let server = Running::spawn(cmd);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    // Bounded by the deadline.
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "wayvnc does not listen: {}",
            server.process_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // runuser's child is wayvnc: its CPU is what counts.
    let pid = child_of(server.pid()).unwrap_or(server.pid());
    let relay = Relay::start(addr);
    let mut cmd = b.command("xtigervncviewer");
    cmd.args(VNC_VIEWER_ARGS)
        .arg(format!("127.0.0.1::{}", relay.addr().port()));
    let viewer = Running::spawn(cmd);
    let start_at = Instant::now() + plan.warmup;
    sleep_until(start_at);
    let before = relay.counted();
    let drawn_before = drawn();
    let cpu = CpuMeter::start(pid);
    sleep_until(start_at + plan.scene);
    let counted = relay.counted().since(before);
    let cpu = cpu.percent();
    let seconds = plan.scene.as_secs_f64();
    let drawn_per_s = drawn_before
        .zip(drawn())
        .map(|(b, a)| (a - b) as f64 / seconds);
    drop(viewer);
    drop(relay);
    let _ = server.terminate();
    Measured {
        bytes_per_s: counted.bytes as f64 / seconds,
        updates_per_s: counted.bursts as f64 / seconds,
        cpu,
        drawn_per_s,
        viewer: None,
    }
}

fn child_of(pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// A port nobody listens on now (the OS's pick, released for wayvnc).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
