//! The real binaries as child processes, with their output captured.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lookout_protocol::Fingerprint;

use crate::client::Endpoint;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Path of a workspace binary built next to this test executable.
///
/// `cargo test --workspace` builds every binary before running any test;
/// `./dev.sh test` also builds them explicitly.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --bins` (./dev.sh test does) first",
        path.display()
    );
    path
}

/// A command for a workspace binary that reads no config file: the
/// machine's `/etc/lookout` and the user's `~/.config` stay out of every
/// test (`LOOKOUT_NO_CONFIG=1`; a test of config files passes `--config`).
pub fn command(name: &str) -> Command {
    static SOCKETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut cmd = Command::new(binary(name));
    cmd.env("LOOKOUT_NO_CONFIG", "1");
    if name == "lookout-server" {
        // An agent of its own control socket: tests run agents side by side.
        let n = SOCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        cmd.env(
            "LOOKOUT_CONTROL_SOCKET",
            std::env::temp_dir().join(format!("lookout-test-{}-{n}.sock", std::process::id())),
        );
    }
    cmd
}

/// Text a child wrote, collected by a reader thread.
#[derive(Debug, Clone, Default)]
pub struct Output(Arc<Mutex<String>>, Arc<std::sync::atomic::AtomicBool>);

impl Output {
    fn collect(source: impl Read + Send + 'static) -> Self {
        let out = Output::default();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.0.lock().unwrap_or_else(PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
            sink.1.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        out
    }

    /// Waits (up to `within`) until the writer closed its end and every
    /// line has been collected: after a process exits, its last lines may
    /// still be on their way.
    fn wait_closed(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.1.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything so far.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until a line satisfies `pick` and returns what it picked.
    pub fn wait_for<T>(&self, within: Duration, pick: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(found) = self.text().lines().find_map(&pick) {
                return Some(found);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A child process that is terminated on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// What it printed on stdout.
    pub stdout: Output,
    /// What it printed on stderr (the log).
    pub stderr: Output,
}

impl Running {
    /// Spawns `cmd` with both outputs captured.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child process");
        let stdout = Output::collect(child.stdout.take().expect("piped stdout"));
        let stderr = Output::collect(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Everything it printed so far, stdout then stderr.
    pub fn process_output(&self) -> String {
        format!("{}{}", self.stdout.text(), self.stderr.text())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (Linux: `VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line")
    }

    /// Peak resident memory so far in KiB (Linux: `VmHWM` of
    /// /proc/PID/status): catches an allocation that came and went.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM line")
    }

    /// CPU time used so far, user and system (Linux: /proc/PID/stat, in
    /// clock ticks of `getconf CLK_TCK`).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/PID/stat");
        // Fields after the command name, which is in parentheses and may
        // hold spaces: utime and stime are the 12th and 13th.
        let rest = &stat[stat.rfind(')').expect("stat has a comm field") + 2..];
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().expect("a tick count"))
            .collect();
        let ticks: u64 = fields.iter().sum();
        let hz = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(100);
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// Open file descriptors (Linux: entries of /proc/PID/fd).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Whether it has exited, and how.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `within` for it to exit on its own.
    /// Once it has, everything it printed has been collected.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                self.stdout.wait_closed(Duration::from_secs(2));
                self.stderr.wait_closed(Duration::from_secs(2));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends `signal` (such as "TERM" or "INT") with kill(1).
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// SIGTERM, then waits up to ten seconds; returns the exit status.
    pub fn terminate(mut self) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(10))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `lookout-server` on 127.0.0.1 with a port chosen by the OS.
#[derive(Debug)]
pub struct AgentProcess {
    /// The process.
    pub process: Running,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The fingerprint it printed (`None` with `--no-tls`).
    pub fingerprint: Option<Fingerprint>,
    /// Its identity directory (removed on drop unless given by the test).
    identity: Option<TempDir>,
    /// Its control socket: in a directory of its own unless the test gave
    /// `--control-socket`, so that agents of parallel tests do not meet.
    pub control_socket: std::path::PathBuf,
    _control_dir: Option<TempDir>,
}

impl AgentProcess {
    /// Starts `lookout-server --bind 127.0.0.1:0 ARGS` on `display` (none
    /// for sources that need no display) and waits until it listens. Unless
    /// ARGS say otherwise (`--identity`, `--no-tls`), it gets a fresh
    /// identity in a temporary directory.
    pub fn start(display: Option<&str>, args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", display, args)
    }

    /// `lookout-server ARGS --control-socket SOCKET` against this agent,
    /// run to the end.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        ctl(&self.control_socket, args)
    }

    /// The agent's status, as `lookout-server status --json` prints it.
    pub fn status(&self) -> lookout_server::control::status::AgentStatus {
        control_status(&self.control_socket)
    }

    /// Where a test viewer connects: TLS pinned to the printed fingerprint,
    /// or plain TCP for a `--no-tls` agent.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.addr,
            pin: self.fingerprint,
        }
    }

    /// The viewer options that trust this agent: `--fingerprint sha256:...`,
    /// or `--no-tls` for a plain-TCP agent.
    pub fn viewer_trust_args(&self) -> Vec<String> {
        match self.fingerprint {
            Some(fp) => vec!["--fingerprint".into(), fp.to_string()],
            None => vec!["--no-tls".into()],
        }
    }

    /// Like [`AgentProcess::start`] with a chosen bind address (to restart
    /// an agent on the same port).
    pub fn start_on(bind: &str, display: Option<&str>, args: &[&str]) -> Self {
        Self::start_with_env(bind, display, &[], args)
    }

    /// Like [`AgentProcess::start_on`] with more environment variables
    /// (`WAYLAND_DISPLAY` for an agent of a [`crate::sway::Sway`] session).
    pub fn start_with_env(
        bind: &str,
        display: Option<&str>,
        env: &[(String, String)],
        args: &[&str],
    ) -> Self {
        let mut cmd = command("lookout-server");
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.args(["--bind", bind]).args(args);
        let wants_identity = !args.iter().any(|a| *a == "--identity" || *a == "--no-tls");
        let identity = wants_identity.then(|| TempDir::new("identity"));
        if let Some(dir) = &identity {
            cmd.arg("--identity").arg(dir.path());
        }
        let given = args
            .iter()
            .position(|a| *a == "--control-socket")
            .and_then(|i| args.get(i + 1));
        let control_dir = given.is_none().then(|| TempDir::new("control"));
        let control_socket = match (given, &control_dir) {
            (Some(path), _) => std::path::PathBuf::from(path),
            (None, Some(dir)) => dir.path().join("control.sock"),
            (None, None) => unreachable!("a directory is made when no path is given"),
        };
        cmd.env("LOOKOUT_CONTROL_SOCKET", &control_socket);
        cmd.env("RUST_LOG", "info").env_remove("LOOKOUT_TOKEN");
        match display {
            Some(display) => cmd.env("DISPLAY", display),
            None => cmd.env_remove("DISPLAY"),
        };
        let process = Running::spawn(cmd);
        // The "listening" log line carries `addr=IP:PORT`.
        let addr = process.stderr.wait_for(Duration::from_secs(20), |line| {
            if !line.contains("listening") {
                return None;
            }
            let start = line.find("addr=")? + 5;
            line[start..].split_whitespace().next()?.parse().ok()
        });
        let Some(addr) = addr else {
            panic!(
                "lookout-server did not start listening; its log:\n{}",
                process.stderr.text()
            );
        };
        // The fingerprint line comes before "listening" is logged... on
        // another stream, so wait for it too (unless plain TCP).
        let plain = args.contains(&"--no-tls");
        let fingerprint = (!plain).then(|| {
            process
                .stdout
                .wait_for(Duration::from_secs(5), |line| {
                    line.strip_prefix("fingerprint ")?.parse().ok()
                })
                .unwrap_or_else(|| {
                    panic!(
                        "no fingerprint line; stdout:\n{}\nlog:\n{}",
                        process.stdout.text(),
                        process.stderr.text()
                    )
                })
        });
        Self {
            process,
            addr,
            fingerprint,
            identity,
            control_socket,
            _control_dir: control_dir,
        }
    }

    /// The identity directory the harness made for it, if it did.
    pub fn identity_dir(&self) -> Option<&Path> {
        self.identity.as_ref().map(TempDir::path)
    }
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, uniquely named directory (mode 0700) under the system
    /// temp dir.
    pub fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "lookout-test-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        // Owner-only whatever the umask: the viewer and the agent refuse
        // known-hosts and identity directories that others may write to.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).expect("create temp dir");
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `lookout-server ARGS --control-socket SOCKET`, run to the end.
pub fn ctl(socket: &Path, args: &[&str]) -> std::process::Output {
    command("lookout-server")
        .args(args)
        .arg("--control-socket")
        .arg(socket)
        .output()
        .expect("run lookout-server")
}

/// The status of the agent at `socket`, as `lookout-server status --json`
/// prints it.
pub fn control_status(socket: &Path) -> lookout_server::control::status::AgentStatus {
    let out = ctl(socket, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reply["ok"], true, "{reply}");
    serde_json::from_value(reply["status"].clone()).expect("a status")
}
