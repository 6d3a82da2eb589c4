//! Headless sway sessions for the Wayland tests: a compositor with no
//! screen and no input devices (`WLR_BACKENDS=headless`, pixman rendering),
//! run as a dedicated system user because sway refuses to run as root,
//! with one output or more, Xwayland, and the tools that read and drive it
//! (`swaymsg`, `grim`, `foot`, `xdotool`).
//!
//! Setting the session up needs root (to create the user and start sway
//! as it) and the packages listed in `dev.sh`: [`Sway::start`] returns why
//! not instead of a session when either is missing, and the tests print
//! that and skip. On CI both are there and the tests run.
//!
//! The agent under test runs as root beside the session and connects to
//! the user's socket by its absolute path: root may open it, nobody else
//! can (the runtime directory is 0700, owned by the user).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::tools::on_path;

/// The system user the sessions run as.
pub const SWAY_USER: &str = "lookout-sway";

/// How long sway may take to open its socket. It is ready in well under a
/// second on an idle machine; a loaded 2-core CI machine gets slack.
const SWAY_START: Duration = Duration::from_secs(30);

/// How long a `swaymsg`, `grim` or `xdotool` call may take.
const TOOL_TIME: Duration = Duration::from_secs(20);

/// A running headless sway, killed (with its clients) on drop.
#[derive(Debug)]
pub struct Sway {
    child: Child,
    /// The session's runtime directory (`XDG_RUNTIME_DIR`), 0700.
    runtime: PathBuf,
    /// The Wayland socket's absolute path.
    socket: PathBuf,
    /// A scratch directory the user may write to (files from terminals).
    scratch: PathBuf,
    uid: u32,
}

/// Why no session could be set up here.
pub type Skip = String;

impl Sway {
    /// Starts sway with one output per entry of `outputs` (`(width,
    /// height)`, placed left to right, the first at (0, 0)) and Xwayland,
    /// and waits until its IPC answers. `Err` says why it cannot run here
    /// (not root, a package missing): skip then.
    pub fn start(outputs: &[(u32, u32)]) -> Result<Self, Skip> {
        if rustix_uid() != 0 {
            return Err("not root: cannot create the sway user or run sway as it".into());
        }
        for tool in [
            "sway", "swaymsg", "grim", "foot", "Xwayland", "xdotool", "xterm",
        ] {
            if !on_path(tool) {
                return Err(format!("{tool} is not installed (see dev.sh PACKAGES)"));
            }
        }
        let uid = ensure_user()?;
        let n = unique();
        let runtime = PathBuf::from(format!("/tmp/lookout-sway-{}-{n}", std::process::id()));
        make_owned_dir(&runtime, uid, 0o700)?;
        let scratch = runtime.join("scratch");
        make_owned_dir(&scratch, uid, 0o700)?;
        let config = runtime.join("config");
        std::fs::write(&config, sway_config(outputs)).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(runtime.join("sway.log")).map_err(|e| e.to_string())?;
        let child = Command::new("runuser")
            .args(["-u", SWAY_USER, "--", "sway", "-c"])
            .arg(&config)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", format!("/var/lib/{SWAY_USER}"))
            .env("XDG_RUNTIME_DIR", &runtime)
            // foot refuses to start without a UTF-8 locale; xterm needs one
            // to type non-ASCII text.
            .env("LANG", "C.UTF-8")
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_HEADLESS_OUTPUTS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start sway: {e}"))?;
        let mut sway = Sway {
            child,
            // sway names its socket itself (wayland-1 in a fresh runtime
            // directory); found once it is up.
            socket: PathBuf::new(),
            runtime,
            scratch,
            uid,
        };
        sway.wait_ready()?;
        for (i, (width, height)) in outputs.iter().enumerate() {
            if i > 0 {
                sway.msg(&["create_output"]);
            }
            let name = format!("HEADLESS-{}", i + 1);
            let x: u32 = outputs[..i].iter().map(|o| o.0).sum();
            sway.msg(&[
                "output",
                &name,
                "mode",
                &format!("{width}x{height}"),
                "position",
                &x.to_string(),
                "0",
            ]);
        }
        Ok(sway)
    }

    /// Waits (bounded) until sway's IPC socket answers.
    fn wait_ready(&mut self) -> Result<(), Skip> {
        let deadline = Instant::now() + SWAY_START;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("sway exited ({status}); its log:\n{}", self.log()));
            }
            if let Some(socket) = self.wayland_socket()
                && self.ipc_socket().is_some()
            {
                self.socket = socket;
                let out = self.msg_command(&["-t", "get_version"]).output();
                if out.is_ok_and(|o| o.status.success()) {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("sway did not start; its log:\n{}", self.log()))
    }

    /// What sway wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.runtime.join("sway.log")).unwrap_or_default()
    }

    /// The Wayland socket's absolute path: `WAYLAND_DISPLAY` for the agent.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A directory the session's user may write to.
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    /// The environment an agent of this session gets.
    pub fn agent_env(&self) -> Vec<(String, String)> {
        vec![(
            "WAYLAND_DISPLAY".into(),
            self.socket.to_string_lossy().into_owned(),
        )]
    }

    fn wayland_socket(&self) -> Option<PathBuf> {
        let dir = std::fs::read_dir(&self.runtime).ok()?;
        dir.flatten().map(|e| e.path()).find(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("wayland-") && !n.ends_with(".lock")
            })
        })
    }

    fn ipc_socket(&self) -> Option<PathBuf> {
        let dir = std::fs::read_dir(&self.runtime).ok()?;
        dir.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sway-ipc."))
        })
    }

    fn msg_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("swaymsg");
        if let Some(ipc) = self.ipc_socket() {
            cmd.arg("-s").arg(ipc);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs `swaymsg ARGS` and returns its output; panics when it fails.
    pub fn msg(&self, args: &[&str]) -> String {
        run(self.msg_command(args), "swaymsg")
    }

    /// Like [`Sway::msg`], for a command that may be sent twice (a query,
    /// `output NAME scale 2`): sent again (3 tries) when sway was too busy
    /// to answer within swaymsg's own 3 s (tests running side by side on
    /// a loaded machine).
    pub fn msg_retried(&self, args: &[&str]) -> String {
        const BUSY: &str = "Unable to receive IPC response";
        for _ in 0..2 {
            match try_run(self.msg_command(args), "swaymsg") {
                Ok(out) => return out,
                Err(stderr) if stderr.contains(BUSY) => continue,
                Err(stderr) => panic!("swaymsg failed: {stderr}"),
            }
        }
        self.msg(args)
    }

    /// Starts `command` inside the session as its user (`swaymsg exec`):
    /// it gets the session's Wayland socket and Xwayland's `DISPLAY`.
    pub fn exec(&self, command: &str) {
        self.msg(&["exec", command]);
    }

    /// The focused window's name in sway's tree, if any.
    pub fn focused_name(&self) -> Option<String> {
        let tree = self.msg_retried(&["-t", "get_tree"]);
        let tree: serde_json::Value = serde_json::from_str(&tree).ok()?;
        find_focused(&tree)
    }

    /// Waits (bounded by `within`) until a window named `name` exists.
    pub fn wait_window(&self, name: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self
                .msg_retried(&["-t", "get_tree"])
                .contains(&format!("\"name\": \"{name}\""))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `program` run as the session's user, a client of the session
    /// (`WAYLAND_DISPLAY`, `XDG_RUNTIME_DIR` set): `wayvnc`, `grim`...
    pub fn user_command(&self, program: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", SWAY_USER, "--", program])
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", &self.socket);
        cmd
    }

    /// A screenshot of output `name` (`grim -o NAME`).
    pub fn grim(&self, name: &str) -> RgbImage {
        let path = self.scratch.join(format!("grim-{}.png", unique()));
        let mut cmd = self.user_command("grim");
        cmd.args(["-t", "png", "-o", name]).arg(&path);
        run(cmd, "grim");
        let image = image::open(&path).expect("grim's screenshot").to_rgb8();
        let _ = std::fs::remove_file(&path);
        image
    }

    /// Xwayland's `DISPLAY`, read from the environment of a client sway
    /// started after Xwayland was up (start one with [`Sway::exec`] first).
    pub fn x_display(&self) -> Option<String> {
        let deadline = Instant::now() + TOOL_TIME;
        while Instant::now() < deadline {
            // sway sets DISPLAY for its clients once Xwayland is up, in
            // its own memory only: read it from a client's environment.
            for pid in self.session_pids() {
                if let Some(display) = environ(pid, "DISPLAY") {
                    return Some(display);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The processes of this session: sway and every client it started
    /// (`swaymsg exec` forks twice, so clients are not sway's children;
    /// they are found by their `XDG_RUNTIME_DIR`).
    fn session_pids(&self) -> Vec<u32> {
        let runtime = self.runtime.to_string_lossy();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| environ(*pid, "XDG_RUNTIME_DIR").as_deref() == Some(&*runtime))
            .collect()
    }

    /// Runs `xdotool ARGS` against Xwayland, as the session's user.
    pub fn xdotool(&self, args: &[&str]) -> String {
        let display = self.x_display().expect("Xwayland's DISPLAY");
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", SWAY_USER, "--", "xdotool"])
            .args(args)
            .env("DISPLAY", display)
            .env("XDG_RUNTIME_DIR", &self.runtime);
        run(cmd, "xdotool")
    }

    /// The uid of the session's user.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        // sway and its clients (terminals, Xwayland, swaybg): clients
        // would otherwise outlive it.
        for pid in self.session_pids() {
            let _ = Command::new("kill")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

/// The value of `name` in process `pid`'s environment.
fn environ(pid: u32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|var| {
        let value = var.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

fn sway_config(outputs: &[(u32, u32)]) -> String {
    let (width, height) = outputs.first().copied().unwrap_or((1280, 720));
    format!(
        "output HEADLESS-1 mode {width}x{height} position 0 0 bg #204060 solid_color\n\
         xwayland enable\n\
         default_border none\n\
         focus_follows_mouse no\n\
         seat * hide_cursor 0\n"
    )
}

fn find_focused(node: &serde_json::Value) -> Option<String> {
    if node["focused"] == true {
        return node["name"].as_str().map(str::to_owned);
    }
    ["nodes", "floating_nodes"]
        .iter()
        .filter_map(|k| node[k].as_array())
        .flatten()
        .find_map(find_focused)
}

/// Runs `cmd` (bounded by [`TOOL_TIME`]) and returns its stdout; panics
/// with its stderr when it fails.
fn run(cmd: Command, what: &str) -> String {
    try_run(cmd, what).unwrap_or_else(|stderr| panic!("{what} failed: {stderr}"))
}

/// Like [`run`], with the stderr of a failed run as the error.
fn try_run(mut cmd: Command, what: &str) -> Result<String, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let deadline = Instant::now() + TOOL_TIME;
    loop {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {TOOL_TIME:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("output");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rustix_uid() -> u32 {
    // The harness has no rustix: read our effective uid from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

/// The uid of [`SWAY_USER`], created (a system user with a home) if missing.
fn ensure_user() -> Result<u32, Skip> {
    let uid = |out: std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    if let Some(id) = Command::new("id")
        .args(["-u", SWAY_USER])
        .output()
        .ok()
        .and_then(uid)
    {
        return Ok(id);
    }
    // Two tests may race to create it: the loser's useradd fails, and the
    // user exists all the same.
    let _ = Command::new("useradd")
        .args(["--system", "--create-home", "--home-dir"])
        .arg(format!("/var/lib/{SWAY_USER}"))
        .args(["--shell", "/usr/sbin/nologin", SWAY_USER])
        .status();
    Command::new("id")
        .args(["-u", SWAY_USER])
        .output()
        .ok()
        .and_then(uid)
        .ok_or_else(|| format!("cannot create the user {SWAY_USER}"))
}

fn make_owned_dir(path: &Path, uid: u32, mode: u32) -> Result<(), Skip> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::os::unix::fs::chown(path, Some(uid), None).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn unique() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
