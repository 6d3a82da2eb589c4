//! The browser viewer in headless chromium on display A's desktop: the
//! full-motion animated desktop's frame rate and capture-to-canvas latency
//! as the page measures them (`window.lookout.stats`, from each frame's
//! `captured_at_us`), and the typing scene's bytes per second through the
//! page against the native viewer's. Both viewers reach the agent through
//! the same counting relay ([`crate::relay`]), so TLS and framing
//! (WebSocket or not) are counted alike.

use std::time::{Duration, Instant};

use lookout_tests::process::{AgentProcess, TempDir};
use serde_json::Value;

use crate::Plan;
use crate::animator::Animator;
use crate::desktop::{Desktop, desktop_rgba};
use crate::measure::TOKEN;
use crate::relay::Relay;
use crate::scenes::{Scene, lookout, play};
use crate::web_browser::{BROWSER_WAIT, Browser};

/// Settling time before each measurement: signed in, first picture shown.
const SETTLE: Duration = Duration::from_secs(2);

/// What the page measured.
struct PageFigures {
    fps: f64,
    p50_ms: f64,
    canvas: (u64, u64),
    typing_bytes_per_s: f64,
}

/// Runs the part and prints its table.
pub(crate) fn web(plan: &Plan) {
    let (w, h) = plan.scene_size;
    let desktop = Desktop::start(w, h, None);
    let animator = Animator::start_with(desktop.a.display(), desktop_rgba(w, h), w, h);
    let identity = TempDir::new("web-bench");
    let dir = identity.path().join("id");
    let dir_arg = dir.to_str().expect("a UTF-8 temp path").to_owned();
    let agent = AgentProcess::start(
        Some(desktop.a.display()),
        &["--token", TOKEN, "--fps", "60", "--identity", &dir_arg],
    );
    let relay = Relay::start(agent.addr);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let page = runtime.block_on(in_the_page(&desktop, &animator, &relay, &dir, plan));
    animator.stop();
    drop(relay);
    let _ = agent.process.terminate();
    let Some(page) = page else {
        return;
    };

    // The native viewer on B, the same typing.
    let mut xterm = desktop.xterm();
    let native = lookout(&desktop);
    std::thread::sleep(SETTLE);
    let window = desktop.b.geometry(native.window);
    let before = native.relay.counted();
    let started = Instant::now();
    play(&desktop, &mut xterm, Scene::Typing, plan.scene);
    let native_bytes =
        native.relay.counted().since(before).bytes as f64 / started.elapsed().as_secs_f64();
    drop(native);

    println!("## Browser viewer, headless chromium, {w}x{h}");
    println!();
    println!("| figure | browser viewer | native viewer |");
    println!("|---|---|---|");
    println!(
        "| animated desktop: frames drawn/s (canvas {}x{}) | {:.1} | |",
        page.canvas.0, page.canvas.1, page.fps
    );
    println!(
        "| animated desktop: p50 capture-to-canvas latency | {:.1} ms | |",
        page.p50_ms
    );
    println!(
        "| typing into an xterm, 12 keys/s: KiB/s (page canvas {}x{}, native window {}x{}) | {:.1} | {:.1} ({:+.1}%) |",
        page.canvas.0,
        page.canvas.1,
        window.width,
        window.height,
        page.typing_bytes_per_s / 1024.0,
        native_bytes / 1024.0,
        (page.typing_bytes_per_s / native_bytes.max(1.0) - 1.0) * 100.0
    );
    println!();
    println!(
        "Agent `--fps 60`; bytes counted server to viewer by a relay on the agent's side (TLS included; WebSocket framing for the page); latency from each frame's captured_at_us to the moment the page drew it; scene {} s.",
        plan.scene.as_secs()
    );
    println!();
}

/// Signs the page in through `relay` and measures the animated desktop,
/// then the typing scene; `None` without chromium.
async fn in_the_page(
    desktop: &Desktop,
    animator: &Animator,
    relay: &Relay,
    identity: &std::path::Path,
    plan: &Plan,
) -> Option<PageFigures> {
    let (w, h) = desktop.size;
    // Room for the whole picture at 1:1 beside chromium's frame and the
    // status bar.
    let browser = Browser::start_sized(identity, (w + 80, h + 300)).await?;
    browser.open(relay.addr()).await;
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live");

    animator.set_running(true);
    tokio::time::sleep(SETTLE).await;
    let start = number(
        &browser,
        "const s = window.lookout.stats; s.latencies.length = 0; return s.drawn",
    )
    .await;
    let started = Instant::now();
    tokio::time::sleep(plan.scene).await;
    let drawn = number(&browser, "return window.lookout.stats.drawn").await;
    let fps = (drawn - start) / started.elapsed().as_secs_f64();
    let p50_ms = number(&browser, "return window.lookout.stats.p50()").await;
    let canvas = browser
        .js("const c = document.getElementById('screen'); return [c.width, c.height]")
        .await;
    let canvas = (
        canvas[0].as_u64().unwrap_or(0),
        canvas[1].as_u64().unwrap_or(0),
    );
    animator.set_running(false);

    let mut xterm = desktop.xterm();
    tokio::time::sleep(SETTLE).await;
    let before = relay.counted();
    let started = Instant::now();
    tokio::task::block_in_place(|| play(desktop, &mut xterm, Scene::Typing, plan.scene));
    let typing_bytes_per_s =
        relay.counted().since(before).bytes as f64 / started.elapsed().as_secs_f64();
    browser.close().await;
    Some(PageFigures {
        fps,
        p50_ms,
        canvas,
        typing_bytes_per_s,
    })
}

async fn number(browser: &Browser, script: &str) -> f64 {
    match browser.js(script).await {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => panic!("{script}: {other:?}"),
    }
}
