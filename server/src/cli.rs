//! The command line, as the user types it. [`Args::into_config`] validates it
//! into a [`Config`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::settings::{Flags, Locations, Options};

/// lookout-server: share this machine's screen with lookout viewers and let
/// them steer its mouse and keyboard.
///
/// Viewers connect with `lookout-viewer HOST[:PORT] --token TOKEN`. All
/// traffic is TLS 1.3; the agent's certificate is its own, made on first
/// start, and its fingerprint is printed at every start for viewers to pin.
/// Every viewer must prove it knows a token (an HMAC challenge; the token
/// never crosses the network). Without --token the agent makes one up and
/// prints it once, with a viewer command line to paste.
///
/// Every option can also be set in /etc/lookout/server.toml (machine-wide)
/// or ~/.config/lookout-server/config.toml (this user), by its name in
/// snake_case (`max_viewers = 4`); flags override the user's file, which
/// overrides the machine's. --print-config shows the result.
#[derive(Debug, Parser)]
#[command(name = "lookout-server", version, about, long_about)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Every agent option.
    #[command(flatten)]
    pub options: Options,

    /// Read the settings from FILE only, instead of /etc/lookout/server.toml
    /// and ~/.config/lookout-server/config.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read no config file, only flags and environment variables.
    #[arg(
        long,
        env = "LOOKOUT_NO_CONFIG",
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with = "config"
    )]
    pub no_config: bool,

    /// Print the effective settings and where each came from (default, a
    /// file and line, a flag), then exit. Tokens are shown as <redacted>.
    #[arg(long)]
    pub print_config: bool,

    /// Something other than running the agent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `lookout-server COMMAND`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent as a systemd user service, started with the graphical
    /// session.
    Service {
        /// What to do.
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Show this user's running agent and every viewer session: id, peer,
    /// role, since, watching, fps, kbit/s and input events (averages over
    /// each session's life).
    Status {
        /// Where the agent's control socket is.
        #[command(flatten)]
        socket: ControlArgs,
        /// Print the agent's JSON reply instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End one viewer's session; the viewer is shown the message.
    Kick {
        /// The session's id, as `status` lists it.
        id: u64,
        /// What the viewer is told.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
        /// Where the agent's control socket is.
        #[command(flatten)]
        socket: ControlArgs,
    },
    /// Stop streaming to every viewer (they are told "paused by the
    /// agent's user"; nothing is captured) until `resume`.
    Pause {
        /// Where the agent's control socket is.
        #[command(flatten)]
        socket: ControlArgs,
    },
    /// Start streaming again after `pause`.
    Resume {
        /// Where the agent's control socket is.
        #[command(flatten)]
        socket: ControlArgs,
    },
}

/// Where the running agent's control socket is.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlArgs {
    /// The agent's --control-socket. Default: the one an agent of this
    /// user makes.
    #[arg(long, value_name = "PATH", env = "LOOKOUT_CONTROL_SOCKET")]
    pub control_socket: Option<PathBuf>,
}

/// `lookout-server service ACTION`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ServiceAction {
    /// Write ~/.config/systemd/user/lookout-server.service and enable and
    /// start it (or say how, without a reachable user manager).
    Install {
        /// Start the agent with `--config FILE` (default: the standard
        /// config files).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Stop, disable and remove the unit that `install` wrote.
    Uninstall,
    /// Whether the unit is installed, enabled and running.
    Status,
}

impl Args {
    /// The config files these arguments ask for: `--config FILE`, none with
    /// `--no-config`, else the standard places.
    pub fn locations(&self) -> Locations {
        match (&self.config, self.no_config) {
            (Some(file), _) => Locations::Only(file.clone()),
            (None, true) => Locations::None,
            (None, false) => Locations::standard(),
        }
    }

    /// The flags alone (no config file) as a [`Config`]: for tests and
    /// programs that build the agent from arguments. The binary merges the
    /// files first ([`crate::settings::load`]).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let resolved = crate::settings::load(&Locations::None, &Flags::from_options(self.options))?;
        resolved.options.into_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Access, Source, Transport};
    use crate::encode::Subsampling;

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
            matches!(config.transport, Transport::Tls(ref dir) if dir.parent().is_some_and(|p| p.ends_with("lookout-server")) || dir.ends_with("lookout-server"))
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
                height: 1080,
                seed: 0,
            }
        );
    }

    #[test]
    fn test_pattern_source_takes_its_seed() {
        let config = parse(&["--source", "test-pattern", "--pattern-seed", "7"]).unwrap();
        assert!(
            matches!(config.source, Source::TestPattern { seed: 7, .. }),
            "{:?}",
            config.source
        );
    }

    #[test]
    fn capture_wlr_picks_the_wlroots_backend() {
        let config = parse(&["--capture", "wlr"]).unwrap();
        assert_eq!(
            config.source,
            Source::Screen(crate::capture::CaptureBackend::Wlr)
        );
    }

    #[test]
    fn capture_portal_picks_the_portal_backend() {
        let config = parse(&["--capture", "portal"]).unwrap();
        assert_eq!(
            config.source,
            Source::Screen(crate::capture::CaptureBackend::Portal)
        );
    }
}
