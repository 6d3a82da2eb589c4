//! The command line, as the user types it. [`Args::into_config`] validates it
//! into a [`Config`].

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use lookout_protocol::{DEFAULT_PORT, PING_INTERVAL, Timeouts};

use crate::config::{Access, CaptureBackend, Config, ConfigError, Source, Transport};
use crate::encode::Subsampling;
use crate::pipeline::CaptureSettings;
use crate::secret::Secret;

/// lookout-server: share this machine's screen with lookout viewers and let
/// them steer its mouse and keyboard.
///
/// Viewers connect with `lookout-viewer HOST[:PORT] --token TOKEN`. All
/// traffic is TLS 1.3; the agent's certificate is its own, made on first
/// start, and its fingerprint is printed at every start for viewers to pin.
/// Every viewer must prove it knows a token (an HMAC challenge; the token
/// never crosses the network). Without --token the agent makes one up and
/// prints it once, with a viewer command line to paste.
#[derive(Debug, Parser)]
#[command(name = "lookout-server", version, about, long_about)]
pub struct Args {
    /// The name viewers are shown for this agent (at most 64 characters).
    /// Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))]
    pub bind: SocketAddr,

    /// Token viewers must prove they know, at least 16 characters (make one
    /// with `openssl rand -base64 24`). Prefer the LOOKOUT_TOKEN environment
    /// variable: command lines are visible to other local users.
    #[arg(long, env = "LOOKOUT_TOKEN", hide_env_values = true, value_name = "T")]
    pub token: Option<Secret>,

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

    /// Directory holding the agent's TLS key and certificate (made on first
    /// start, owner-only permissions). Default: lookout-server in the user's
    /// config directory (~/.config/lookout-server).
    #[arg(long, value_name = "DIR")]
    pub identity: Option<PathBuf>,

    /// Speak plain TCP instead of TLS, for debugging with other tools. Only
    /// allowed with a loopback --bind.
    #[arg(long, conflicts_with = "identity")]
    pub no_tls: bool,

    /// Accept viewers without a token. Only allowed when --bind is a
    /// loopback address (127.0.0.1, ::1), so it never exposes the screen to
    /// the network.
    #[arg(long, conflicts_with_all = ["token", "view_token"])]
    pub no_auth: bool,

    /// Let viewers watch but not control: input commands are refused with
    /// `control_disabled`.
    #[arg(long)]
    pub view_only: bool,

    /// Frames per second to capture while someone is watching (1-240).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: u32,

    /// JPEG quality (1-100): higher is sharper and uses more bandwidth.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// JPEG chroma subsampling: 420 (smaller, faster) or 444 (full colour
    /// resolution: crisp coloured text, bigger frames).
    #[arg(long, value_enum, default_value_t = SubsamplingArg::S420)]
    pub subsampling: SubsamplingArg,

    /// Monitor id (from the viewer's monitor list, 0 = first) that viewers
    /// see when they connect. Default: the primary monitor.
    #[arg(long, value_name = "ID")]
    pub monitor: Option<u32>,

    /// Most viewers at once; the next one is turned away with `busy`.
    #[arg(long, default_value_t = NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN))]
    pub max_viewers: NonZeroUsize,

    /// What to stream: the real screen, or an animated desktop-like test
    /// scene that needs no display (for demos, benchmarks, headless boxes).
    #[arg(long, value_enum, default_value_t = SourceArg::Screen)]
    pub source: SourceArg,

    /// How to capture the screen: auto (X11 with shared memory where
    /// possible, else xcap), x11, or xcap (the portable path).
    #[arg(long, value_enum, default_value_t = CaptureArg::Auto)]
    pub capture: CaptureArg,

    /// Size of the test scene, WIDTHxHEIGHT (with --source test-pattern).
    #[arg(long, value_name = "WxH", default_value = "1280x720", value_parser = parse_size)]
    pub pattern_size: (u32, u32),

    /// End the agent with exit status 75 once the display has been gone
    /// this many seconds (the X server stopped, the user logged out), for a
    /// service manager to restart it. Without it the agent waits for the
    /// display to come back, however long that takes.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub exit_on_display_loss: Option<u32>,

    /// Override session time limits, mostly for testing:
    /// `handshake=10s,silence=15s,write=10s,auth-block=10s` are the defaults
    /// (`ms` works too). Shorter limits drop slow viewers sooner.
    #[arg(long, value_name = "NAME=DURATION,...", default_value = "")]
    pub timeouts: Timeouts,
}

/// `--subsampling` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubsamplingArg {
    /// 4:2:0.
    #[value(name = "420")]
    S420,
    /// 4:4:4.
    #[value(name = "444")]
    S444,
}

/// `--capture` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureArg {
    /// X11 where possible, else xcap.
    Auto,
    /// X11 only.
    X11,
    /// xcap only.
    Xcap,
}

/// `--source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The real screen, captured with xcap.
    Screen,
    /// An animated synthetic desktop; no display needed.
    TestPattern,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
    let w: u32 = w.parse().map_err(|e| format!("width: {e}"))?;
    let h: u32 = h.parse().map_err(|e| format!("height: {e}"))?;
    if !(64..=16384).contains(&w) || !(64..=16384).contains(&h) {
        return Err("each side must be between 64 and 16384".into());
    }
    Ok((w, h))
}

impl Args {
    /// Checks the combination of options and turns them into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        if self.timeouts.ping_interval != Timeouts::DEFAULT.ping_interval {
            return Err(ConfigError::Timeouts("ping is the viewer's limit"));
        }
        if self.timeouts.silence <= PING_INTERVAL {
            tracing::warn!(
                silence = ?self.timeouts.silence,
                "viewers ping every {PING_INTERVAL:?}: a silence limit this short drops them"
            );
        }
        let view_token = self.view_token.map(Secret::into_inner);
        let access = match (self.token, self.no_auth) {
            (Some(token), _) => Access::Token {
                token: token.into_inner(),
                view_token,
                generated: false,
            },
            (None, true) => Access::Open,
            (None, false) => Access::Token {
                token: crate::config::generate_token()?,
                view_token,
                generated: true,
            },
        };
        let transport = match (self.no_tls, self.identity) {
            (true, _) => Transport::Plain,
            (false, Some(dir)) => Transport::Tls(dir),
            // Off loopback the rule below refuses it before it is needed.
            (false, None) => Transport::Tls(crate::tls::Identity::default_dir()?),
        };
        let config = Config {
            bind: self.bind,
            access,
            transport,
            control: !self.view_only,
            capture: CaptureSettings {
                fps: self.fps,
                quality: self.quality,
                subsampling: match self.subsampling {
                    SubsamplingArg::S420 => Subsampling::Half,
                    SubsamplingArg::S444 => Subsampling::Full,
                },
            },
            monitor: self.monitor,
            max_viewers: self.max_viewers,
            timeouts: self.timeouts,
            exit_on_display_loss: self
                .exit_on_display_loss
                .map(|secs| std::time::Duration::from_secs(secs.into())),
            name: match self.name {
                Some(name) => crate::config::checked_name(&name)?,
                None => crate::config::host_name(),
            },
            source: match self.source {
                SourceArg::Screen => Source::Screen(match self.capture {
                    CaptureArg::Auto => CaptureBackend::Auto,
                    CaptureArg::X11 => CaptureBackend::X11,
                    CaptureArg::Xcap => CaptureBackend::Xcap,
                }),
                SourceArg::TestPattern => Source::TestPattern {
                    width: self.pattern_size.0,
                    height: self.pattern_size.1,
                },
            },
        };
        // The library's rules (loopback, token length), in one place.
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args =
            Args::try_parse_from(std::iter::once("lookout-server").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        args.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_generate_a_token_and_listen_on_6868() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.bind.port(), 6868);
        assert!(
            matches!(config.access, Access::Token { generated: true, ref token, view_token: None } if token.len() == 32)
        );
        assert!(
            matches!(config.transport, Transport::Tls(ref dir) if dir.ends_with("lookout-server"))
        );
        assert!(config.control);
        assert_eq!(config.capture.fps, 30);
        assert_eq!(config.capture.quality, 75);
        assert_eq!(config.capture.subsampling, Subsampling::Half);
        let crisp = parse(&["--subsampling", "444"]).unwrap();
        assert_eq!(crisp.capture.subsampling, Subsampling::Full);
        assert!(parse(&["--subsampling", "422"]).is_err());
        assert_eq!(config.max_viewers.get(), 16);
    }

    #[test]
    fn no_auth_is_refused_off_loopback() {
        let err = parse(&["--no-auth"]).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(parse(&["--no-auth", "--bind", "127.0.0.1:0"]).is_ok());
        assert!(parse(&["--no-auth", "--bind", "[::1]:0"]).is_ok());
    }

    #[test]
    fn no_tls_is_refused_off_loopback() {
        let err = parse(&["--no-tls"]).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let plain = parse(&["--no-tls", "--bind", "127.0.0.1:0"]).unwrap();
        assert!(matches!(plain.transport, Transport::Plain));
        assert!(parse(&["--no-tls", "--identity", "/tmp/x", "--bind", "127.0.0.1:0"]).is_err());
        let chosen = parse(&["--identity", "/tmp/x"]).unwrap();
        assert!(
            matches!(chosen.transport, Transport::Tls(ref dir) if dir == std::path::Path::new("/tmp/x"))
        );
    }

    const A: &str = "full-control-token-a";
    const B: &str = "watch-only-token-b";

    #[test]
    fn view_token_sits_beside_the_token() {
        let config = parse(&["--token", A, "--view-token", B]).unwrap();
        assert!(matches!(
            config.access,
            Access::Token { ref token, view_token: Some(ref view), generated: false }
                if token == A && view == B
        ));
        assert!(parse(&["--token", A, "--view-token", A]).is_err());
        assert!(parse(&["--token", A, "--view-token", ""]).is_err());
        assert!(parse(&["--no-auth", "--view-token", B, "--bind", "127.0.0.1:1"]).is_err());
        // A view token alone: the full-control token is made up and printed.
        let config = parse(&["--view-token", B]).unwrap();
        assert!(matches!(
            config.access,
            Access::Token {
                generated: true,
                ..
            }
        ));
    }

    #[test]
    fn token_and_no_auth_conflict() {
        assert!(parse(&["--no-auth", "--token", A, "--bind", "127.0.0.1:1"]).is_err());
    }

    #[test]
    fn a_short_token_is_refused_at_start() {
        let fifteen = "a".repeat(crate::secret::MIN_TOKEN_CHARS - 1);
        for args in [
            vec!["--token", "a"],
            vec!["--token", &fifteen],
            vec!["--token", A, "--view-token", "b"],
            vec!["--view-token", &fifteen],
        ] {
            let err = parse(&args).unwrap_err();
            assert!(err.contains("at least 16"), "{args:?}: {err}");
            assert!(err.contains("guess"), "says why: {err}");
            assert!(err.contains("openssl rand"), "says how: {err}");
        }
        // Sixteen characters (not bytes) are enough.
        assert!(parse(&["--token", &"é".repeat(16)]).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let args = Args::try_parse_from([
            "lookout-server",
            "--token",
            "secret-token-one-0123",
            "--view-token",
            "secret-token-two-0123",
        ])
        .unwrap();
        let shown = format!("{args:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let config = format!("{:?}", args.into_config().unwrap());
        assert!(!config.contains("secret-token"), "{config}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(parse(&["--fps", "0"]).is_err());
        assert!(parse(&["--quality", "101"]).is_err());
        assert!(parse(&["--max-viewers", "0"]).is_err());
        assert!(parse(&["--token", ""]).is_err());
        assert!(parse(&["--pattern-size", "10x10"]).is_err());
    }

    #[test]
    fn test_pattern_source_takes_its_size() {
        let config = parse(&["--source", "test-pattern", "--pattern-size", "1920x1080"]).unwrap();
        assert_eq!(
            config.source,
            Source::TestPattern {
                width: 1920,
                height: 1080
            }
        );
    }
}
