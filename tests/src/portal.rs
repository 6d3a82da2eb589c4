//! The desktop portal stack beside a headless sway ([`crate::sway`]): a
//! private D-Bus session bus, `pipewire`, `wireplumber`, and
//! `xdg-desktop-portal` with its wlroots backend (both started by D-Bus
//! activation when the agent first calls), configured to share
//! `HEADLESS-1` without a chooser. Runs as root beside the session, as the
//! agent under test does; everything is killed on drop.
//!
//! Needs the packages in `dev.sh`: [`PortalStack::start`] says why not
//! when one is missing, and the tests print that and skip.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::tools::{GroupLeader, find_program, on_path, remove_run_dir, sweep_stale};

/// The stack's directories: `PREFIX<pid>-<n>`.
const PREFIX: &str = "/tmp/lookout-portal-";

/// How long the bus and PipeWire may take to come up.
const START: Duration = Duration::from_secs(30);

/// A D-Bus session with PipeWire and the portals.
#[derive(Debug)]
pub struct PortalStack {
    children: Vec<GroupLeader>,
    dir: PathBuf,
    bus: String,
    wayland: PathBuf,
}

impl PortalStack {
    /// Starts the stack for the sway session whose Wayland socket is
    /// `wayland`. `Err` says why it cannot run here: skip then.
    pub fn start(wayland: &Path) -> Result<Self, String> {
        for tool in ["dbus-daemon", "pipewire", "wireplumber"] {
            if !on_path(tool) {
                return Err(format!("{tool} is not installed (see dev.sh PACKAGES)"));
            }
        }
        // Started by D-Bus activation; looked for only to skip cleanly.
        for program in ["xdg-desktop-portal", "xdg-desktop-portal-wlr"] {
            find_program(program)?;
        }
        sweep_stale(PREFIX);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("{PREFIX}{}-{n}", std::process::id()));
        remove_run_dir(&dir);
        let xdpw = dir.join("config").join("xdg-desktop-portal-wlr");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&xdpw)
            .map_err(|e| e.to_string())?;
        std::fs::write(
            xdpw.join("config"),
            "[screencast]\noutput_name=HEADLESS-1\nchooser_type=none\n",
        )
        .map_err(|e| e.to_string())?;
        let mut stack = PortalStack {
            children: Vec::new(),
            bus: String::new(),
            wayland: wayland.to_owned(),
            dir,
        };
        // The bus's environment is what it activates the portals with.
        // Its address is chosen here, so nothing waits on its output.
        let socket = stack.dir.join("bus");
        let dbus = GroupLeader::spawn(
            stack
                .command("dbus-daemon")
                .args(["--session", "--nofork"])
                .arg(format!("--address=unix:path={}", socket.display())),
        )
        .map_err(|e| format!("cannot start dbus-daemon: {e}"))?;
        stack.children.push(dbus);
        stack.wait_for(&socket, "dbus-daemon")?;
        stack.bus = format!("unix:path={}", socket.display());
        // wireplumber once pipewire listens: started together, it may
        // find no daemon on a loaded machine and exit.
        let pipewire = GroupLeader::spawn(&mut stack.command("pipewire"))
            .map_err(|e| format!("cannot start pipewire: {e}"))?;
        stack.children.push(pipewire);
        let socket = stack.dir.join("pipewire-0");
        stack.wait_for(&socket, "pipewire")?;
        let wireplumber = GroupLeader::spawn(&mut stack.command("wireplumber"))
            .map_err(|e| format!("cannot start wireplumber: {e}"))?;
        stack.children.push(wireplumber);
        Ok(stack)
    }

    /// Waits (bounded) for `program` to make the socket `path`.
    fn wait_for(&mut self, path: &Path, program: &str) -> Result<(), String> {
        let deadline = Instant::now() + START;
        while !path.exists() {
            if Instant::now() > deadline {
                return Err(format!("{program} did not start: {}", self.log()));
            }
            if self.children.iter_mut().any(|c| c.try_wait().is_some()) {
                return Err(format!("{program} exited: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"));
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_CURRENT_DESKTOP", "sway")
            .env("WAYLAND_DISPLAY", &self.wayland)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        if !self.bus.is_empty() {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
        }
        if let Ok(log) = log {
            if let Ok(copy) = log.try_clone() {
                cmd.stdout(copy);
            }
            cmd.stderr(log);
        }
        cmd
    }

    /// The environment an agent of this desktop gets: the bus, the
    /// runtime directory, the sway socket, and a config directory of its
    /// own (where the restore token would go).
    pub fn agent_env(&self) -> Vec<(String, String)> {
        let dir = |p: PathBuf| p.to_string_lossy().into_owned();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.clone()),
            ("XDG_RUNTIME_DIR".into(), dir(self.dir.clone())),
            ("XDG_CONFIG_HOME".into(), dir(self.dir.join("agent-config"))),
            ("XDG_CURRENT_DESKTOP".into(), "sway".into()),
            ("WAYLAND_DISPLAY".into(), dir(self.wayland.clone())),
        ]
    }

    /// The stack's directory (its runtime directory), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the bus, PipeWire and the portals logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for PortalStack {
    fn drop(&mut self) {
        // Each child leads a group: the bus's group holds the portals it
        // activated. Killed once each, before the directory goes.
        for child in &mut self.children {
            child.kill();
        }
        remove_run_dir(&self.dir);
    }
}
