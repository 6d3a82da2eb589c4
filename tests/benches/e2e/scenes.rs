//! Everyday scenes, lookout against x11vnc, each with its own real viewer
//! on display B, on the same desktop in the same run: typing into an xterm
//! (12 keys/s), the xterm printing 20 lines/s, dragging it (30 moves/s),
//! and the full-motion animated desktop. Bytes are counted by a relay on
//! the server's side of each viewer's connection ([`crate::relay`]).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lookout_tests::process::{AgentProcess, Running, command};
use lookout_tests::x11::Window;

use crate::Plan;
use crate::animator::Animator;
use crate::desktop::{Desktop, XTERM_AT, Xterm, desktop_rgba};
use crate::measure::{CpuMeter, TOKEN, sleep_until};
use crate::relay::Relay;

/// TigerVNC viewer's options: its defaults, written out. With AutoSelect on
/// loopback it asks for Tight at quality level 8, which x11vnc logs as
/// "JPEG subsampling 0, Q92" (4:4:4), lossless where an area has few
/// colours.
pub(crate) const VNC_VIEWER_ARGS: &[&str] = &[
    "-PreferredEncoding=Tight",
    "-AutoSelect=1",
    "-RemoteResize=0",
    "-AlertOnFatalError=0",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scene {
    Typing,
    Scrolling,
    Dragging,
    Animated,
}

impl Scene {
    const ALL: [Scene; 4] = [
        Scene::Typing,
        Scene::Scrolling,
        Scene::Dragging,
        Scene::Animated,
    ];

    fn name(self) -> &'static str {
        match self {
            Scene::Typing => "typing into an xterm, 12 keys/s",
            Scene::Scrolling => "text scrolling in an xterm, 20 lines/s",
            Scene::Dragging => "dragging a window, 30 moves/s",
            Scene::Animated => "full-motion animated desktop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Lookout,
    X11vnc,
}

/// One system's figures in one scene.
#[derive(Debug)]
struct Measured {
    bytes_per_s: f64,
    updates_per_s: f64,
    cpu: f64,
    difference: f64,
}

/// Runs every scene with both systems and prints the table.
pub(crate) fn scenes(plan: &Plan) {
    let (w, h) = plan.scene_size;
    let desktop = Desktop::start(w, h, plan.shots.clone());
    let animator = Animator::start_with(desktop.a.display(), desktop_rgba(w, h), w, h);
    println!(
        "## Everyday scenes, {w}x{h}, {} s each",
        plan.scene.as_secs()
    );
    println!();
    println!(
        "| scene | lookout KiB/s | x11vnc KiB/s | lookout / x11vnc | agent CPU lookout / x11vnc | updates/s lookout / x11vnc | picture difference lookout / x11vnc |"
    );
    println!("|---|---|---|---|---|---|---|");
    for scene in Scene::ALL {
        let l = measure(&desktop, &animator, scene, System::Lookout, plan);
        let v = measure(&desktop, &animator, scene, System::X11vnc, plan);
        println!(
            "| {} | {:.1} | {:.1} | {:.2}x | {:.1}% / {:.1}% | {:.1} / {:.1} | {:.2} / {:.2} |",
            scene.name(),
            l.bytes_per_s / 1024.0,
            v.bytes_per_s / 1024.0,
            l.bytes_per_s / v.bytes_per_s.max(1.0),
            l.cpu,
            v.cpu,
            l.updates_per_s,
            v.updates_per_s,
            l.difference,
            v.difference,
        );
        if plan.smoke {
            assert!(l.bytes_per_s > 0.0 && v.bytes_per_s > 0.0, "{scene:?}");
        }
    }
    animator.stop();
    println!();
    println!(
        "Bytes counted server to viewer on the server's side of the connection; updates/s are bursts of them at least 4 ms apart; picture difference is the mean per channel (0-255) between display A and the viewer window on B, 1.5 s after the scene stops. TigerVNC viewer options: {}.",
        VNC_VIEWER_ARGS.join(" ")
    );
    println!();
}

/// A server and its real viewer on B, through a counting relay.
pub(crate) struct Watched {
    pub(crate) server: Running,
    pub(crate) relay: Relay,
    pub(crate) viewer: Running,
    pub(crate) window: Window,
}

fn measure(
    d: &Desktop,
    animator: &Animator,
    scene: Scene,
    system: System,
    plan: &Plan,
) -> Measured {
    let mut xterm = d.xterm();
    animator.set_running(scene == Scene::Animated);
    let watched = match system {
        System::Lookout => lookout(d),
        System::X11vnc => x11vnc(d),
    };
    // Connected, first picture shown, the agent settled.
    std::thread::sleep(Duration::from_secs(2));
    let before = watched.relay.counted();
    let cpu = CpuMeter::start(watched.server.pid());
    let started = Instant::now();
    play(d, &mut xterm, scene, plan.scene);
    let seconds = started.elapsed().as_secs_f64();
    let counted = watched.relay.counted().since(before);
    let cpu = cpu.percent();
    animator.set_running(false);
    std::thread::sleep(Duration::from_millis(1500));
    let difference = d.shown_difference(watched.window, &format!("{scene:?}-{system:?}"));
    drop(watched.viewer);
    drop(watched.relay);
    let _ = watched.server.terminate();
    Measured {
        bytes_per_s: counted.bytes as f64 / seconds,
        updates_per_s: counted.bursts as f64 / seconds,
        cpu,
        difference,
    }
}

/// Plays `scene` for `length`.
pub(crate) fn play(d: &Desktop, xterm: &mut Xterm, scene: Scene, length: Duration) {
    let end = Instant::now() + length;
    match scene {
        Scene::Typing => {
            // 12 keys a second: xdotool waits 83 ms between keys.
            let keys = (length.as_secs_f64() * 12.0) as usize;
            let text: String = "the quick brown fox jumps over the lazy dog "
                .chars()
                .cycle()
                .take(keys)
                .collect();
            let mut cmd = d.a.command("xdotool");
            cmd.args(["type", "--delay", "83", &text]);
            let mut typing = Running::spawn(cmd);
            let _ = typing.wait_exit(length + Duration::from_secs(5));
        }
        Scene::Scrolling => paced(end, 20, |i| {
            xterm.print(&format!(
                "line {i} of the scrolling scene: the quick brown fox jumps over the lazy dog 0123456789"
            ));
        }),
        Scene::Dragging => paced(end, 30, |i| {
            let x = XTERM_AT.0 + ((i * 7) % 600) as i32;
            let y = XTERM_AT.1 + ((i * 5) % 300) as i32;
            let _ =
                d.a.command("xdotool")
                    .args(["windowmove", &xterm.window.0.to_string()])
                    .args([x.to_string(), y.to_string()])
                    .status();
        }),
        Scene::Animated => sleep_until(end),
    }
}

/// Calls `step` `per_second` times a second until `end`.
fn paced(end: Instant, per_second: u32, mut step: impl FnMut(u64)) {
    let period = Duration::from_secs(1) / per_second;
    let mut at = Instant::now();
    // Bounded by `end`.
    for i in 0.. {
        if at >= end {
            break;
        }
        step(i);
        at += period;
        sleep_until(at);
    }
}

pub(crate) fn lookout(d: &Desktop) -> Watched {
    let agent = AgentProcess::start(Some(d.a.display()), &["--token", TOKEN, "--fps", "60"]);
    let relay = Relay::start(agent.addr);
    let mut cmd = command("lookout-viewer");
    cmd.arg(relay.addr().to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", TOKEN])
        .env("DISPLAY", d.b.display())
        .env("RUST_LOG", "warn")
        .env_remove("LOOKOUT_TOKEN");
    let viewer = Running::spawn(cmd);
    let window =
        d.b.find_window("lookout", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no lookout-viewer window: {}", viewer.process_output()));
    Watched {
        server: agent.process,
        relay,
        viewer,
        window,
    }
}

fn x11vnc(d: &Desktop) -> Watched {
    let port = free_port();
    let mut cmd = std::process::Command::new("x11vnc");
    cmd.args(["-display", d.a.display(), "-rfbport", &port.to_string()])
        .args(["-localhost", "-nopw", "-forever", "-shared", "-quiet"]);
    let server = Running::spawn(cmd);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    // Bounded by the deadline.
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "x11vnc does not listen: {}",
            server.process_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let relay = Relay::start(addr);
    let mut cmd = d.b.command("xtigervncviewer");
    cmd.args(VNC_VIEWER_ARGS)
        .arg(format!("127.0.0.1::{}", relay.addr().port()));
    let viewer = Running::spawn(cmd);
    let window =
        d.b.find_window("TigerVNC", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no TigerVNC window: {}", viewer.process_output()));
    Watched {
        server,
        relay,
        viewer,
        window,
    }
}

/// A port nobody listens on now (the OS's pick, released for x11vnc).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
