//! The real viewer binary against the real agent binary, each on its own
//! virtual X display: display A is the watched machine, display B the
//! watcher's. We look at B the way a person would (screenshots) and steer
//! A through B's pointer and keyboard.

use std::time::Duration;

use image::RgbImage;
use image::imageops::{self, FilterType};
use lookout_tests::process::{AgentProcess, Running, command};
use lookout_tests::x11::{Geometry, Window, Xvfb, letterbox, mean_abs_diff, test_card};

const TOKEN: &str = "viewer-e2e-token";
const A_SIZE: (u32, u32) = (640, 480);

/// The viewer binary on `display`, pinned to `agent`'s fingerprint.
fn viewer(display: &str, agent: &AgentProcess, extra: &[&str]) -> Running {
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", TOKEN])
        .args(extra)
        .env("DISPLAY", display)
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN");
    Running::spawn(cmd)
}

/// What B's screen shows inside the viewer window's image area, scaled back
/// to the agent's screen size for comparison.
fn shown(b: &Xvfb, window: Window) -> RgbImage {
    let shot = b.screenshot();
    let g = b.geometry(window);
    let (ox, oy, w, h) = letterbox(A_SIZE, (g.width, g.height));
    let region = imageops::crop_imm(
        &shot,
        (g.x.max(0) as u32) + ox,
        (g.y.max(0) as u32) + oy,
        w,
        h,
    )
    .to_image();
    imageops::resize(&region, A_SIZE.0, A_SIZE.1, FilterType::Triangle)
}

/// Polls B until the viewer shows `expected` (mean difference under
/// `tolerance`); returns the last difference seen.
fn wait_shows(b: &Xvfb, window: Window, expected: &RgbImage, within: Duration) -> f64 {
    let deadline = std::time::Instant::now() + within;
    loop {
        let diff = mean_abs_diff(&shown(b, window), expected);
        if diff < 12.0 || std::time::Instant::now() >= deadline {
            return diff;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Scene {
    a: Xvfb,
    b: Xvfb,
    agent: AgentProcess,
    viewer: Running,
    window: Window,
    card: RgbImage,
}

/// A shows the test card, the agent runs on A, the viewer on B is live.
fn scene() -> Scene {
    scene_with(&[])
}

/// [`scene`], with these extra viewer options.
fn scene_with(viewer_args: &[&str]) -> Scene {
    let a = Xvfb::start(A_SIZE.0, A_SIZE.1);
    let b = Xvfb::start(1024, 768);
    let card = test_card(A_SIZE.0, A_SIZE.1);
    a.set_root_image(&card);
    let agent = AgentProcess::start(Some(a.display()), &["--token", TOKEN, "--quality", "90"]);
    let viewer = viewer(b.display(), &agent, viewer_args);
    let Some(window) = b.find_window("lookout", Duration::from_secs(15)) else {
        panic!(
            "no viewer window on B; viewer log:\n{}",
            viewer.stderr.text()
        );
    };
    let title = b.wait_title(window, "· live", Duration::from_secs(10));
    assert!(
        title.contains("· live"),
        "viewer never went live: {title:?}"
    );
    Scene {
        a,
        b,
        agent,
        viewer,
        window,
        card,
    }
}

fn centre_of(g: Geometry) -> (i32, i32) {
    (g.x + g.width as i32 / 2, g.y + g.height as i32 / 2)
}

#[test]
fn viewer_window_shows_the_agent_screen_in_the_right_arrangement() {
    let s = scene();
    let g = s.b.geometry(s.window);
    // The window's first size fits the frame.
    assert_eq!((g.width, g.height), A_SIZE, "initial window size");
    let diff = wait_shows(&s.b, s.window, &s.card, Duration::from_secs(5));
    assert!(
        diff < 12.0,
        "B does not show A's screen: mean difference {diff:.1}"
    );
    // Each quadrant in its place, not just a similar average.
    let seen = shown(&s.b, s.window);
    for (px, py) in [(160, 120), (480, 120), (160, 360), (480, 360)] {
        let (got, want) = (seen.get_pixel(px, py).0, s.card.get_pixel(px, py).0);
        assert!(
            got.iter().zip(want).all(|(x, y)| x.abs_diff(y) < 30),
            "at ({px},{py}) B shows {got:?}, A has {want:?}"
        );
    }
    // Figures are refreshed about once a second.
    let title = s.b.wait_title(s.window, "fps", Duration::from_secs(3));
    assert!(
        title.contains("fps"),
        "live figures in the title: {title:?}"
    );
    drop(s.viewer);
}

#[test]
fn pointer_over_the_viewer_moves_the_agents_pointer_onto_the_matching_part() {
    let s = scene();
    let g = s.b.geometry(s.window);
    let (ox, oy, w, _) = letterbox(A_SIZE, (g.width, g.height));
    let scale = f64::from(w) / f64::from(A_SIZE.0);
    for (ax, ay) in [(100, 80), (600, 400), (320, 240)] {
        let bx = g.x + ox as i32 + (f64::from(ax) * scale) as i32;
        let by = g.y + oy as i32 + (f64::from(ay) * scale) as i32;
        s.b.move_pointer(bx, by);
        let at = s.a.wait_pointer((ax, ay), Duration::from_secs(3));
        assert!(
            (at.0 - ax).abs() <= 1 && (at.1 - ay).abs() <= 1,
            "B pointer at ({bx},{by}) should put A's at ({ax},{ay}); it is at {at:?}"
        );
    }
}

#[test]
fn f8_pauses_the_stream_and_f8_again_resumes_it() {
    let s = scene();
    // Keyboard focus follows the pointer: put it on the viewer.
    let (cx, cy) = centre_of(s.b.geometry(s.window));
    s.b.move_pointer(cx, cy);
    assert!(wait_shows(&s.b, s.window, &s.card, Duration::from_secs(5)) < 12.0);

    s.b.key("F8");
    let title = s.b.wait_title(s.window, "paused", Duration::from_secs(5));
    assert!(title.contains("paused"), "title after F8: {title:?}");
    let card2 = imageops::flip_horizontal(&s.card);
    s.a.set_root_image(&card2);
    std::thread::sleep(Duration::from_millis(1500));
    let diff_old = mean_abs_diff(&shown(&s.b, s.window), &s.card);
    assert!(
        diff_old < 12.0,
        "paused viewer changed its picture ({diff_old:.1})"
    );

    s.b.key("F8");
    let title = s.b.wait_title(s.window, "· live", Duration::from_secs(5));
    assert!(title.contains("· live"), "title after second F8: {title:?}");
    let diff_new = wait_shows(&s.b, s.window, &card2, Duration::from_secs(5));
    assert!(
        diff_new < 12.0,
        "resumed viewer does not show the change ({diff_new:.1})"
    );
}

#[test]
fn viewer_survives_the_agent_being_killed_and_reconnects_when_it_returns() {
    let s = scene();
    let addr = s.agent.addr;
    let identity = s
        .agent
        .identity_dir()
        .expect("a harness identity")
        .to_owned();
    let mut agent = s.agent.process;
    agent.signal("KILL");
    assert!(agent.wait_exit(Duration::from_secs(5)).is_some());
    let title =
        s.b.wait_title(s.window, "reconnecting", Duration::from_secs(15));
    assert!(
        title.contains("reconnecting"),
        "title with the agent gone: {title:?}"
    );
    // The window stays, with the last image.
    let mut viewer = s.viewer;
    assert!(
        viewer.try_status().is_none(),
        "viewer exited with the agent"
    );
    assert!(mean_abs_diff(&shown(&s.b, s.window), &s.card) < 12.0);

    let card2 = imageops::flip_vertical(&s.card);
    s.a.set_root_image(&card2);
    // The same identity: a restarted agent is the same agent to the viewer.
    let restarted = std::time::Instant::now();
    let _agent = AgentProcess::start_on(
        &addr.to_string(),
        Some(s.a.display()),
        &["--token", TOKEN, "--identity", identity.to_str().unwrap()],
    );
    let title = s.b.wait_title(s.window, "· live", Duration::from_secs(10));
    eprintln!("live again {:?} after the restart", restarted.elapsed());
    assert!(
        title.contains("· live"),
        "viewer did not come back: {title:?}"
    );
    let diff = wait_shows(&s.b, s.window, &card2, Duration::from_secs(5));
    assert!(
        diff < 12.0,
        "after reconnecting B shows stale content ({diff:.1})"
    );
}

#[test]
fn viewer_notices_a_frozen_agent_within_the_silence_limit_and_recovers_when_it_thaws_out() {
    // The protocol's 15 s silence limit scaled down to 3 s (pings every
    // second): the rule is the same.
    let s = scene_with(&["--timeouts", "silence=3s,ping=1s"]);
    // A frozen agent closes nothing: only the missing pongs tell.
    s.agent.process.signal("STOP");
    let frozen = std::time::Instant::now();
    let title =
        s.b.wait_title(s.window, "reconnecting", Duration::from_secs(10));
    let noticed = frozen.elapsed();
    assert!(title.contains("reconnecting"), "title: {title:?}");
    eprintln!("frozen agent noticed after {noticed:?}");
    assert!(
        noticed <= Duration::from_secs(7),
        "noticed after {noticed:?}"
    );
    s.agent.process.signal("CONT");
    let title = s.b.wait_title(s.window, "· live", Duration::from_secs(15));
    assert!(title.contains("· live"), "not live again: {title:?}");
    drop(s.viewer);
}

#[test]
fn snapshot_writes_a_png_that_matches_the_screen() {
    let a = Xvfb::start(A_SIZE.0, A_SIZE.1);
    let card = test_card(A_SIZE.0, A_SIZE.1);
    a.set_root_image(&card);
    let agent = AgentProcess::start(Some(a.display()), &["--token", TOKEN, "--quality", "90"]);
    let out = std::env::temp_dir().join(format!("lookout-snapshot-{}.png", std::process::id()));
    let mut snap = viewer(
        "",
        &agent,
        &["--snapshot", out.to_str().unwrap(), "--frames", "3"],
    );
    let status = snap
        .wait_exit(Duration::from_secs(20))
        .expect("snapshot finishes");
    assert!(status.success(), "snapshot failed: {}", snap.stderr.text());
    let png = image::open(&out).expect("a PNG was written").to_rgb8();
    let _ = std::fs::remove_file(&out);
    assert_eq!(png.dimensions(), A_SIZE);
    let diff = mean_abs_diff(&png, &card);
    assert!(diff < 4.0, "snapshot differs from the screen: {diff:.2}");
}

#[test]
fn wrong_token_is_not_retried_and_exits_2() {
    let agent = AgentProcess::start(None, &["--token", TOKEN, "--source", "test-pattern"]);
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", "wrong", "--snapshot", "/dev/null"])
        .env_remove("LOOKOUT_TOKEN");
    let mut snap = Running::spawn(cmd);
    let status = snap
        .wait_exit(Duration::from_secs(15))
        .expect("viewer exits");
    assert_eq!(status.code(), Some(2), "{}", snap.stderr.text());
    let err = snap.stderr.text().to_lowercase();
    assert!(
        err.contains("token"),
        "the message names the problem: {err}"
    );
}

#[test]
fn the_first_window_fits_a_screen_smaller_than_the_frame_and_keeps_its_shape() {
    // A 1280x720 agent watched from an 800x600 screen: the window must fit
    // (with room for panels) and keep 16:9, not open at the frame's size.
    let agent = AgentProcess::start(
        None,
        &[
            "--token",
            TOKEN,
            "--source",
            "test-pattern",
            "--pattern-size",
            "1280x720",
        ],
    );
    let b = Xvfb::start(800, 600);
    let viewer = viewer(b.display(), &agent, &[]);
    let Some(window) = b.find_window("lookout", Duration::from_secs(15)) else {
        panic!("no viewer window; viewer log:\n{}", viewer.stderr.text());
    };
    let g = b.geometry(window);
    assert!(
        g.width <= 800 * 9 / 10 && g.height <= 600 * 9 / 10,
        "the window {}x{} does not fit 90% of an 800x600 screen",
        g.width,
        g.height
    );
    let (shape, frame) = (g.width as f64 / g.height as f64, 1280.0 / 720.0);
    assert!(
        (shape - frame).abs() < 0.02,
        "the window {}x{} lost the frame's 16:9 shape",
        g.width,
        g.height
    );
    assert!(
        g.width >= 640,
        "the window {}x{} is needlessly small",
        g.width,
        g.height
    );
}
