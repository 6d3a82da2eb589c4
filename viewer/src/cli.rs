//! The command line, as the user types it ([`Args`]), and the validated
//! settings the rest of the viewer runs on ([`Config`]).

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lookout_protocol::{DEFAULT_MAX_IMAGE_LEN, Fingerprint, HANDSHAKE_TIMEOUT, Limits, Timeouts};

use crate::choice::MonitorChoice;
use crate::discover::Options as DiscoverOptions;
use crate::stream::{MaxSize, StreamAsk};
use crate::target::{Target, TargetError};
use crate::trust::Trust;

/// Listed under `--help`: the keys the window keeps for itself.
const KEYS_HELP: &str = "\
Keys in the window (kept local, never sent to the agent):
  F7    show the agent's next monitor (\"all\" too: the whole desktop)
  F8    pause / resume the stream (the window keeps the last image)
  F6    start / stop recording to lookout-HOST-YYYYmmdd-HHMMSS.mkv in the
        working directory (the title shows REC mm:ss)
  F9    save the current image as a PNG in the working directory
  F10   toggle view-only: stop / resume sending mouse and keyboard

Every other key (letters, digits, F1-F5, F11, F12, Enter, Escape, arrows, ...),
the mouse buttons and the wheel go to the agent while the pointer is over the
image. Close the window to quit.

Identity: the connection is TLS 1.3, and the agent is recognised by the SHA-256
fingerprint of its certificate, which it prints at every start. Pass it with
--fingerprint, or let the first connection record it in the known-hosts file
(~/.config/lookout-viewer/known_hosts): later connections then refuse an agent
with another identity, like SSH does.

Exit status: 0 when the window is closed or the snapshot written; 2 when the
agent refuses the token (or wants one and none was given); 3 when the agent is
not the one pinned (another fingerprint); 1 for anything else (agent
unreachable, timeout, busy agent with --snapshot, bad usage).";

/// lookout-viewer: watch and steer a lookout agent's screen.
///
/// Connects to `lookout-server` at HOST (port 6868 unless given) over TLS,
/// checks the agent's identity, proves the shared token (an HMAC challenge;
/// the token never crosses the network) and shows the screen in a window
/// scaled to fit. When the agent goes away the
/// window keeps the last image and reconnects by itself.
#[derive(Debug, Parser)]
#[command(name = "lookout-viewer", version, about, long_about, after_help = KEYS_HELP)]
pub struct Args {
    /// The agent: HOST, HOST:PORT, an IPv6 address as `[ADDR]` or
    /// `[ADDR]:PORT`, or the NAME of a `[hosts.NAME]` entry of the config
    /// file. Not with --discover.
    #[arg(
        value_name = "HOST[:PORT]",
        required_unless_present = "discover",
        conflicts_with = "discover"
    )]
    pub target: Option<String>,

    /// Find agents on the local network instead of connecting: broadcast a
    /// probe on every IPv4 interface (UDP port 6868) and to every --probe,
    /// then print one line per agent that answered (name, HOST:PORT,
    /// fingerprint, whether known-hosts knows it, auth mode). Exit status 1
    /// when none answered. Nothing is written to known-hosts.
    #[arg(long)]
    pub discover: bool,

    /// With --discover: seconds to wait for replies (1-60). Default: 1.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=60))]
    pub discover_timeout: Option<u64>,

    /// With --discover: also probe this host directly, for networks
    /// without broadcast (UDP port 6868 unless given). Repeatable.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub probe: Vec<String>,

    /// With --wall: the other agents, as HOST above.
    #[arg(value_name = "HOST[:PORT]", requires = "wall")]
    pub more_targets: Vec<String>,

    /// One window with a live tile per agent (each HOST), small pictures
    /// at a low rate; click a tile to open that agent full size. Keys: F5
    /// reconnect all, F8 pause / resume all, F9 save the wall as a PNG.
    /// --token is every agent's; a `[hosts.NAME]` entry's own token wins.
    #[arg(long, conflicts_with = "snapshot")]
    pub wall: bool,

    /// With --wall: frames a second asked of each agent (1-30).
    #[arg(long, value_name = "N", default_value_t = crate::wall::DEFAULT_WALL_FPS, value_parser = clap::value_parser!(u32).range(1..=30), requires = "wall")]
    pub wall_fps: u32,

    /// The agent's token. Prefer the LOOKOUT_TOKEN environment variable:
    /// command lines are visible to other local users.
    #[arg(long, env = "LOOKOUT_TOKEN", hide_env_values = true, value_name = "T")]
    pub token: Option<Token>,

    /// The agent's fingerprint as it prints it (sha256:HEX): connect only
    /// if it matches. Without it, the known-hosts file decides.
    #[arg(long, value_name = "sha256:HEX")]
    pub fingerprint: Option<Fingerprint>,

    /// The known-hosts file: where agents met before are recorded.
    /// Default: ~/.config/lookout-viewer/known_hosts.
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    pub known_hosts: Option<PathBuf>,

    /// Plain TCP, for an agent started with --no-tls (debugging only: no
    /// encryption, no identity check). Only to a loopback host (localhost,
    /// 127.0.0.0/8, ::1).
    #[arg(long, conflicts_with_all = ["fingerprint", "known_hosts"])]
    pub no_tls: bool,

    /// No window: connect, write one frame as a PNG to FILE, exit.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Record from the first frame into FILE (Matroska, MJPEG; created
    /// owner-only). F6 stops and starts again under a generated name.
    #[arg(long, value_name = "FILE.mkv", conflicts_with = "snapshot")]
    pub record: Option<PathBuf>,

    /// With --snapshot: write the N-th frame received (1 = the first).
    #[arg(long, value_name = "N", default_value = "1", requires = "snapshot")]
    pub frames: NonZeroU32,

    /// Seconds to wait for the agent: for the connection and handshake
    /// (and, with --snapshot, for the first frame).
    #[arg(long, value_name = "SECS", default_value_t = HANDSHAKE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Largest JPEG the viewer accepts from the agent, in MiB.
    #[arg(long, value_name = "MB", default_value_t = DEFAULT_MAX_IMAGE_LEN >> 20, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_image_mb: u64,

    /// Override the session's other time limits, mostly for testing:
    /// `silence=15s,ping=5s` are the defaults (`ms` works too). The agent is
    /// taken for gone after `silence` without a byte; the viewer pings every
    /// `ping`. The handshake limit is --timeout.
    #[arg(long, value_name = "NAME=DURATION,...", default_value = "")]
    pub timeouts: Timeouts,

    /// The agent's monitor to show first: its id, its name (`left`,
    /// `DP-1`), or `all` for the whole desktop. Default: the agent's
    /// choice. An unknown one ends the viewer, naming the choices.
    #[arg(long, value_name = "ID|NAME|all")]
    pub monitor: Option<MonitorChoice>,

    /// At most N frames a second (1-120; the agent's own rate still caps
    /// it). Default: the agent's rate. Needs an agent with `profiles`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=120))]
    pub fps: Option<u64>,

    /// JPEG quality ceiling, 1-100. Default: the agent's. Needs an agent
    /// with `profiles`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub quality: Option<u64>,

    /// The largest picture to receive, WIDTHxHEIGHT (each 16-16384): caps
    /// the window's size, which is what the viewer asks for otherwise (a
    /// small window costs less); with --snapshot, the size asked for. The
    /// agent scales down, keeping the shape. Needs an agent with
    /// `profiles`.
    #[arg(long, value_name = "WxH")]
    pub max_size: Option<MaxSize>,

    /// Read defaults and named hosts from FILE instead of
    /// ~/.config/lookout-viewer/config.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read no config file.
    #[arg(
        long,
        env = "LOOKOUT_NO_CONFIG",
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with = "config"
    )]
    pub no_config: bool,
}

/// The shared secret. Its `Debug` never shows it, so a logged [`Config`]
/// cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself, for computing the handshake answer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What to do once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Show the stream in a window and steer the agent.
    Window,
    /// Write one frame as a PNG and exit.
    Snapshot {
        /// Where to write it.
        path: PathBuf,
        /// Which frame (1 = the first received).
        frame: NonZeroU32,
    },
}

/// The validated settings of one viewer run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The agent to connect to.
    pub target: Target,
    /// How to check the agent's identity (or plain TCP).
    pub trust: Trust,
    /// The token, if any (an agent started with `--no-auth` needs none).
    pub token: Option<Token>,
    /// Window or snapshot.
    pub mode: Mode,
    /// Every time limit. `handshake` (`--timeout`) is how long the viewer
    /// waits for an agent to answer: connecting plus the handshake, and the
    /// first frame (of a snapshot, or to size the window by). `silence` and
    /// `ping_interval` keep a live session honest; tests shorten them.
    pub timeouts: Timeouts,
    /// Largest accepted JPEG in bytes (`--max-image-mb`).
    pub max_image_len: u64,
    /// The monitor to show first (`--monitor`); `None`: the agent's choice.
    pub monitor: Option<MonitorChoice>,
    /// `--fps`, `--quality`, `--max-size`: asked of an agent that offers
    /// `profiles`.
    pub stream: StreamAsk,
    /// `--record`: the file to record into from the first frame.
    pub record: Option<PathBuf>,
}

impl Config {
    /// A window-mode configuration with the defaults of the command line
    /// but `trust`.
    pub fn new(target: Target, trust: Trust, token: Option<Token>) -> Self {
        Self {
            target,
            trust,
            token,
            mode: Mode::Window,
            timeouts: Timeouts::DEFAULT,
            max_image_len: DEFAULT_MAX_IMAGE_LEN,
            monitor: None,
            stream: StreamAsk::default(),
            record: None,
        }
    }

    /// The codec limits this configuration asks for.
    pub fn limits(&self) -> Limits {
        Limits::viewer().with_max_image_len(self.max_image_len)
    }
}

/// Command-line values that parse but cannot be used together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A bad `HOST[:PORT]`.
    #[error("{0}")]
    Target(#[from] TargetError),
    /// `--token ""`.
    #[error("the token is empty; leave --token and LOOKOUT_TOKEN unset for an agent without auth")]
    EmptyToken,
    /// No `--fingerprint`, no `--known-hosts` and no config directory.
    #[error(
        "no config directory for the known-hosts file (is HOME set?); pass --fingerprint or --known-hosts FILE"
    )]
    NoKnownHosts,
    /// `--no-tls` to a host other hosts could answer for.
    #[error(
        "--no-tls is only allowed to a loopback host (localhost, 127.0.0.1, ::1), not {0}: \
         the screen, the input and the token proof would cross the network in the clear, \
         to whoever answers"
    )]
    NoTlsOffLoopback(String),
    /// A number outside its range (the flags check theirs as they parse;
    /// the config file's are checked here).
    #[error("{option} must be {min} to {max}, not {value}")]
    OutOfRange {
        /// Which option.
        option: &'static str,
        /// Its smallest value.
        min: u64,
        /// Its largest value.
        max: u64,
        /// What it was given.
        value: u64,
    },
    /// `--discover-timeout` or `--probe` without `--discover`.
    #[error("--discover-timeout and --probe only go with --discover")]
    NeedsDiscover,
    /// `--timeouts` names a limit the viewer does not have, or pings no
    /// more often than the silence limit.
    #[error("--timeouts: {0}")]
    Timeouts(&'static str),
}

impl Args {
    /// With `--discover`: what to probe and the known-hosts file to compare
    /// with (`--known-hosts`, else the default one if there is a config
    /// directory); `None` without `--discover`.
    pub fn discovery(&self) -> Result<Option<(DiscoverOptions, Option<PathBuf>)>, ConfigError> {
        if !self.discover {
            return Ok(None);
        }
        let probes = self
            .probe
            .iter()
            .map(|probe| Target::parse(probe))
            .collect::<Result<Vec<_>, _>>()?;
        let options = DiscoverOptions {
            timeout: Duration::from_secs(
                in_range(
                    "discover_timeout",
                    self.discover_timeout.unwrap_or(1),
                    1,
                    60,
                )?
                .into(),
            ),
            probes,
            ..DiscoverOptions::default()
        };
        let known_hosts = self
            .known_hosts
            .clone()
            .or_else(crate::trust::default_known_hosts_path);
        Ok(Some((options, known_hosts)))
    }

    /// Checks the options and turns them into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        if self.discover_timeout.is_some() || !self.probe.is_empty() {
            // clap's `requires` takes the flag's default `false` for present.
            return Err(ConfigError::NeedsDiscover);
        }
        let target = Target::parse(self.target.as_deref().unwrap_or_default())?;
        in_range("timeout", self.timeout, 1, 3600)?;
        in_range("max_image_mb", self.max_image_mb, 1, 4096)?;
        let fps = self.fps.map(|v| in_range("fps", v, 1, 120)).transpose()?;
        let quality = self
            .quality
            .map(|v| in_range("quality", v, 1, 100))
            .transpose()?;
        let t = self.timeouts;
        let defaults = Timeouts::DEFAULT;
        if t.handshake != defaults.handshake {
            return Err(ConfigError::Timeouts(
                "the viewer's handshake limit is --timeout",
            ));
        }
        if (t.write, t.auth_block) != (defaults.write, defaults.auth_block) {
            return Err(ConfigError::Timeouts(
                "write and auth-block are the agent's limits",
            ));
        }
        if t.ping_interval >= t.silence {
            return Err(ConfigError::Timeouts("ping must be shorter than silence"));
        }
        let token = match self.token {
            Some(token) if token.expose().is_empty() => return Err(ConfigError::EmptyToken),
            token => token,
        };
        let trust = match (self.no_tls, self.fingerprint, self.known_hosts) {
            (true, _, _) if !target.is_loopback() => {
                return Err(ConfigError::NoTlsOffLoopback(target.host));
            }
            (true, _, _) => {
                tracing::warn!("--no-tls: no encryption and no check of who answers");
                Trust::Plain
            }
            (false, Some(fingerprint), _) => Trust::Pinned(fingerprint),
            (false, None, Some(path)) => Trust::KnownHosts(path),
            (false, None, None) => Trust::default_known_hosts().ok_or(ConfigError::NoKnownHosts)?,
        };
        let mode = match self.snapshot {
            Some(path) => Mode::Snapshot {
                path,
                frame: self.frames,
            },
            None => Mode::Window,
        };
        Ok(Config {
            target,
            trust,
            token,
            mode,
            timeouts: Timeouts {
                handshake: Duration::from_secs(self.timeout),
                ..self.timeouts
            },
            // In range by the value parser: at most 4096 MiB.
            max_image_len: self.max_image_mb.saturating_mul(1024 * 1024),
            monitor: self.monitor,
            stream: StreamAsk {
                fps,
                quality,
                max_size: self.max_size,
            },
            record: self.record,
        })
    }
}

/// `value`, if it is `min..=max` (a `u32` range, so it fits one).
fn in_range(option: &'static str, value: u64, min: u32, max: u32) -> Result<u32, ConfigError> {
    match u32::try_from(value) {
        Ok(fits) if (min..=max).contains(&fits) => Ok(fits),
        _ => Err(ConfigError::OutOfRange {
            option,
            min: min.into(),
            max: max.into(),
            value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args =
            Args::try_parse_from(std::iter::once("lookout-viewer").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        args.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_open_a_window_with_ten_second_timeout_and_64_mib_images() {
        let config = parse(&["host", "--token", "t"]).unwrap();
        assert_eq!(config.mode, Mode::Window);
        assert_eq!(config.timeouts.handshake, Duration::from_secs(10));
        assert_eq!(config.timeouts, Timeouts::DEFAULT);
        assert_eq!(config.max_image_len, 64 * 1024 * 1024);
        assert_eq!(config.limits().max_image_len, 64 * 1024 * 1024);
        assert_eq!(config.token, Some(Token::new("t")));
    }

    #[test]
    fn snapshot_takes_the_nth_frame_and_frames_needs_snapshot() {
        let config = parse(&["h", "--snapshot", "out.png", "--frames", "3"]).unwrap();
        assert_eq!(
            config.mode,
            Mode::Snapshot {
                path: "out.png".into(),
                frame: NonZeroU32::new(3).unwrap()
            }
        );
        assert!(parse(&["h", "--frames", "3"]).is_err());
        assert!(parse(&["h", "--snapshot", "x.png", "--frames", "0"]).is_err());
    }

    #[test]
    fn monitor_takes_an_id_a_name_or_all() {
        assert_eq!(parse(&["h"]).unwrap().monitor, None);
        let m = |v| parse(&["h", "--monitor", v]).unwrap().monitor;
        assert_eq!(m("2"), Some(MonitorChoice::Id(2)));
        assert_eq!(m("left"), Some(MonitorChoice::Name("left".into())));
        assert_eq!(m("all"), Some(MonitorChoice::All));
        assert!(parse(&["h", "--monitor", ""]).is_err());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(parse(&["h", "--timeout", "0"]).is_err());
        assert!(parse(&["h", "--max-image-mb", "0"]).is_err());
        assert!(parse(&["h", "--token", ""]).is_err());
        assert!(parse(&["h:0"]).is_err());
    }

    #[test]
    fn stream_flags_are_checked_against_the_protocols_ranges() {
        assert_eq!(parse(&["h"]).unwrap().stream, StreamAsk::default());
        let config = parse(&[
            "h",
            "--fps",
            "120",
            "--quality",
            "1",
            "--max-size",
            "320x180",
        ]);
        assert_eq!(
            config.unwrap().stream,
            StreamAsk {
                fps: Some(120),
                quality: Some(1),
                max_size: Some(MaxSize {
                    width: 320,
                    height: 180
                }),
            }
        );
        for bad in [
            ["--fps", "0"],
            ["--fps", "121"],
            ["--quality", "0"],
            ["--quality", "101"],
            ["--max-size", "15x100"],
            ["--max-size", "100x16385"],
            ["--max-size", "640"],
        ] {
            assert!(parse(&["h", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn discover_needs_no_target_and_takes_a_timeout_and_probes() {
        let args = |list: &[&str]| {
            Args::try_parse_from(std::iter::once("lookout-viewer").chain(list.iter().copied()))
                .map_err(|e| e.to_string())
        };
        let (options, _) = args(&["--discover"]).unwrap().discovery().unwrap().unwrap();
        assert_eq!(options.timeout, Duration::from_secs(1));
        assert!(options.broadcast && options.probes.is_empty());
        let given = args(&[
            "--discover",
            "--discover-timeout",
            "3",
            "--probe",
            "10.1.2.3",
            "--probe",
            "box:7000",
            "--known-hosts",
            "/tmp/kh",
        ])
        .unwrap();
        let (options, known_hosts) = given.discovery().unwrap().unwrap();
        assert_eq!(options.timeout, Duration::from_secs(3));
        assert_eq!(
            options.probes,
            [
                Target::parse("10.1.2.3:6868").unwrap(),
                Target::parse("box:7000").unwrap()
            ]
        );
        assert_eq!(known_hosts, Some(PathBuf::from("/tmp/kh")));
        assert!(args(&["h"]).unwrap().discovery().unwrap().is_none());
        for bad in [
            &["h", "--discover"][..],
            &[],
            &["--discover-timeout", "2", "h"],
            &["--probe", "x", "h"],
            &["--discover", "--discover-timeout", "0"],
            &["--discover", "--discover-timeout", "61"],
        ] {
            let refused = args(bad).and_then(|a| a.into_config().map_err(|e| e.to_string()));
            assert!(refused.is_err(), "{bad:?}");
        }
        assert!(
            args(&["--discover", "--probe", "h:0"])
                .unwrap()
                .discovery()
                .is_err()
        );
    }

    #[test]
    fn token_never_shows_in_debug_output() {
        let config = parse(&["h", "--token", "hunter2"]).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let args =
            Args::try_parse_from(["lookout-viewer", "h", "--token", "hunter2-hunter2"]).unwrap();
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn no_tls_to_a_remote_host_is_refused() {
        for host in [
            "example.com",
            "192.0.2.1:6868",
            "10.0.0.1",
            "[2001:db8::1]",
            "0.0.0.0",
            "[::ffff:127.0.0.1]",
            "localhost.example.com",
        ] {
            let err = parse(&[host, "--no-tls"]).unwrap_err();
            assert!(err.contains("loopback"), "{host}: {err}");
        }
        for host in [
            "localhost",
            "LocalHost:7000",
            "127.0.0.1",
            "127.1.2.3:9",
            "[::1]:6868",
        ] {
            let config = parse(&[host, "--no-tls"]).unwrap();
            assert_eq!(config.trust, Trust::Plain, "{host}");
        }
    }

    #[test]
    fn timeouts_take_only_the_viewers_limits_and_ping_inside_silence() {
        let config = parse(&["h", "--timeouts", "silence=3s,ping=1s"]).unwrap();
        assert_eq!(config.timeouts.silence, Duration::from_secs(3));
        assert_eq!(config.timeouts.ping_interval, Duration::from_secs(1));
        for bad in [
            "handshake=2s",
            "write=2s",
            "auth-block=2s",
            "silence=4s",
            "ping=20s",
        ] {
            assert!(parse(&["h", "--timeouts", bad]).is_err(), "{bad}");
        }
    }
}
