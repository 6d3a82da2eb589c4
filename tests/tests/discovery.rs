//! LAN discovery (contract §4) with the real binaries.
//!
//! * On a LAN made of network namespaces (needs root and `ip`; skipped
//!   with a message otherwise): agents each in their own namespace on one
//!   bridge, the viewer's `--discover` in another, found by broadcast
//!   within its default 1-second wait; an agent with `--no-discovery` stays
//!   silent.
//! * On loopback (no root): the agent's reply rules against a raw UDP
//!   socket (a flood gets at most 20 replies a second, none longer than its
//!   probe; a short probe gets none; a `--no-tls` agent answers nothing),
//!   and a spoofed reply naming a known agent is listed as `DIFFERENT`.
//!
//! Every namespace and bridge is removed by a guard, even when a test
//! fails; names carry the process id and a counter, so parallel runs do
//! not meet.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lookout_protocol::{Fingerprint, MAX_DATAGRAM_LEN, MIN_PROBE_LEN, Nonce, Probe, Reply};
use lookout_tests::process::{AgentProcess, Running, TempDir, binary, command};

const TOKEN: &str = "discovery-test-token";

/// How long a test waits for a process to start or finish: generous, the
/// machine may be busy.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------
// A LAN of network namespaces.

/// Why a LAN test cannot run here, if it cannot.
fn lan_unavailable() -> Option<&'static str> {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    if !root {
        return Some("not root");
    }
    let ip = Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Some("no `ip` command (iproute2)");
    }
    None
}

/// Runs `ip ARGS`, panicking with its error output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces on one bridge (itself in a namespace of its own, so nothing
/// touches the machine's own network), removed on drop.
struct Lan {
    switch: String,
    hosts: Vec<String>,
    subnet: u32,
    id: u32,
}

impl Lan {
    /// A new, empty LAN 10.213.N.0/24, or `None` (with a message) where
    /// namespaces cannot be made.
    fn new(test: &str) -> Option<Self> {
        if let Some(why) = lan_unavailable() {
            eprintln!("skipping {test}: it needs network namespaces ({why})");
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let lan = Self {
            switch: format!("lkd-{}-{id}-sw", std::process::id()),
            hosts: Vec::new(),
            subnet: 100 + id % 100,
            id,
        };
        ip(&["netns", "add", &lan.switch]);
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        Some(lan)
    }

    /// A new host on the LAN: its namespace and its address.
    fn host(&mut self) -> (String, String) {
        let n = self.hosts.len() + 1;
        let ns = format!("lkd-{}-{}-h{n}", std::process::id(), self.id);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        let port = format!("p{n}");
        let sw = self.switch.as_str();
        ip(&[
            "-n", sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["-n", sw, "link", "set", &port, "master", "br0"]);
        ip(&["-n", sw, "link", "set", &port, "up"]);
        let addr = format!("10.213.{}.{}", self.subnet, n + 1);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "brd",
            "+",
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        (ns, addr)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its interfaces, veths and bridge too.
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `lookout-server` on 0.0.0.0:6868 in namespace `ns`, streaming its test
/// scene, and the fingerprint it printed.
fn agent_in(ns: &str, name: &str, identity: &TempDir, extra: &[&str]) -> (Running, Fingerprint) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(binary("lookout-server"))
        .args(["--bind", "0.0.0.0:6868", "--source", "test-pattern"])
        .args(["--name", name, "--token", TOKEN, "--identity"])
        .arg(identity.path())
        // Each its own control socket (the default one is per user), beside
        // its identity directory (which holds nothing else).
        .arg("--control-socket")
        .arg(identity.path().with_extension("sock"))
        .args(extra)
        .env("LOOKOUT_NO_CONFIG", "1")
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN")
        .env_remove("DISPLAY");
    let agent = Running::spawn(cmd);
    let listening = agent
        .stderr
        .wait_for(WAIT, |line| line.contains("listening").then_some(()));
    assert!(
        listening.is_some(),
        "{name} did not start: {}",
        agent.process_output()
    );
    let fingerprint = agent
        .stdout
        .wait_for(WAIT, |line| line.strip_prefix("fingerprint ")?.parse().ok())
        .unwrap_or_else(|| panic!("{name} printed no fingerprint: {}", agent.process_output()));
    (agent, fingerprint)
}

/// `lookout-viewer --discover ARGS` in namespace `ns` (or here, for
/// `None`): its exit code, stdout and stderr, and how long it ran.
fn discover(ns: Option<&str>, args: &[&str]) -> (i32, String, String, Duration) {
    let mut cmd = match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns])
                .arg(binary("lookout-viewer"));
            cmd.env("LOOKOUT_NO_CONFIG", "1");
            cmd
        }
        None => command("lookout-viewer"),
    };
    cmd.arg("--discover").args(args).env_remove("LOOKOUT_TOKEN");
    let started = Instant::now();
    let mut viewer = Running::spawn(cmd);
    let status = viewer
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("--discover did not end: {}", viewer.process_output()));
    (
        status.code().unwrap_or(-1),
        viewer.stdout.text(),
        viewer.stderr.text(),
        started.elapsed(),
    )
}

/// A known-hosts file (empty unless `lines`) in an owner-only directory.
fn known_hosts(dir: &TempDir, lines: &str) -> String {
    let path = dir.path().join("known_hosts");
    std::fs::write(&path, lines).unwrap();
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&path, owner_only).unwrap();
    path.display().to_string()
}

#[test]
fn agents_in_their_own_namespaces_are_all_found_by_broadcast_within_a_second() {
    let Some(mut lan) = Lan::new("agents_..._found_by_broadcast") else {
        return;
    };
    let dir = TempDir::new("discovery");
    let mut agents = Vec::new();
    for i in 1..=3 {
        let (ns, addr) = lan.host();
        let identity = TempDir::new("identity");
        let (process, fingerprint) = agent_in(&ns, &format!("agent-{i}"), &identity, &[]);
        agents.push((process, identity, addr, fingerprint));
    }
    let (viewer_ns, _) = lan.host();
    let kh = known_hosts(&dir, "");
    // The default wait: one second.
    let (code, out, err, took) = discover(Some(&viewer_ns), &["--known-hosts", &kh]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.lines().count(), 3, "one line per agent:\n{out}");
    for (i, (_, _, addr, fingerprint)) in agents.iter().enumerate() {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("agent-{}  ", i + 1)))
            .unwrap_or_else(|| panic!("agent-{} not found:\n{out}\n{err}", i + 1));
        assert_eq!(
            line,
            format!(
                "agent-{}  {addr}:6868  {fingerprint}  new  auth=token  monitors=1",
                i + 1
            )
        );
    }
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Discovery alone records nothing.
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "");
}

#[test]
fn an_agent_with_no_discovery_stays_silent_while_its_neighbour_answers() {
    let Some(mut lan) = Lan::new("an_agent_with_no_discovery_stays_silent") else {
        return;
    };
    let (ns_quiet, quiet_addr) = lan.host();
    let (ns_open, _) = lan.host();
    let (viewer_ns, _) = lan.host();
    let (id_quiet, id_open) = (TempDir::new("identity"), TempDir::new("identity"));
    let (_quiet, _) = agent_in(&ns_quiet, "quiet", &id_quiet, &["--no-discovery"]);
    let (_open, _) = agent_in(&ns_open, "open", &id_open, &[]);
    // Broadcast, and a probe straight at the quiet one.
    let probe = format!("{quiet_addr}:6868");
    let (code, out, err, _) = discover(Some(&viewer_ns), &["--probe", &probe]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.lines().any(|l| l.starts_with("open  ")), "{out}");
    assert!(!out.contains("quiet"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

// ---------------------------------------------------------------------
// The reply rules on loopback.

/// A loopback UDP socket that reads with a short timeout.
fn udp() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    socket
}

/// The datagrams `socket` receives until `until`, with their arrival.
fn receive_until(socket: &UdpSocket, until: Instant) -> Vec<(Vec<u8>, Instant)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
    // Bounded by the clock and by count.
    for _ in 0..100_000 {
        if Instant::now() >= until {
            break;
        }
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            got.push((buf[..len].to_vec(), Instant::now()));
        }
    }
    got
}

#[test]
fn a_flood_of_probes_gets_at_most_twenty_replies_a_second_none_longer_than_its_probe() {
    // The widest name an agent takes: 64 four-byte characters, so that a
    // reply comes close to its 512-byte probe.
    let name = "😀".repeat(64);
    let agent = AgentProcess::start(
        None,
        &[
            "--source",
            "test-pattern",
            "--token",
            TOKEN,
            "--name",
            &name,
        ],
    );
    let socket = udp();
    let probes: Vec<Vec<u8>> = (0..200u8)
        .map(|i| Probe::new(Nonce::from_bytes([i; 16])).encode())
        .collect();
    let cpu_before = agent.process.cpu_time();
    let started = Instant::now();
    for probe in &probes {
        socket.send_to(probe, agent.addr).unwrap();
    }
    let replies = receive_until(&socket, Instant::now() + Duration::from_millis(1500));
    // The figure for the report: what the flood cost the agent.
    eprintln!(
        "discovery flood: {} probes, {} replies, agent CPU {:?}",
        probes.len(),
        replies.len(),
        agent.process.cpu_time().saturating_sub(cpu_before)
    );
    assert!(
        !replies.is_empty(),
        "no reply at all: {}",
        agent.process.process_output()
    );
    for (reply, _) in &replies {
        assert!(reply.len() <= MIN_PROBE_LEN, "{} bytes", reply.len());
        let reply = Reply::parse(reply).unwrap();
        assert_eq!(reply.name, name);
        assert_eq!(Some(reply.fingerprint), agent.fingerprint);
        assert_eq!(reply.port, agent.addr.port());
    }
    // 20 in any second: a burst sent and answered within a second gets at
    // most 20; a busy machine that stretched it over more seconds may get
    // 20 more for each second it took.
    let last = replies.last().map_or(started, |(_, at)| *at);
    let seconds = last.duration_since(started).as_secs() + 1;
    let bound = 20 * usize::try_from(seconds).unwrap();
    assert!(
        replies.len() <= bound,
        "{} replies in {:?}",
        replies.len(),
        last - started
    );
}

#[test]
fn a_short_probe_gets_no_reply_and_a_full_one_with_the_same_nonce_does() {
    let agent = AgentProcess::start(None, &["--source", "test-pattern", "--token", TOKEN]);
    let socket = udp();
    let probe = Probe::new(Nonce::from_bytes([9; 16])).encode();
    // The probe's JSON, cut to 100 bytes with the padding removed: still
    // one JSON object, but short.
    let head = String::from_utf8(probe.clone()).unwrap();
    let mut short = head.replace(' ', "").into_bytes();
    short.resize(100, b' ');
    socket.send_to(&short, agent.addr).unwrap();
    let got = receive_until(&socket, Instant::now() + Duration::from_secs(1));
    assert!(got.is_empty(), "a 100-byte probe got {} replies", got.len());
    socket.send_to(&probe, agent.addr).unwrap();
    let got = receive_until(&socket, Instant::now() + Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{}", agent.process.process_output());
}

#[test]
fn a_no_tls_agent_answers_no_probe() {
    let agent = AgentProcess::start(None, &["--source", "test-pattern", "--no-tls", "--no-auth"]);
    let socket = udp();
    let probe = Probe::new(Nonce::from_bytes([1; 16])).encode();
    socket.send_to(&probe, agent.addr).unwrap();
    let got = receive_until(&socket, Instant::now() + Duration::from_secs(1));
    assert!(got.is_empty());
    assert!(
        agent.process.stderr.text().contains("discovery off"),
        "{}",
        agent.process.process_output()
    );
}

#[test]
fn a_spoofed_reply_naming_a_known_agent_is_shown_as_different() {
    // The real agent, met before: its fingerprint is in known-hosts.
    let agent = AgentProcess::start(
        None,
        &[
            "--source",
            "test-pattern",
            "--token",
            TOKEN,
            "--name",
            "real",
        ],
    );
    let real = agent.fingerprint.unwrap();
    let dir = TempDir::new("discovery");
    let pins = format!("{} {real}\n", agent.addr);
    let kh = known_hosts(&dir, &pins);
    // An impostor on loopback answers the probe with the real agent's
    // name and port and its own fingerprint.
    let impostor = udp();
    let impostor_addr: SocketAddr = impostor.local_addr().unwrap();
    let fake = Fingerprint::of_certificate(b"impostor");
    let port = agent.addr.port();
    let answer = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        while Instant::now() < deadline {
            let Ok((len, from)) = impostor.recv_from(&mut buf) else {
                continue;
            };
            let Ok(probe) = Probe::parse(&buf[..len]) else {
                continue;
            };
            let reply = Reply {
                protocol: 2,
                nonce: probe.nonce,
                name: "real".into(),
                port,
                fingerprint: fake,
                auth: lookout_protocol::AuthMode::None,
                monitors: 1,
            };
            impostor.send_to(&reply.encode(len).unwrap(), from).unwrap();
            return true;
        }
        false
    });
    let probe = impostor_addr.to_string();
    let (code, out, err, _) = discover(None, &["--probe", &probe, "--known-hosts", &kh]);
    assert!(answer.join().unwrap(), "no probe reached the impostor");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out,
        format!(
            "real  {}  {fake}  DIFFERENT  auth=none  monitors=1\n",
            agent.addr
        )
    );
    assert!(
        err.contains("WARNING") && err.contains(&real.to_string()),
        "{err}"
    );
    // Nothing was written.
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), pins);
}
