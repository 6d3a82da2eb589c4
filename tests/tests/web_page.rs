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
