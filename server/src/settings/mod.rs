//! Where the agent's options come from: the machine-wide file
//! (`/etc/lookout/server.toml`), the user's file
//! (`$XDG_CONFIG_HOME/lookout-server/config.toml`, usually
//! `~/.config/lookout-server/config.toml`) and the command line, in rising
//! precedence, merged key by key with where each value came from.
//!
//! A file is only another source of raw values: every rule about the values
//! themselves lives in [`Config::validate`](crate::Config::validate) and
//! `Options::into_config`, whatever the source. What is checked here is what
//! only a file has: keys it does not know and values of the wrong type
//! (`FILE:LINE: ...`), and tokens in files others can read.
//!
//! ```text
//!  defaults < /etc/lookout/server.toml < ~/.config/lookout-server/config.toml < flags/env
//!             (or --config FILE alone; --no-config or LOOKOUT_NO_CONFIG=1: neither)
//! ```

mod build;
mod file;
mod options;
mod print;
mod private;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use options::{CaptureArg, Options, Parsed, Size, SourceArg, SubsamplingArg};
pub use print::render;
pub use private::OwnerOnlyError;

/// The machine-wide file's directory; `LOOKOUT_SYSTEM_CONFIG_DIR` overrides
/// it (tests, and systems that keep `/etc` elsewhere).
pub const SYSTEM_DIR: &str = "/etc/lookout";
/// The machine-wide file's name in [`SYSTEM_DIR`].
pub const SYSTEM_FILE: &str = "server.toml";
/// The user's file's name in `$XDG_CONFIG_HOME/lookout-server`.
pub const USER_FILE: &str = "config.toml";

/// Which config files to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locations {
    /// The machine-wide file, then the user's; either may be missing.
    Standard {
        /// `/etc/lookout/server.toml`.
        system: PathBuf,
        /// `~/.config/lookout-server/config.toml`, if there is a home.
        user: Option<PathBuf>,
    },
    /// Only this file (`--config FILE`), which must exist.
    Only(PathBuf),
    /// No file (`--no-config`).
    None,
}

impl Locations {
    /// The standard places, from the environment.
    pub fn standard() -> Self {
        let system = std::env::var_os("LOOKOUT_SYSTEM_CONFIG_DIR")
            .map_or_else(|| PathBuf::from(SYSTEM_DIR), PathBuf::from)
            .join(SYSTEM_FILE);
        let user = dirs::config_dir().map(|dir| dir.join("lookout-server").join(USER_FILE));
        Self::Standard { system, user }
    }

    /// The files to read, lowest precedence first, and whether each must exist.
    fn files(&self) -> Vec<(&Path, bool)> {
        match self {
            Self::Standard { system, user } => std::iter::once((system.as_path(), false))
                .chain(user.as_deref().map(|user| (user, false)))
                .collect(),
            Self::Only(path) => vec![(path, true)],
            Self::None => Vec::new(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nobody set it.
    Default,
    /// A config file, and the line of the key when it can be found.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: Option<usize>,
    },
    /// The command line (`--fps`) or its environment variable.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, line: None } => write!(f, "{}", path.display()),
            Self::File {
                path,
                line: Some(line),
            } => write!(f, "{} line {line}", path.display()),
            Self::Flag(flag) => f.write_str(flag),
        }
    }
}

/// The command line's values and, for each one given, its origin: a flag
/// name (`--fps`) or an environment variable (`LOOKOUT_TOKEN`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// The values.
    pub options: Options,
    /// Key (snake_case) to origin label, for keys given.
    pub labels: BTreeMap<String, String>,
}

impl Flags {
    /// Flags whose origins are named after the keys (`--fps`), for callers
    /// without clap's matches.
    pub fn from_options(options: Options) -> Self {
        let labels = keys_of(&options)
            .into_iter()
            .map(|key| {
                let flag = match key.as_str() {
                    // The keys whose flag turns them off.
                    "discovery" => "--no-discovery".to_owned(),
                    "web" => "--no-web".to_owned(),
                    _ => format!("--{}", key.replace('_', "-")),
                };
                (key, flag)
            })
            .collect();
        Self { options, labels }
    }

    /// Flags as clap saw them, telling flags from environment variables.
    pub fn from_matches(options: Options, matches: &clap::ArgMatches) -> Self {
        let mut flags = Self::from_options(options);
        for (key, label) in &mut flags.labels {
            if matches.value_source(key) == Some(clap::parser::ValueSource::EnvVariable) {
                *label = format!("environment {}", env_name(key));
            }
        }
        flags
    }
}

fn env_name(key: &str) -> String {
    format!("LOOKOUT_{}", key.to_uppercase())
}

/// The merged options, with the origin of every key that was set.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The winning value of every key; tokens read from their files.
    pub options: Options,
    /// Origin of every key that was set (absent: the default).
    pub origins: BTreeMap<String, Origin>,
}

impl Resolved {
    /// Where `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }
}

/// A config file or a token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Unreadable (other than missing, for the standard files).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, as the parser says it.
        message: String,
    },
    /// Both a token and a file to read it from, at the same level.
    #[error("{origin}: both {key} and {key}_file are set; keep one")]
    Both {
        /// `token` or `view_token`.
        key: &'static str,
        /// Where.
        origin: Origin,
    },
    /// A token in a file that is not owner-only.
    #[error(transparent)]
    OwnerOnly(#[from] OwnerOnlyError),
    /// An empty token file.
    #[error("{} is empty; put the token on its first line", .0.display())]
    EmptyTokenFile(PathBuf),
}

/// Reads the files `locations` names and lays `flags` over them.
pub fn load(locations: &Locations, flags: &Flags) -> Result<Resolved, SettingsError> {
    let mut values = toml::Table::new();
    let mut origins = BTreeMap::new();
    // Each key's level: 1 + the file's index, or FLAGS; higher wins.
    let mut levels: BTreeMap<String, usize> = BTreeMap::new();
    const FLAGS: usize = usize::MAX;
    for (index, (path, required)) in locations.files().into_iter().enumerate() {
        let Some(layer) = file::read(path, required)? else {
            continue;
        };
        for (key, value) in layer.table {
            let origin = Origin::File {
                path: path.to_owned(),
                line: file::line_of(&layer.text, &key),
            };
            origins.insert(key.clone(), origin);
            levels.insert(key.clone(), index + 1);
            values.insert(key, value);
        }
    }
    for (key, value) in table_of(&flags.options) {
        let label = flags
            .labels
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("--{key}"));
        origins.insert(key.clone(), Origin::Flag(label));
        levels.insert(key.clone(), FLAGS);
        values.insert(key, value);
    }
    // Every layer parsed as `Options` already: this fails only on a bug.
    let mut options: Options =
        values
            .try_into()
            .map_err(|err: toml::de::Error| SettingsError::Invalid {
                path: PathBuf::from("(merged settings)"),
                line: 0,
                message: err.to_string(),
            })?;
    for (key, file_key) in [("token", "token_file"), ("view_token", "view_token_file")] {
        let (direct, via_file) = (levels.get(key), levels.get(file_key));
        if direct.is_some() && direct == via_file {
            return Err(SettingsError::Both {
                key,
                origin: origins[key].clone(),
            });
        }
        if via_file > direct {
            let path = match key {
                "token" => options.token_file.as_deref(),
                _ => options.view_token_file.as_deref(),
            };
            let token = path.map(private::read_token).transpose()?;
            match key {
                "token" => options.token = token,
                _ => options.view_token = token,
            }
            origins.insert(key.to_owned(), origins[file_key].clone());
        }
    }
    Ok(Resolved { options, origins })
}

/// The keys `options` sets, in no particular order.
fn keys_of(options: &Options) -> Vec<String> {
    table_of(options).into_iter().map(|(key, _)| key).collect()
}

/// `options` as a TOML table of the keys it sets (`None` fields are left out).
fn table_of(options: &Options) -> toml::Table {
    // Every field is a string, integer, boolean or path: always representable.
    toml::Table::try_from(options).unwrap_or_default()
}

/// Every key an [`Options`] has, in the order `--help` lists them.
pub fn all_keys() -> Vec<String> {
    let command = <Options as clap::Args>::augment_args(clap::Command::new("keys"));
    command
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect()
}

#[cfg(test)]
mod tests;
