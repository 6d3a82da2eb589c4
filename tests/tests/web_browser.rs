//! Headless chromium driven over WebDriver (chromedriver on loopback), for
//! the page's tests. Chromium trusts exactly the agent's certificate
//! (`--ignore-certificate-errors-spki-list`), as a user who accepted it
//! would. Without chromium or chromedriver the tests say so and skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::{Client, ClientBuilder, Locator};
use lookout_tests::process::{Running, TempDir};
use serde_json::{Value, json};

/// How long chromedriver and a page may take on a loaded machine.
pub(crate) const BROWSER_WAIT: Duration = Duration::from_secs(30);

/// A chromium session, closed (with its driver) on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    _driver: Running,
    _profile: TempDir,
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Browser {
    /// A headless chromium that trusts the agent whose identity is in
    /// `identity`; `None` (after saying why) when chromium is missing.
    pub(crate) async fn start(identity: &Path) -> Option<Self> {
        Self::start_sized(identity, (1000, 700)).await
    }

    /// Like [`Browser::start`] with a window of `size` (headless chromium
    /// keeps about 140 pixels of it for its own frame).
    pub(crate) async fn start_sized(identity: &Path, size: (u32, u32)) -> Option<Self> {
        if !installed("chromium") || !installed("chromedriver") {
            // On CI (`CI` set, packages installed by `./dev.sh deps`) a
            // missing browser is a failure, not a pass.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but chromium or chromedriver is missing"
            );
            eprintln!("skipped: chromium and chromedriver are not installed (./dev.sh deps)");
            return None;
        }
        let (agent, _) = lookout_server::Identity::load_or_create(identity).unwrap();
        let spki = base64::engine::general_purpose::STANDARD.encode(agent.spki_sha256().unwrap());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"));
        let driver = Running::spawn(cmd);
        driver
            .stdout
            .wait_for(BROWSER_WAIT, |l| {
                l.contains("started successfully").then_some(())
            })
            .expect("chromedriver starts");
        let profile = TempDir::new("chromium");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--window-size={},{}", size.0, size.1),
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--ignore-certificate-errors-spki-list={spki}"),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Some(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Opens the page of the agent at `addr`.
    pub(crate) async fn open(&self, addr: std::net::SocketAddr) {
        self.client
            .goto(&format!("https://127.0.0.1:{}/", addr.port()))
            .await
            .expect("the page loads");
        self.wait_state("login", BROWSER_WAIT)
            .await
            .expect("the sign-in form");
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect(script)
    }

    /// `document.body.dataset.state`.
    pub(crate) async fn state(&self) -> String {
        self.js("return document.body.dataset.state")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Waits until the page's state is `want`; the last state seen if not.
    pub(crate) async fn wait_state(&self, want: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let state = self.state().await;
            if state == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(state);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `token` into the form and submits it.
    pub(crate) async fn sign_in(&self, token: &str) {
        let field = self
            .client
            .find(Locator::Css("input[name=token]"))
            .await
            .unwrap();
        field.send_keys(token).await.unwrap();
        self.client
            .find(Locator::Id("signin"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// What the canvas shows, at its own resolution (the frame's).
    pub(crate) async fn canvas(&self) -> image::RgbImage {
        let url = self
            .js("return document.getElementById('screen').toDataURL('image/png')")
            .await;
        let data = url
            .as_str()
            .unwrap()
            .trim_start_matches("data:image/png;base64,");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        image::load_from_memory(&png).unwrap().to_rgb8()
    }

    /// Saves a screenshot of the page as `name`.png in the test artifacts
    /// (`target/test-artifacts/web/`); returns its path.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = artifacts();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (closing chromium) before the driver goes.
    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// `target/test-artifacts/web` (or under `CARGO_TARGET_DIR`).
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-artifacts").join("web")
}
