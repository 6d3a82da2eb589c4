//! Merged [`Options`] to a [`Config`]: the defaults applied once, the
//! combinations checked, then [`Config::validate`] for the rules about
//! values, which hold whoever builds a `Config`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use lookout_protocol::{DEFAULT_PORT, PING_INTERVAL, Timeouts};

use super::{CaptureArg, Options, Parsed, Size, SourceArg, SubsamplingArg};
use crate::config::{Access, CaptureBackend, Config, ConfigError, Source, Transport};
use crate::encode::Subsampling;
use crate::pipeline::CaptureSettings;
use crate::record::RecordSettings;
use crate::secret::Secret;

const DEFAULT_FPS: u32 = 30;
const DEFAULT_QUALITY: u8 = 75;
const DEFAULT_MAX_VIEWERS: NonZeroUsize = NonZeroUsize::new(16).unwrap();
const DEFAULT_PATTERN: Size = Size {
    width: 1280,
    height: 720,
};

fn default_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))
}

impl Options {
    /// The value every key has when nobody sets it, where that is a plain
    /// value (not the host name, the identity directory or the protocol's
    /// time limits, which `--print-config` describes).
    pub fn defaults() -> Self {
        Self {
            bind: Some(default_bind()),
            no_tls: Some(false),
            no_auth: Some(false),
            view_only: Some(false),
            discovery: Some(true),
            web: Some(true),
            fps: Some(DEFAULT_FPS),
            quality: Some(DEFAULT_QUALITY),
            subsampling: Some(SubsamplingArg::S420),
            max_viewers: Some(DEFAULT_MAX_VIEWERS),
            source: Some(SourceArg::Screen),
            capture: Some(CaptureArg::Auto),
            pattern_size: Some(Parsed {
                text: format!("{}x{}", DEFAULT_PATTERN.width, DEFAULT_PATTERN.height),
                value: DEFAULT_PATTERN,
            }),
            pattern_seed: Some(0),
            record_max_mib: Some(RecordSettings::DEFAULT_MAX_BYTES >> 20),
            record_max_secs: Some(RecordSettings::DEFAULT_MAX_DURATION.as_secs()),
            record_min_free_mib: Some(RecordSettings::DEFAULT_MIN_FREE >> 20),
            record_fps: Some(RecordSettings::DEFAULT_FPS),
            ..Self::default()
        }
    }

    /// Checks the combination of options, fills in the defaults and turns
    /// them into a [`Config`]. Token files must have been read already
    /// ([`super::load`] does): `token_file` and `view_token_file` are not
    /// looked at here.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let no_tls = self.no_tls.unwrap_or(false);
        let no_auth = self.no_auth.unwrap_or(false);
        if no_tls && self.identity.is_some() {
            return Err(ConfigError::Conflict("no_tls", "identity"));
        }
        if no_auth && self.token.is_some() {
            return Err(ConfigError::Conflict("no_auth", "token"));
        }
        if no_auth && self.view_token.is_some() {
            return Err(ConfigError::Conflict("no_auth", "view_token"));
        }
        let timeouts = self.timeouts.map_or(Timeouts::DEFAULT, |t| t.value);
        if timeouts.ping_interval != Timeouts::DEFAULT.ping_interval {
            return Err(ConfigError::Timeouts("ping is the viewer's limit"));
        }
        if timeouts.silence <= PING_INTERVAL {
            tracing::warn!(
                silence = ?timeouts.silence,
                "viewers ping every {PING_INTERVAL:?}: a silence limit this short drops them"
            );
        }
        let view_token = self.view_token.map(Secret::into_inner);
        let access = match (self.token, no_auth) {
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
        let transport = match (no_tls, self.identity) {
            (true, _) => Transport::Plain,
            (false, Some(dir)) => Transport::Tls(dir),
            // Off loopback the rule below refuses it before it is needed.
            (false, None) => Transport::Tls(crate::tls::Identity::default_dir()?),
        };
        let pattern = self.pattern_size.map_or(DEFAULT_PATTERN, |p| p.value);
        let config = Config {
            bind: self.bind.unwrap_or_else(default_bind),
            access,
            transport,
            control: !self.view_only.unwrap_or(false),
            capture: CaptureSettings {
                fps: self.fps.unwrap_or(DEFAULT_FPS),
                quality: self.quality.unwrap_or(DEFAULT_QUALITY),
                subsampling: match self.subsampling.unwrap_or(SubsamplingArg::S420) {
                    SubsamplingArg::S420 => Subsampling::Half,
                    SubsamplingArg::S444 => Subsampling::Full,
                },
            },
            monitor: self.monitor,
            max_viewers: self.max_viewers.unwrap_or(DEFAULT_MAX_VIEWERS),
            timeouts,
            discovery: self.discovery.unwrap_or(true),
            record: self.record_dir.map(|dir| RecordSettings {
                dir,
                max_bytes: self
                    .record_max_mib
                    .map_or(RecordSettings::DEFAULT_MAX_BYTES, |mib| mib << 20),
                max_duration: self
                    .record_max_secs
                    .map_or(RecordSettings::DEFAULT_MAX_DURATION, Duration::from_secs),
                min_free: self
                    .record_min_free_mib
                    .map_or(RecordSettings::DEFAULT_MIN_FREE, |mib| mib << 20),
                fps: self.record_fps.unwrap_or(RecordSettings::DEFAULT_FPS),
            }),
            web: self.web.unwrap_or(true),
            exit_on_display_loss: self
                .exit_on_display_loss
                .map(|secs| std::time::Duration::from_secs(secs.into())),
            name: match self.name {
                Some(name) => crate::config::checked_name(&name)?,
                None => crate::config::host_name(),
            },
            source: match self.source.unwrap_or(SourceArg::Screen) {
                SourceArg::Screen => {
                    Source::Screen(match self.capture.unwrap_or(CaptureArg::Auto) {
                        CaptureArg::Auto => CaptureBackend::Auto,
                        CaptureArg::X11 => CaptureBackend::X11,
                        CaptureArg::Wlr => CaptureBackend::Wlr,
                        CaptureArg::Portal => CaptureBackend::Portal,
                        CaptureArg::Xcap => CaptureBackend::Xcap,
                    })
                }
                SourceArg::TestPattern => Source::TestPattern {
                    width: pattern.width,
                    height: pattern.height,
                    seed: self.pattern_seed.unwrap_or(0),
                },
            },
        };
        // The library's rules (loopback, token length), in one place.
        config.validate()?;
        Ok(config)
    }
}
