//! The wall's list of agents: a [`WallTarget`] per agent, each a complete
//! viewer [`Config`]. From the command line here: every `HOST` with the
//! flags and the config file applied as for one agent (a flag beats the
//! `[hosts.NAME]` entry, which beats the top level), but for the token:
//! `--token` (or `LOOKOUT_TOKEN`) is the default for every agent, and a
//! host entry's own token wins over it, since a wall mixes agents with
//! their own tokens and agents sharing one. Discovery can build the same
//! list.

use clap::{ArgMatches, FromArgMatches};

use crate::cli::{Args, Config, ConfigError};
use crate::settings::{SettingsError, ViewerFile};

/// One agent on the wall.
#[derive(Debug, Clone)]
pub struct WallTarget {
    /// The agent as the user named it (`HOST[:PORT]` or a `[hosts.NAME]`).
    pub label: String,
    /// How to reach it: address, trust, token, limits.
    pub config: Config,
}

/// A wall host that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// Its config file entry is unusable (token file not owner-only, ...).
    #[error("{host}: {source}")]
    Settings {
        /// The host as given.
        host: String,
        /// Why.
        source: SettingsError,
    },
    /// Its settings do not go together.
    #[error("{host}: {source}")]
    Config {
        /// The host as given.
        host: String,
        /// Why.
        source: ConfigError,
    },
    /// The command line did not parse again (cannot happen after clap
    /// parsed it once).
    #[error("{0}")]
    Clap(#[from] clap::Error),
}

/// Every host of `--wall HOST...`, then each of `found` (`HOST:PORT`s
/// that `--discover` found), as a [`WallTarget`]: the command line's flags
/// applied to each, with `file`'s layers under them. A found agent is
/// trusted as any other host: pinned by known-hosts on first connect,
/// never by the fingerprint its reply claims.
pub fn targets_from_command_line(
    file: &ViewerFile,
    matches: &ArgMatches,
    found: &[String],
) -> Result<Vec<WallTarget>, TargetsError> {
    let first = Args::from_arg_matches(matches)?;
    let hosts: Vec<String> = first
        .target
        .into_iter()
        .chain(first.more_targets)
        .chain(found.iter().cloned())
        .collect();
    hosts
        .into_iter()
        .map(|host| {
            let mut args = Args::from_arg_matches(matches)?;
            args.target = Some(host.clone());
            // Discovery found the hosts; each is then an ordinary target.
            args.discover = false;
            args.discover_timeout = None;
            args.probe.clear();
            let settings = |source| TargetsError::Settings {
                host: host.clone(),
                source,
            };
            file.apply(&mut args, matches).map_err(settings)?;
            if let Some(token) = file.host_token(&host).map_err(settings)? {
                args.token = Some(token);
            }
            let config = args.into_config().map_err(|source| TargetsError::Config {
                host: host.clone(),
                source,
            })?;
            Ok(WallTarget {
                label: host,
                config,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use clap::CommandFactory;

    use super::*;
    use crate::cli::Token;
    use crate::trust::Trust;

    fn targets(argv: &[&str], config: &str) -> Result<Vec<WallTarget>, String> {
        let dir = std::env::temp_dir().join(format!(
            "lookout-wall-targets-{}-{}",
            std::process::id(),
            argv.len() + config.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(config.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let matches = Args::command()
            .try_get_matches_from(std::iter::once("lookout-viewer").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        let file = ViewerFile::read(&path, true).map_err(|e| e.to_string())?;
        let result = targets_from_command_line(&file, &matches, &[]).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    const HOSTS: &str = "\
token = \"shared-token-for-everyone\"
no_tls = true

[hosts.lab-3]
address = \"127.0.0.3:7003\"
token = \"lab-3-own-token-xyz\"
";

    #[test]
    fn every_host_gets_the_shared_token_and_a_named_host_its_own() {
        let all = targets(&["--wall", "127.0.0.1:7001", "lab-3"], HOSTS).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].label, "127.0.0.1:7001");
        assert_eq!(
            all[0].config.token,
            Some(Token::new("shared-token-for-everyone"))
        );
        assert_eq!(all[1].label, "lab-3");
        assert_eq!(all[1].config.target.to_string(), "127.0.0.3:7003");
        assert_eq!(all[1].config.token, Some(Token::new("lab-3-own-token-xyz")));
        assert!(all.iter().all(|t| t.config.trust == Trust::Plain));
    }

    #[test]
    fn a_token_flag_is_for_every_host_but_those_with_their_own_in_the_file() {
        let all = targets(
            &[
                "--wall",
                "127.0.0.1:7001",
                "lab-3",
                "--token",
                "flag-token-abcdef",
            ],
            HOSTS,
        )
        .unwrap();
        assert_eq!(all[0].config.token, Some(Token::new("flag-token-abcdef")));
        assert_eq!(all[1].config.token, Some(Token::new("lab-3-own-token-xyz")));
    }

    #[test]
    fn more_than_one_host_without_wall_is_refused() {
        assert!(targets(&["127.0.0.1:7001", "127.0.0.1:7002"], "").is_err());
    }

    #[test]
    fn wall_without_any_host_is_refused() {
        assert!(targets(&["--wall"], "").is_err());
    }
}
