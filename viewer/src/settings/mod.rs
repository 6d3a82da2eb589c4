//! The viewer's config file, `~/.config/lookout-viewer/config.toml`
//! (`$XDG_CONFIG_HOME` honoured; `--config FILE` picks another, `--no-config`
//! or `LOOKOUT_NO_CONFIG=1` none): defaults for every agent at the top, and
//! named agents under `[hosts.NAME]`, so `lookout-viewer lab-3` connects to
//! the address, with the token and pin, written there.
//!
//! ```toml
//! timeout = 20                       # defaults for every agent
//! known_hosts = "/srv/wall/known_hosts"
//!
//! [hosts.lab-3]
//! address = "10.0.0.13:6868"
//! token_file = "lab-3.token"         # owner-only; relative to this file
//! fingerprint = "sha256:..."
//! monitor = "all"
//! max_size = "1280x720"              # also fps = N, quality = N
//! ```
//!
//! A flag (or `LOOKOUT_TOKEN`) beats the host's entry, which beats the
//! top-level defaults, which beat the built-in ones. Unknown keys and wrong
//! types are errors at `FILE:LINE`; a token is taken from the file only if
//! the file is owner-only, and from a `token_file` only if that one is.

mod private;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::parser::ValueSource;
use lookout_protocol::{Fingerprint, Timeouts};
use serde::Deserialize;

use crate::choice::MonitorChoice;
use crate::cli::{Args, Token};
use crate::stream::MaxSize;
pub use private::OwnerOnlyError;

/// The file's name in `$XDG_CONFIG_HOME/lookout-viewer`.
pub const USER_FILE: &str = "config.toml";

/// The keys of the file's top level and of each `[hosts.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// `HOST[:PORT]` of a named host (only in `[hosts.NAME]`).
    pub address: Option<String>,
    /// The token; only in an owner-only file.
    pub token: Option<String>,
    /// A file holding the token, owner-only; relative to the config file.
    pub token_file: Option<PathBuf>,
    /// The agent's fingerprint, `sha256:HEX`.
    #[serde(default, deserialize_with = "parsed")]
    pub fingerprint: Option<Fingerprint>,
    /// The known-hosts file.
    pub known_hosts: Option<PathBuf>,
    /// Plain TCP (loopback agents only).
    pub no_tls: Option<bool>,
    /// Seconds to wait for the agent (`--timeout`).
    pub timeout: Option<u64>,
    /// Largest accepted JPEG in MiB (`--max-image-mb`).
    pub max_image_mb: Option<u64>,
    /// `--timeouts`.
    #[serde(default, deserialize_with = "parsed")]
    pub timeouts: Option<Timeouts>,
    /// The monitor to show first (`--monitor`).
    #[serde(default, deserialize_with = "parsed")]
    pub monitor: Option<MonitorChoice>,
    /// At most this many frames a second (`--fps`).
    pub fps: Option<u64>,
    /// JPEG quality ceiling (`--quality`).
    pub quality: Option<u64>,
    /// The largest picture to receive, `"WxH"` (`--max-size`).
    #[serde(default, deserialize_with = "parsed")]
    pub max_size: Option<MaxSize>,
    /// Named agents (only at the top level).
    pub hosts: Option<BTreeMap<String, HostSettings>>,
}

fn parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Unreadable (other than a missing default file).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, a value of the wrong type, a key in the
    /// wrong place.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A token in a file others can read, or in a token file of another user.
    #[error(transparent)]
    OwnerOnly(#[from] OwnerOnlyError),
    /// An empty token file.
    #[error("{} is empty; put the token on its first line", .0.display())]
    EmptyTokenFile(PathBuf),
}

/// The viewer's config file as read.
#[derive(Debug, Default)]
pub struct ViewerFile {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    /// Its top level.
    pub defaults: HostSettings,
}

impl ViewerFile {
    /// The file `args` asks for: `--config FILE` (which must exist), none
    /// with `--no-config`, else the user's (if it exists).
    pub fn for_args(args: &Args) -> Result<Self, SettingsError> {
        match (&args.config, args.no_config) {
            (Some(path), _) => Self::read(path, true),
            (None, true) => Ok(Self::default()),
            (None, false) => match dirs::config_dir() {
                Some(dir) => Self::read(&dir.join("lookout-viewer").join(USER_FILE), false),
                None => Ok(Self::default()),
            },
        }
    }

    /// Reads `path`; a missing file is empty unless `required`.
    pub fn read(path: &Path, required: bool) -> Result<Self, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(SettingsError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
            Ok(text) => text,
        };
        let invalid = |line, message| SettingsError::Invalid {
            path: path.to_owned(),
            line,
            message,
        };
        let mut defaults: HostSettings = toml::from_str(&text).map_err(|err| {
            let line = err.span().map_or(1, |s| line_at(&text, s.start));
            invalid(line, err.message().trim_end().to_owned())
        })?;
        if defaults.address.is_some() {
            let line = line_of(&text, "address");
            return Err(invalid(
                line,
                "address belongs in a [hosts.NAME] table".into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut any_token = defaults.token.is_some();
        absolute(&mut defaults.token_file, base);
        for (name, host) in defaults.hosts.iter_mut().flatten() {
            let header = line_of(&text, &format!("[hosts.{name}]"));
            if host.hosts.is_some() {
                return Err(invalid(header, format!("[hosts.{name}] cannot hold hosts")));
            }
            if host.address.is_none() {
                return Err(invalid(header, format!("[hosts.{name}] needs an address")));
            }
            any_token |= host.token.is_some();
            absolute(&mut host.token_file, base);
        }
        if any_token {
            private::check_owner_only(path)?;
        }
        Ok(Self {
            path: Some(path.to_owned()),
            defaults,
        })
    }

    /// Fills in what the command line left out: from the host entry named
    /// by the target (whose address then becomes the target), then from the
    /// top level. `matches` tells given flags from clap's defaults.
    pub fn apply(&self, args: &mut Args, matches: &clap::ArgMatches) -> Result<(), SettingsError> {
        let given = |id: &str| {
            matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        let host = self
            .defaults
            .hosts
            .as_ref()
            .zip(args.target.as_ref())
            .and_then(|(hosts, target)| hosts.get(target));
        let layers: Vec<&HostSettings> = host.into_iter().chain([&self.defaults]).collect();
        // The first layer (host entry, then top level) that sets a key.
        let first = |get: &dyn Fn(&HostSettings) -> bool| layers.iter().copied().find(|l| get(l));
        if let Some(address) = host.and_then(|h| h.address.clone()) {
            tracing::info!(host = ?args.target, %address, "host from the config file");
            args.target = Some(address);
        }
        let token = first(&|l| l.token.is_some() || l.token_file.is_some());
        if let (false, Some(layer)) = (given("token"), token) {
            args.token = match (&layer.token, &layer.token_file) {
                (Some(token), _) => Some(Token::new(token.clone())),
                (None, file) => file.as_deref().map(private::read_token).transpose()?,
            };
        }
        // A pin or a known-hosts file on the command line replaces the
        // file's way of trusting the agent altogether.
        let trust_given = given("fingerprint") || given("known_hosts") || given("no_tls");
        if !trust_given {
            args.fingerprint = first(&|l| l.fingerprint.is_some()).and_then(|l| l.fingerprint);
            if args.fingerprint.is_none() {
                args.known_hosts =
                    first(&|l| l.known_hosts.is_some()).and_then(|l| l.known_hosts.clone());
            }
            if let Some(layer) = first(&|l| l.no_tls.is_some()) {
                args.no_tls = layer.no_tls == Some(true);
            }
        }
        if let (false, Some(layer)) = (given("timeout"), first(&|l| l.timeout.is_some())) {
            args.timeout = layer.timeout.unwrap_or(args.timeout);
        }
        let max = first(&|l| l.max_image_mb.is_some());
        if let (false, Some(layer)) = (given("max_image_mb"), max) {
            args.max_image_mb = layer.max_image_mb.unwrap_or(args.max_image_mb);
        }
        if let (false, Some(layer)) = (given("timeouts"), first(&|l| l.timeouts.is_some())) {
            args.timeouts = layer.timeouts.unwrap_or(args.timeouts);
        }
        if let (false, Some(layer)) = (given("monitor"), first(&|l| l.monitor.is_some())) {
            args.monitor = layer.monitor.clone();
        }
        // Checked against their ranges with the flags' values.
        if let (false, Some(layer)) = (given("fps"), first(&|l| l.fps.is_some())) {
            args.fps = layer.fps;
        }
        if let (false, Some(layer)) = (given("quality"), first(&|l| l.quality.is_some())) {
            args.quality = layer.quality;
        }
        if let (false, Some(layer)) = (given("max_size"), first(&|l| l.max_size.is_some())) {
            args.max_size = layer.max_size;
        }
        Ok(())
    }
}

impl ViewerFile {
    /// The token the `[hosts.NAME]` entry sets itself (`token` or
    /// `token_file`), if `name` has an entry that does. The wall lets it
    /// win over `--token`, which there is the default for every agent.
    pub fn host_token(&self, name: &str) -> Result<Option<Token>, SettingsError> {
        let Some(host) = self.defaults.hosts.as_ref().and_then(|h| h.get(name)) else {
            return Ok(None);
        };
        match (&host.token, &host.token_file) {
            (Some(token), _) => Ok(Some(Token::new(token.clone()))),
            (None, file) => file.as_deref().map(private::read_token).transpose(),
        }
    }
}

fn absolute(file: &mut Option<PathBuf>, base: &Path) {
    if let Some(file) = file.as_mut().filter(|f| f.is_relative()) {
        *file = base.join(&*file);
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The first line that starts with `start` (a key or a table header), or 1.
fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|line| line.trim_start().starts_with(start))
        .map_or(1, |index| index + 1)
}

#[cfg(test)]
mod tests;
