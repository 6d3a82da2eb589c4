//! Every agent option, once: the same struct is the command line's flags
//! (clap) and a config file's keys (serde, snake_case), so an option added
//! here is at once a flag, a config key and a line of `--print-config`.
//!
//! Every field is an `Option`: `None` means "not given here", so layers
//! (system file, user file, flags) merge key by key and the defaults are
//! applied once, after merging ([`crate::cli`]'s `into_config`).

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;

use lookout_protocol::Timeouts;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The agent's options, as flags or as config keys.
///
/// To add an option: add a field here (`#[arg(long)]` makes it a flag, the
/// field name is its config key), then read it in `Options::into_config`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The name viewers are shown for this agent (at most 64 characters).
    /// Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Address and port to listen on. Default: 0.0.0.0:6868.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,

    /// Do not answer LAN discovery probes (`lookout-viewer --discover`)
    /// on UDP at the --bind address and port. Config key: `discovery =
    /// false`. Agents started with --no-tls never answer them.
    #[arg(long = "no-discovery", num_args = 0, default_missing_value = "false", action = clap::ArgAction::Set)]
    pub discovery: Option<bool>,

    /// Do not serve the browser viewer (`https://HOST:PORT/`) on the
    /// agent's port: only native viewers (ALPN `lookout/2`, or none) are
    /// accepted. Config key: `web = false`.
    #[arg(long = "no-web", num_args = 0, default_missing_value = "false", action = clap::ArgAction::Set)]
    pub web: Option<bool>,

    /// Token viewers must prove they know, at least 16 characters (make one
    /// with `openssl rand -base64 24`). Prefer the LOOKOUT_TOKEN environment
    /// variable or `token_file`: command lines are visible to other local
    /// users. In a config file only if the file is owner-only (chmod 600).
    #[arg(long, env = "LOOKOUT_TOKEN", hide_env_values = true, value_name = "T")]
    pub token: Option<Secret>,

    /// A file holding the token (its first line), owner-only (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// A second token that lets viewers watch but never control (input is
    /// refused with `control_disabled`), at least 16 characters.
    /// Environment: LOOKOUT_VIEW_TOKEN.
    #[arg(
        long,
        env = "LOOKOUT_VIEW_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    pub view_token: Option<Secret>,

    /// A file holding the view token (its first line), owner-only (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub view_token_file: Option<PathBuf>,

    /// Directory holding the agent's TLS key and certificate (made on first
    /// start, owner-only permissions). Default: ~/.config/lookout-server/identity
    /// (or ~/.config/lookout-server itself when an identity is already there).
    #[arg(long, value_name = "DIR")]
    pub identity: Option<PathBuf>,

    /// The local control socket that `lookout-server status|kick|pause|
    /// resume` talk to. Default: $XDG_RUNTIME_DIR/lookout-server/control.sock,
    /// else ~/.config/lookout-server/control.sock.
    #[arg(long, value_name = "PATH", env = "LOOKOUT_CONTROL_SOCKET")]
    pub control_socket: Option<PathBuf>,

    /// Speak plain TCP instead of TLS, for debugging with other tools. Only
    /// allowed with a loopback --bind.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_tls: Option<bool>,

    /// Accept viewers without a token. Only allowed when --bind is a
    /// loopback address (127.0.0.1, ::1), so it never exposes the screen to
    /// the network.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_auth: Option<bool>,

    /// Let viewers watch but not control: input commands are refused with
    /// `control_disabled`. `--view-only=false` overrides a config file.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub view_only: Option<bool>,

    /// Frames per second to capture while someone is watching (1-240).
    /// Default: 30.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,

    /// JPEG quality (1-100): higher is sharper and uses more bandwidth.
    /// Default: 75.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,

    /// JPEG chroma subsampling: 420 (smaller, faster) or 444 (full colour
    /// resolution: crisp coloured text, bigger frames). Default: 420.
    #[arg(long, value_enum)]
    pub subsampling: Option<SubsamplingArg>,

    /// Monitor id (from the viewer's monitor list, 0 = first) that viewers
    /// see when they connect. Default: the primary monitor.
    #[arg(long, value_name = "ID")]
    pub monitor: Option<u32>,

    /// Most viewers at once; the next one is turned away with `busy`.
    /// Default: 16.
    #[arg(long)]
    pub max_viewers: Option<NonZeroUsize>,

    /// What to stream: the real screen, or an animated desktop-like test
    /// scene that needs no display (for demos, benchmarks, headless boxes).
    /// Default: screen.
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,

    /// How to capture the screen (input follows): auto (wlroots in a
    /// Wayland session that offers it, the portals on GNOME/KDE Wayland,
    /// X11 with shared memory in an X11 session, else xcap), wlr, portal,
    /// x11, or xcap (the portable path).
    /// Default: auto.
    #[arg(long, value_enum)]
    pub capture: Option<CaptureArg>,

    /// Size of the test scene, WIDTHxHEIGHT (with --source test-pattern).
    /// Default: 1280x720.
    #[arg(long, value_name = "WxH")]
    pub pattern_size: Option<Parsed<Size>>,

    /// Which variant of the test scene (with --source test-pattern): each
    /// seed paints its own wallpaper colour and moves its window on its own
    /// path, so a wall of agents on one machine shows distinct tiles.
    /// Default: 0, the original scene.
    #[arg(long, value_name = "N")]
    pub pattern_seed: Option<u32>,

    /// End the agent with exit status 75 once the display has been gone
    /// this many seconds (1-86400; the X server stopped, the user logged
    /// out), for a service manager to restart it. Default: wait for the
    /// display to come back, however long that takes.
    #[arg(long, value_name = "SECS")]
    pub exit_on_display_loss: Option<u32>,

    /// Record what is streamed, per monitor, into Matroska files (MJPEG)
    /// in DIR (made owner-only if missing; files are 0600). A monitor is
    /// recorded while someone watches it. Default: no recording.
    #[arg(long, value_name = "DIR")]
    pub record_dir: Option<PathBuf>,

    /// Start a new recording file past this many MiB. Default: 1024.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub record_max_mib: Option<u64>,

    /// Start a new recording file past this many seconds. Default: 3600.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub record_max_secs: Option<u64>,

    /// Stop recording (never the streaming) while the recording
    /// directory's disk has less than this many MiB free; start again
    /// when there is room. Default: 1024.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(0..=1_048_576_000))]
    pub record_min_free_mib: Option<u64>,

    /// Frames a second recorded per monitor at most (1-60; always the
    /// newest picture). Default: 10.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    pub record_fps: Option<u32>,

    /// Override session time limits, mostly for testing:
    /// `handshake=10s,silence=15s,write=10s,auth-block=10s` are the defaults
    /// (`ms` works too). Shorter limits drop slow viewers sooner.
    #[arg(long, value_name = "NAME=DURATION,...")]
    pub timeouts: Option<Parsed<Timeouts>>,
}

/// `--subsampling` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum SubsamplingArg {
    /// 4:2:0.
    #[value(name = "420")]
    #[serde(rename = "420")]
    S420,
    /// 4:4:4.
    #[value(name = "444")]
    #[serde(rename = "444")]
    S444,
}

/// `--capture` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureArg {
    /// X11 where possible, else xcap.
    Auto,
    /// X11 only.
    X11,
    /// wlroots screencopy and virtual input only (sway, Wayfire, ...).
    Wlr,
    /// The ScreenCast/RemoteDesktop portals and PipeWire (GNOME, KDE).
    Portal,
    /// xcap only.
    Xcap,
}

/// `--source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceArg {
    /// The real screen, captured with xcap.
    Screen,
    /// An animated synthetic desktop; no display needed.
    TestPattern,
}

/// A test scene's size, `WIDTHxHEIGHT`, each side 64 to 16384.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
        let width: u32 = w.parse().map_err(|e| format!("width: {e}"))?;
        let height: u32 = h.parse().map_err(|e| format!("height: {e}"))?;
        if !(64..=16384).contains(&width) || !(64..=16384).contains(&height) {
            return Err("each side must be between 64 and 16384".into());
        }
        Ok(Self { width, height })
    }
}

/// A value written as text (a flag's argument, a config string), kept with
/// its text so it can be shown and merged as it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// As written.
    pub text: String,
    /// As understood.
    pub value: T,
}

impl<T: FromStr> FromStr for Parsed<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let value = text.parse().map_err(|e: T::Err| e.to_string())?;
        Ok(Self {
            text: text.to_owned(),
            value,
        })
    }
}

impl<T> Serialize for Parsed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, T: FromStr> Deserialize<'de> for Parsed<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
