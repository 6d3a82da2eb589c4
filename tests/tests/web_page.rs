//! The browser viewer in a real browser (headless chromium, WebDriver)
//! against the real agent binary on Xvfb: signing in, the picture on the
//! canvas, steering the agent's display, a wrong token, a view-only token,
//! and an agent restart.

use std::time::Duration;

use fantoccini::Locator;
use lookout_tests::process::{AgentProcess, Running, TempDir};
use lookout_tests::x11::{Xvfb, mean_abs_diff, test_card};

use crate::web_browser::{BROWSER_WAIT, Browser};

const TOKEN: &str = "web-page-test-token-0123";
const VIEW_TOKEN: &str = "web-page-view-token-4567";

/// An agent on `x` whose identity is in a directory the test keeps (to
/// restart it with the same certificate), and a browser that trusts it.
async fn agent_and_browser(x: &Xvfb, args: &[&str]) -> Option<(AgentProcess, Browser, TempDir)> {
    let identity = TempDir::new("web-identity");
    let dir = identity.path().join("id");
    let dir_arg = dir.to_str().unwrap().to_owned();
    let mut all = vec!["--token", TOKEN, "--identity", &dir_arg];
    all.extend_from_slice(args);
    let agent = AgentProcess::start(Some(x.display()), &all);
    let browser = Browser::start(&dir).await?;
    browser.open(agent.addr).await;
    Some((agent, browser, identity))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_signs_in_and_its_canvas_shows_the_screen() {
    let x = Xvfb::start(640, 480);
    let card = test_card(640, 480);
    x.set_root_image(&card);
    let Some((agent, browser, _id)) = agent_and_browser(&x, &["--quality", "90"]).await else {
        return;
    };
    // The page shows the agent's fingerprint in both forms.
    let fingerprint = agent.fingerprint.unwrap().to_string();
    let hex = browser.client.find(Locator::Id("fp-hex")).await.unwrap();
    assert_eq!(hex.text().await.unwrap(), fingerprint);
    let colon = browser.client.find(Locator::Id("fp-colon")).await.unwrap();
    let want: Vec<String> = fingerprint.as_bytes()["sha256:".len()..]
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    assert_eq!(colon.text().await.unwrap(), want.join(":"));

    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live after sign-in");
    // The token is nowhere in the page, the URL or storage.
    let leaks = browser
        .js(&format!(
            "return [document.documentElement.outerHTML, location.href, \
             JSON.stringify(localStorage), JSON.stringify(sessionStorage)] \
             .some((s) => s.includes('{TOKEN}'))"
        ))
        .await;
    assert_eq!(leaks, serde_json::Value::Bool(false));
    let got = browser.canvas().await;
    assert_eq!((got.width(), got.height()), (640, 480));
    let diff = mean_abs_diff(&got, &card);
    assert!(diff < 6.0, "the canvas differs from the screen: {diff:.2}");
    // The status bar's counters tick each second: wait for a reading.
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    while browser.js("return window.lookout.stats.fps > 0").await != serde_json::Value::Bool(true) {
        assert!(std::time::Instant::now() < deadline, "no frame rate shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shot = browser.screenshot("signed-in").await;
    eprintln!("screenshot: {}", shot.display());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_and_a_typed_word_on_the_canvas_reach_the_agents_display() {
    let x = Xvfb::start(640, 480);
    let out = TempDir::new("web-typed");
    let typed = out.path().join("typed");
    // An xterm under the middle of the screen that writes the line it reads.
    let mut xterm = x.command("xterm");
    xterm.args([
        "-geometry",
        "80x24+0+0",
        "-title",
        "web-typing",
        "-e",
        "sh",
        "-c",
    ]);
    xterm.arg(format!(
        "read w; printf %s \"$w\" > '{}'; sleep 30",
        typed.display()
    ));
    let _xterm = Running::spawn(xterm);
    x.find_window("web-typing", BROWSER_WAIT)
        .expect("the xterm appears");
    x.move_pointer(600, 460);
    let Some((_agent, browser, _id)) = agent_and_browser(&x, &[]).await else {
        return;
    };
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live");
    let canvas = browser.client.find(Locator::Id("screen")).await.unwrap();
    // The middle of the canvas is the middle of the (letterboxed) frame.
    canvas.click().await.unwrap();
    // (Within a pixel: the element's middle is rounded to whole CSS pixels.)
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    let mut at = x.pointer();
    while (at.0 - 320).abs() > 1 || (at.1 - 240).abs() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pointer is at {at:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
        at = x.pointer();
    }
    canvas.send_keys("lookout\u{E007}").await.unwrap();
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    let mut got = String::new();
    while std::time::Instant::now() < deadline {
        got = std::fs::read_to_string(&typed).unwrap_or_default();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, "lookout", "what the xterm read");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_a_retry_signs_in() {
    let x = Xvfb::start(320, 240);
    let Some((_agent, browser, _id)) = agent_and_browser(&x, &[]).await else {
        return;
    };
    browser.sign_in("not-the-token-at-all-99").await;
    browser
        .wait_state("refused", BROWSER_WAIT)
        .await
        .expect("refused");
    let error = browser
        .client
        .find(Locator::Id("login-error"))
        .await
        .unwrap();
    assert!(error.text().await.unwrap().contains("Wrong token"));
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live on retry");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_only_token_cannot_steer_from_the_page() {
    let x = Xvfb::start(640, 480);
    x.move_pointer(10, 10);
    let Some((_agent, browser, _id)) = agent_and_browser(&x, &["--view-token", VIEW_TOKEN]).await
    else {
        return;
    };
    browser.sign_in(VIEW_TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live");
    let mode = browser.client.find(Locator::Id("mode")).await.unwrap();
    assert_eq!(mode.text().await.unwrap(), "view only");
    let canvas = browser.client.find(Locator::Id("screen")).await.unwrap();
    canvas.click().await.unwrap();
    canvas.send_keys("x").await.unwrap();
    // A negative: nothing to wait for, so a bounded look.
    assert_eq!(x.wait_pointer((320, 240), Duration::from_secs(1)), (10, 10));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_by_itself_after_the_agent_restarts() {
    let x = Xvfb::start(320, 240);
    let Some((agent, browser, id)) = agent_and_browser(&x, &[]).await else {
        return;
    };
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live");
    let addr = agent.addr;
    agent.process.terminate();
    browser
        .wait_state("reconnecting", BROWSER_WAIT)
        .await
        .expect("reconnecting once the agent is gone");
    let dir = id.path().join("id");
    let again = AgentProcess::start_on(
        &addr.to_string(),
        Some(x.display()),
        &["--token", TOKEN, "--identity", dir.to_str().unwrap()],
    );
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live again without signing in");
    drop(again);
    browser.close().await;
}

/// Waits until the page has counted `n` refused sign-ins.
async fn wait_refusals(browser: &Browser, n: u64) {
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    loop {
        let got = browser.js("return window.lookout.refusals").await;
        if got.as_u64() == Some(n) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "refusals: {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_address_is_told_for_how_long_and_sign_in_waits_it_out() {
    let x = Xvfb::start(320, 240);
    let Some((_agent, browser, _id)) =
        agent_and_browser(&x, &["--timeouts", "auth-block=4s"]).await
    else {
        return;
    };
    for n in 1..=5 {
        browser.sign_in("not-the-token-at-all-99").await;
        wait_refusals(&browser, n).await;
    }
    let text = |id: &'static str| {
        let browser = &browser;
        async move {
            browser
                .js(&format!(
                    "return document.getElementById('{id}').textContent"
                ))
                .await
                .as_str()
                .unwrap_or("")
                .to_owned()
        }
    };
    assert_eq!(text("state-text").await, "blocked");
    let said = text("login-error").await;
    assert!(
        said.starts_with("Too many failed sign-ins: blocked for "),
        "{said}"
    );
    let disabled = "return document.getElementById('signin').disabled";
    assert_eq!(browser.js(disabled).await, serde_json::Value::Bool(true));
    // The countdown ends and sign-in works again, without reloading.
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    while browser.js(disabled).await != serde_json::Value::Bool(false) {
        assert!(std::time::Instant::now() < deadline, "still disabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live once the block is over");
    browser.close().await;
}

/// X's `KeyButMask` bits the tests hold.
const SHIFT: u16 = 0x1;
const BUTTON1: u16 = 0x100;
const BUTTON3: u16 = 0x400;

/// The X server's pointer and modifier state now (the core protocol's
/// `KeyButMask`): which buttons and modifier keys are held, whoever
/// pressed them.
fn held(x: &Xvfb) -> u16 {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::ConnectionExt;
    let (conn, screen) = x11rb::connect(Some(x.display())).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let reply = conn.query_pointer(root).unwrap().reply().unwrap();
    u16::from(reply.mask)
}

/// Waits until `bits` of the X pointer state are `want` (all set or all
/// clear); the state seen last.
async fn wait_held(x: &Xvfb, bits: u16, set: bool) -> u16 {
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    loop {
        let held = held(x);
        let ok = if set {
            held & bits == bits
        } else {
            held & bits == 0
        };
        if ok || std::time::Instant::now() > deadline {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_buttons_and_keys_are_released_on_pause_blur_and_chords() {
    use fantoccini::actions::{
        InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MOUSE_BUTTON_RIGHT, MouseActions,
        PointerAction,
    };
    let x = Xvfb::start(640, 480);
    let Some((_agent, browser, _id)) = agent_and_browser(&x, &[]).await else {
        return;
    };
    browser.sign_in(TOKEN).await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live");
    let canvas = browser.client.find(Locator::Id("screen")).await.unwrap();
    let mouse = |actions: Vec<PointerAction>| {
        let mut m = MouseActions::new("mouse".into());
        for a in actions {
            m = m.then(a);
        }
        m
    };
    // Left held, then right pressed and released while left is held
    // (chromium reports those as `pointermove`).
    let press = mouse(vec![
        PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: None,
            x: 0.0,
            y: 0.0,
        },
        PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        },
        PointerAction::Down {
            button: MOUSE_BUTTON_RIGHT,
        },
    ]);
    browser.client.perform_actions(press).await.unwrap();
    let held = wait_held(&x, BUTTON1 | BUTTON3, true).await;
    assert_eq!(held & (BUTTON1 | BUTTON3), BUTTON1 | BUTTON3, "{held:#x}");
    let up = mouse(vec![PointerAction::Up {
        button: MOUSE_BUTTON_RIGHT,
    }]);
    browser.client.perform_actions(up).await.unwrap();
    let held = wait_held(&x, BUTTON3, false).await;
    assert_eq!(held & (BUTTON1 | BUTTON3), BUTTON1, "{held:#x}");
    // Pausing lets go of the left button still held in the browser.
    browser.js("document.getElementById('pause').click()").await;
    let held = wait_held(&x, BUTTON1, false).await;
    assert_eq!(held & BUTTON1, 0, "still held after pause: {held:#x}");
    browser.client.release_actions().await.unwrap();
    browser.js("document.getElementById('pause').click()").await;
    browser
        .wait_state("live", BROWSER_WAIT)
        .await
        .expect("live again");
    // A key held when the window loses focus is let go.
    canvas.click().await.unwrap();
    let shift = KeyActions::new("keys".into()).then(KeyAction::Down {
        value: fantoccini::key::Key::Shift.into(),
    });
    browser.client.perform_actions(shift).await.unwrap();
    let held = wait_held(&x, SHIFT, true).await;
    assert_eq!(held & SHIFT, SHIFT, "{held:#x}");
    browser.js("window.dispatchEvent(new Event('blur'))").await;
    let held = wait_held(&x, SHIFT, false).await;
    assert_eq!(held & SHIFT, 0, "still held after blur: {held:#x}");
    browser.client.release_actions().await.unwrap();
    browser.close().await;
}
