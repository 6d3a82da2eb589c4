//! `lookout-viewer --wall`: sixteen real agents (each its own test scene,
//! `--pattern-seed`) on loopback, one wall window on a virtual display,
//! looked at the way a person would (screenshots, the window title) and
//! steered with xdotool.

use std::io::Write;
use std::time::{Duration, Instant};

use image::RgbImage;
use image::imageops::{self, FilterType};
use lookout_server::capture::TestPattern;
use lookout_tests::process::{AgentProcess, Running, TempDir, command};
use lookout_tests::x11::{Geometry, Window, Xvfb, letterbox, mean_abs_diff};
use lookout_viewer::wall::grid::{Grid, Rect};
use lookout_viewer::wall::paint::{LABEL_H, state_color};
use lookout_viewer::wall::tile::TileState;

const TOKEN: &str = "wall-e2e-token-0123";
const AGENTS: usize = 16;
const SCENE: (u32, u32) = (320, 180);

/// Agent `seed`: the test scene variant `seed`, named `wall-SEED`; on
/// `display` if given (its input then moves that display's pointer).
fn agent(seed: usize, display: Option<&str>, bind: &str, identity: Option<&str>) -> AgentProcess {
    let seed = seed.to_string();
    let name = format!("wall-{seed}");
    let size = format!("{}x{}", SCENE.0, SCENE.1);
    let mut args = vec![
        "--token",
        TOKEN,
        "--source",
        "test-pattern",
        "--pattern-size",
        &size,
        "--pattern-seed",
        &seed,
        "--name",
        &name,
    ];
    if let Some(dir) = identity {
        args.extend(["--identity", dir]);
    }
    AgentProcess::start_on(bind, display, &args)
}

/// Seed `seed`'s scene as the agent renders it (the moving window aside).
fn scene(seed: usize) -> RgbImage {
    let image = TestPattern::still(SCENE.0, SCENE.1)
        .seeded(seed as u32)
        .render(0.0);
    let rgb = image
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]]);
    RgbImage::from_raw(SCENE.0, SCENE.1, rgb.collect()).expect("scene size")
}

/// Tile `index` of the wall in `window`, in screen coordinates.
fn tile(g: Geometry, index: usize) -> Rect {
    let grid = Grid::best(AGENTS, (g.width, g.height), 16.0 / 9.0, LABEL_H);
    let r = grid.rect(index);
    Rect {
        x: r.x + g.x.max(0) as u32,
        y: r.y + g.y.max(0) as u32,
        ..r
    }
}

/// What tile `index` shows as its picture, scaled back to the scene's size.
fn tile_picture(shot: &RgbImage, g: Geometry, index: usize) -> RgbImage {
    let r = tile(g, index);
    let (ox, oy, w, h) = letterbox(SCENE, (r.w, r.h - LABEL_H));
    let region = imageops::crop_imm(shot, r.x + ox, r.y + oy, w, h).to_image();
    imageops::resize(&region, SCENE.0, SCENE.1, FilterType::Triangle)
}

/// Which seed's scene tile `index` looks most like.
fn closest_seed(shot: &RgbImage, g: Geometry, index: usize, scenes: &[RgbImage]) -> usize {
    let seen = tile_picture(shot, g, index);
    (0..scenes.len())
        .min_by(|&a, &b| {
            mean_abs_diff(&seen, &scenes[a]).total_cmp(&mean_abs_diff(&seen, &scenes[b]))
        })
        .expect("scenes")
}

/// The colour of tile `index`'s label strip (its bottom-right pixel, where
/// no text reaches on a wall this size).
fn strip(shot: &RgbImage, g: Geometry, index: usize) -> u32 {
    let r = tile(g, index);
    let [red, green, blue] = shot.get_pixel(r.x + r.w - 2, r.y + r.h - 2).0;
    u32::from_be_bytes([0, red, green, blue])
}

/// Polls until every tile shows its own agent's scene; returns the tiles
/// that did not, at the deadline.
fn wait_every_tile_right(b: &Xvfb, window: Window, within: Duration) -> Vec<(usize, usize)> {
    let scenes: Vec<RgbImage> = (0..AGENTS).map(scene).collect();
    let deadline = Instant::now() + within;
    loop {
        let shot = b.screenshot();
        let g = b.geometry(window);
        let wrong: Vec<(usize, usize)> = (0..AGENTS)
            .map(|i| (i, closest_seed(&shot, g, i, &scenes)))
            .filter(|&(i, seen)| i != seen)
            .collect();
        if wrong.is_empty() || Instant::now() >= deadline {
            return wrong;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_wall_of_sixteen_agents_shows_each_in_its_tile_follows_a_restart_and_opens_one_full_size() {
    let b = Xvfb::start(1600, 1000);
    // Agent 3 runs on a display of its own: its input moves that pointer.
    let a = Xvfb::start(640, 480);
    let mut agents: Vec<Option<AgentProcess>> = (0..AGENTS)
        .map(|i| Some(agent(i, (i == 3).then(|| a.display()), "127.0.0.1:0", None)))
        .collect();
    // Every agent by name, with its own pin, from the config file; the
    // token from the environment, for all of them.
    let dir = TempDir::new("wall");
    let config = dir.path().join("config.toml");
    let mut file = std::fs::File::create(&config).expect("config file");
    for (i, agent) in agents.iter().flatten().enumerate() {
        let fingerprint = agent.fingerprint.expect("a TLS agent");
        writeln!(
            file,
            "[hosts.wall-{i}]\naddress = \"{}\"\nfingerprint = \"{fingerprint}\"\n",
            agent.addr
        )
        .expect("write config");
    }
    drop(file);
    let started = Instant::now();
    let mut cmd = command("lookout-viewer");
    cmd.arg("--wall")
        .args((0..AGENTS).map(|i| format!("wall-{i}")))
        .arg("--config")
        .arg(&config)
        // The harness reads no config file; this test is about one.
        .env_remove("LOOKOUT_NO_CONFIG")
        .env("LOOKOUT_TOKEN", TOKEN)
        .env("DISPLAY", b.display())
        .env("RUST_LOG", "info")
        .current_dir(dir.path());
    let wall = Running::spawn(cmd);
    let Some(window) = b.find_window("lookout wall", Duration::from_secs(20)) else {
        panic!("no wall window; its log:\n{}", wall.stderr.text());
    };
    let title = b.wait_title(window, "16 live", Duration::from_secs(20));
    assert!(
        title.contains("16 live"),
        "{title:?}\n{}",
        wall.stderr.text()
    );
    eprintln!("16 live tiles {:?} after start", started.elapsed());

    // Each tile shows its own agent's scene, in grid order.
    let wrong = wait_every_tile_right(&b, window, Duration::from_secs(10));
    assert!(
        wrong.is_empty(),
        "tiles showing another agent (tile, seed): {wrong:?}"
    );
    // Each tile is labelled with the agent's own name.
    let log = wall.stderr.text();
    for i in 0..AGENTS {
        assert!(
            log.contains(&format!("name=wall-{i} ")),
            "wall-{i} in\n{log}"
        );
    }

    // F9 saves the whole wall, at the window's size.
    let g = b.geometry(window);
    b.move_pointer(g.x + 10, g.y + 10);
    b.key("F9");
    let saved = wall.stderr.wait_for(Duration::from_secs(10), |line| {
        let at = line.find("saved the wall as ")? + "saved the wall as ".len();
        Some(line[at..].trim().to_owned())
    });
    let saved = saved.unwrap_or_else(|| panic!("no wall PNG: {}", wall.stderr.text()));
    let png = image::open(dir.path().join(&saved))
        .expect("the wall PNG")
        .to_rgb8();
    assert_eq!(png.dimensions(), (g.width, g.height));

    // F8 pauses every agent (stop_monitor), F8 again resumes them.
    b.key("F8");
    let title = b.wait_title(window, "16 paused", Duration::from_secs(10));
    assert!(title.contains("16 paused"), "{title:?}");
    b.key("F8");
    let title = b.wait_title(window, "16 live", Duration::from_secs(10));
    assert!(title.contains("16 live"), "{title:?}");

    // Agent 7 goes away: its tile says so, the others stay live.
    let gone = agents[7].take().expect("agent 7");
    let (addr, identity) = (gone.addr, gone.identity_dir().expect("identity").to_owned());
    let identity_copy = TempDir::new("wall-identity");
    for entry in std::fs::read_dir(&identity).expect("identity dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), identity_copy.path().join(entry.file_name())).expect("copy");
    }
    drop(gone);
    let title = b.wait_title(window, "1 reconnecting", Duration::from_secs(15));
    assert!(title.contains("15 live, 1 reconnecting"), "{title:?}");
    let reconnecting = state_color(&TileState::Reconnecting);
    let deadline = Instant::now() + Duration::from_secs(5);
    while strip(&b.screenshot(), g, 7) != reconnecting && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let shot = b.screenshot();
    assert_eq!(strip(&shot, g, 7), reconnecting, "tile 7's strip");
    assert_eq!(
        strip(&shot, g, 6),
        state_color(&TileState::Live),
        "tile 6's strip"
    );

    // Back on the same port with the same identity: live again, same scene.
    let identity = identity_copy
        .path()
        .to_str()
        .expect("utf-8 path")
        .to_owned();
    agents[7] = Some(agent(7, None, &addr.to_string(), Some(&identity)));
    let title = b.wait_title(window, "16 live", Duration::from_secs(20));
    assert!(title.contains("16 live"), "{title:?}");
    let wrong = wait_every_tile_right(&b, window, Duration::from_secs(10));
    assert!(
        wrong.is_empty(),
        "after the restart (tile, seed): {wrong:?}"
    );

    // A click on tile 3 opens agent 3 full size, which steers agent 3.
    let r = tile(g, 3);
    let centre = ((r.x + r.w / 2) as i32, (r.y + r.h / 2) as i32);
    b.move_pointer(centre.0, centre.1);
    // A click as long as a person's: minifb reports the button as held or
    // not at each frame, so a scripted zero-length click could fall between
    // two frames.
    for (action, hold) in [("mousedown", 300), ("mouseup", 0)] {
        let done = b.command("xdotool").args([action, "1"]).status();
        assert!(done.is_ok_and(|s| s.success()), "xdotool {action}");
        std::thread::sleep(Duration::from_millis(hold));
    }
    let three = agents[3].as_ref().expect("agent 3").addr;
    // The full view's title names its agent ("lookout · HOST:PORT · ...";
    // xdotool's search does not match the middle dot).
    let Some(full) = b.find_window(&three.to_string(), Duration::from_secs(15)) else {
        panic!("no full view of {three}; wall log:\n{}", wall.stderr.text());
    };
    let title = b.wait_title(full, "· live", Duration::from_secs(15));
    assert!(
        title.contains(&format!("lookout · {three} · live")),
        "{title:?}"
    );
    let fg = b.geometry(full);
    let (ox, oy, w, _) = letterbox(SCENE, (fg.width, fg.height));
    let scale = f64::from(w) / f64::from(SCENE.0);
    let (ax, ay) = (250, 140);
    b.move_pointer(
        fg.x + ox as i32 + (f64::from(ax) * scale) as i32,
        fg.y + oy as i32 + (f64::from(ay) * scale) as i32,
    );
    let at = a.wait_pointer((ax, ay), Duration::from_secs(5));
    assert!(
        (at.0 - ax).abs() <= 1 && (at.1 - ay).abs() <= 1,
        "agent 3's pointer is at {at:?}, not ({ax},{ay})"
    );
    // The wall keeps running beside it.
    assert!(b.window_name(window).contains("16 live"));
}

#[test]
fn a_wall_of_discovered_agents_shows_every_agent_that_answers() {
    let b = Xvfb::start(1200, 800);
    let agents: Vec<AgentProcess> = (0..3)
        .map(|i| agent(i, None, "127.0.0.1:0", None))
        .collect();
    let dir = TempDir::new("wall-discover");
    let mut cmd = command("lookout-viewer");
    cmd.args(["--wall", "--discover"])
        // Probed directly (loopback has no broadcast); trusted on first
        // meeting, as any host, never by what the reply claims.
        .args(
            agents
                .iter()
                .flat_map(|a| ["--probe".to_owned(), a.addr.to_string()]),
        )
        .arg("--known-hosts")
        .arg(dir.path().join("known_hosts"))
        .env("LOOKOUT_TOKEN", TOKEN)
        .env("DISPLAY", b.display())
        .env("RUST_LOG", "info")
        .current_dir(dir.path());
    let wall = Running::spawn(cmd);
    let Some(window) = b.find_window("lookout wall", Duration::from_secs(20)) else {
        panic!("no wall window; its log:\n{}", wall.stderr.text());
    };
    let title = b.wait_title(window, "3 live", Duration::from_secs(20));
    assert!(
        title.contains("3 agents") && title.contains("3 live"),
        "{title:?}\n{}",
        wall.stderr.text()
    );
    let log = wall.stderr.text();
    for i in 0..3 {
        assert!(
            log.contains(&format!("wall-{i}")),
            "agent {i} not named:\n{log}"
        );
    }
}
