//! The agent: listener, connection limits, the capture and input threads,
//! and an orderly shutdown.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_protocol::{Fingerprint, MonitorInfo};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::capture::{CaptureError, CapturerFactory};
use crate::config::{Access, Config, ConfigError, Transport};
use crate::discovery::{Advert, Discovery};
use crate::input::{InputError, InputSinkFactory, InputThread};
use crate::limiter::AuthLimiter;
use crate::pipeline::CaptureThread;
use crate::record::Recording;
use crate::session::{PendingHandshakes, Shared, serve_connection};
use crate::tls::{Identity, IdentityError};

/// Connections that have not finished the handshake yet. Each costs a task
/// and a TLS state of a few dozen KiB for at most the handshake deadline
/// ([`lookout_protocol::Timeouts::handshake`]). Beyond this many, a pending
/// handshake that has got least far is dropped for the newcomer (the
/// session module's pending table explains the rule), so a flood of
/// half-open connections can neither exhaust memory nor keep a real viewer
/// out.
pub const MAX_PENDING_HANDSHAKES: usize = 64;

/// How long shutdown waits for sessions to close before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why [`Agent::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown token fired.
    Shutdown,
    /// The display was gone for this long, past `--exit-on-display-loss`.
    DisplayLost(Duration),
}

impl Stopped {
    /// The exit status for a `--exit-on-display-loss` exit: 75, EX_TEMPFAIL
    /// ("try again later"), distinct from the 1 of a failed start, so a
    /// service manager (or a script) can tell "the display went away" from
    /// "this cannot work".
    pub const DISPLAY_LOST_STATUS: u8 = 75;
}

/// Why the agent could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration breaks a rule (see [`Config::validate`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Listening failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The capture source could not start.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// `--monitor` names a monitor that does not exist.
    #[error("no monitor with id {id}; available: {available}")]
    NoSuchMonitor {
        /// The requested id.
        id: u32,
        /// The ids there are.
        available: String,
    },
    /// The TLS identity could not be loaded or made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// `--record-dir` could not be used.
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    /// A blocking start-up step panicked.
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A bound, ready agent. [`Agent::run`] serves until the shutdown token
/// fires.
#[derive(Debug)]
pub struct Agent {
    listener: TcpListener,
    identity: Option<(Fingerprint, bool)>,
    shared: Arc<Shared>,
    capture: CaptureThread,
    input: Option<InputThread>,
    exit_on_display_loss: Option<Duration>,
    discovery: Option<Discovery>,
    recording: Option<Recording>,
}

impl Agent {
    /// Checks the configuration ([`Config::validate`]: no open access or
    /// plain TCP off loopback, no short token), binds the listener and
    /// starts the capture and input threads.
    ///
    /// `input` is `None` for a view-only agent. If the input backend fails to
    /// open (no display, say), the agent runs view-only and says so.
    pub async fn start(
        config: &Config,
        capture: CapturerFactory,
        input: Option<InputSinkFactory>,
    ) -> Result<Self, AgentError> {
        config.validate()?;
        let listener = listen(config.bind).map_err(|source| AgentError::Bind {
            addr: config.bind,
            source,
        })?;
        let identity = match config.transport.clone() {
            Transport::Plain => None,
            Transport::TlsWith(identity) => Some((identity, false)),
            Transport::Tls(dir) => {
                Some(tokio::task::spawn_blocking(move || Identity::load_or_create(&dir)).await??)
            }
        };
        let tls = identity
            .as_ref()
            .map(|(identity, _)| identity.server_config_with(config.web))
            .transpose()?;
        let web = match (&identity, config.web) {
            (Some((identity, _)), true) => Some(crate::web::Web::new(identity.fingerprint())),
            _ => None,
        };
        let identity = identity.map(|(identity, created)| (identity.fingerprint(), created));
        let discovery = match (config.discovery, identity) {
            (false, _) => None,
            (true, None) => {
                tracing::info!("discovery off: a --no-tls agent has no identity to announce");
                None
            }
            (true, Some((fingerprint, _))) => {
                bind_discovery(config, &listener, fingerprint).await?
            }
        };
        let settings = config.capture;
        let (capture, hub) =
            tokio::task::spawn_blocking(move || CaptureThread::spawn(capture, settings)).await??;
        let default_monitor = pick_monitor(&hub.monitors(), config.monitor)?;
        let recording = match config.record.clone() {
            Some(settings) => Some(Recording::start(settings, hub.clone(), &config.name)?),
            None => None,
        };
        let (input, handle) = match input.filter(|_| config.control) {
            None => (None, None),
            Some(factory) => {
                let display = hub.watch_availability();
                match tokio::task::spawn_blocking(move || InputThread::spawn(factory, display))
                    .await?
                {
                    Ok((thread, handle)) => (Some(thread), Some(handle)),
                    Err(err) => {
                        warn_no_input(&err);
                        (None, None)
                    }
                }
            }
        };
        let shared = Arc::new(Shared {
            access: config.access.clone(),
            tls,
            timeouts: config.timeouts,
            name: config.name.clone(),
            limiter: Mutex::new(AuthLimiter::new(config.timeouts.auth_block)),
            allow_control: config.control,
            hub,
            quality: config.capture.quality,
            input: handle,
            default_monitor,
            viewers: Arc::new(Semaphore::new(config.max_viewers.get())),
            max_viewers: config.max_viewers,
            next_viewer: AtomicU64::new(1),
            sessions: Default::default(),
            web,
        });
        Ok(Self {
            listener,
            identity,
            shared,
            capture,
            input,
            exit_on_display_loss: config.exit_on_display_loss,
            discovery,
            recording,
        })
    }

    /// Where discovery probes are answered (`None` when it is off).
    pub fn discovery_addr(&self) -> Option<SocketAddr> {
        self.discovery.as_ref().and_then(|d| d.local_addr().ok())
    }

    /// The address the agent listens on (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether browsers are served on the agent's port (TLS, not
    /// `--no-web`).
    pub fn serves_web(&self) -> bool {
        self.shared.web.is_some()
    }

    /// The TLS certificate's fingerprint (`None` with `--no-tls`).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.identity.map(|(fingerprint, _)| fingerprint)
    }

    /// Whether the TLS identity was made by this start (first run).
    pub fn identity_created(&self) -> bool {
        self.identity.is_some_and(|(_, created)| created)
    }

    /// The monitors viewers can choose from.
    pub fn monitors(&self) -> crate::hub::MonitorList {
        self.shared.hub.monitors()
    }

    /// What the local control socket serves ([`crate::control::serve`]).
    #[cfg(unix)]
    pub fn control_handle(&self) -> crate::control::Handle {
        let address = self
            .local_addr()
            .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
        let fingerprint = self.fingerprint().map(|f| f.to_string());
        crate::control::Handle::new(
            Arc::clone(&self.shared),
            address,
            fingerprint,
            self.recording.as_ref().map(Recording::status_cell),
        )
    }

    /// Whether viewers get control (not view-only and input available).
    pub fn control(&self) -> bool {
        self.shared.control()
    }

    /// Accepts viewers until `shutdown` fires (or the display has been gone
    /// for `--exit-on-display-loss`), then closes every session, releases
    /// held input, and stops the threads.
    pub async fn run(self, shutdown: CancellationToken) -> Stopped {
        let Agent {
            listener,
            shared,
            capture,
            input,
            exit_on_display_loss,
            discovery,
            recording,
            ..
        } = self;
        let pending = PendingHandshakes::new(MAX_PENDING_HANDSHAKES);
        let tracker = TaskTracker::new();
        // Ends the sessions however the agent stops.
        let stop = shutdown.child_token();
        if let Some(discovery) = discovery {
            tracker.spawn(discovery.run(shared.hub.watch_monitors(), stop.child_token()));
        }
        let display_lost =
            crate::availability::gone_for(shared.hub.watch_availability(), exit_on_display_loss);
        tokio::pin!(display_lost);
        let mut stopped = Stopped::Shutdown;
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                lasted = &mut display_lost => {
                    tracing::warn!(
                        gone_for = ?lasted,
                        "the display has been gone too long (--exit-on-display-loss); stopping"
                    );
                    stopped = Stopped::DisplayLost(lasted);
                    stop.cancel();
                    break;
                }
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Some(left) = shared.blocked(peer) {
                tracing::warn!(
                    %peer,
                    role = "none",
                    outcome = "refused",
                    reason = "too many failed authentications",
                    blocked_for = ?left,
                    "connection"
                );
                continue;
            }
            let (slot, displaced) = pending.admit(&stream);
            if displaced {
                tracing::warn!(
                    "{MAX_PENDING_HANDSHAKES} handshakes pending: dropped the least advanced for {peer}"
                );
            }
            tracker.spawn(serve_connection(
                stream,
                peer,
                Arc::clone(&shared),
                slot,
                stop.child_token(),
            ));
        }
        drop(listener);
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not close in {SHUTDOWN_GRACE:?}");
        }
        drop(shared);
        // Before the capture thread: the files end with what was streamed.
        if let Some(recording) = recording {
            recording.stop().await;
        }
        tokio::task::spawn_blocking(move || {
            if let Some(input) = input {
                input.stop();
            }
            capture.stop();
        })
        .await
        .ok();
        tracing::info!("agent stopped");
        stopped
    }
}

/// Connections the kernel completes and queues before the agent accepts
/// them. The usual 128 overflows during a flood of half-open connections
/// on a busy machine, and the kernel then drops SYNs, a real viewer's
/// among them, which costs it a second (the SYN retransmission) or more;
/// the pending table, not the kernel's queue, is where a flood must be
/// sorted out. The kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// A listening socket with [`LISTEN_BACKLOG`], and `SO_REUSEADDR` so that a
/// restarted agent can bind while old connections linger in TIME_WAIT.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The discovery socket on the listener's address and port, or `None`
/// (with a warning) when that UDP port is taken: discovery is a
/// convenience, and the agent serves without it.
async fn bind_discovery(
    config: &Config,
    listener: &TcpListener,
    fingerprint: Fingerprint,
) -> Result<Option<Discovery>, AgentError> {
    let addr = listener.local_addr().map_err(|source| AgentError::Bind {
        addr: config.bind,
        source,
    })?;
    let advert = Advert {
        name: config.name.clone(),
        port: addr.port(),
        fingerprint,
        auth: match config.access {
            Access::Token { .. } => lookout_protocol::AuthMode::Token,
            Access::Open => lookout_protocol::AuthMode::None,
        },
    };
    match Discovery::bind(addr, advert).await {
        Ok(discovery) => Ok(Some(discovery)),
        Err(err) => {
            tracing::warn!(%addr, error = %err, "discovery off: cannot listen for probes on UDP");
            Ok(None)
        }
    }
}

fn pick_monitor(monitors: &[MonitorInfo], wanted: Option<u32>) -> Result<u32, AgentError> {
    match wanted {
        Some(id) if monitors.iter().any(|m| m.id == id) => Ok(id),
        Some(id) => Err(AgentError::NoSuchMonitor {
            id,
            available: monitors
                .iter()
                .map(|m| format!("{} ({}x{} {})", m.id, m.width, m.height, m.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        None => Ok(monitors
            .iter()
            .find(|m| m.primary)
            .or_else(|| monitors.first())
            .map_or(0, |m| m.id)),
    }
}

fn warn_no_input(err: &InputError) {
    tracing::warn!(error = %err, "{}", crate::input::explain_no_input(err));
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use lookout_protocol::Timeouts;

    use super::*;
    use crate::config::{Access, Source};
    use crate::pipeline::CaptureSettings;

    fn config(bind: &str, access: Access, transport: Transport) -> Config {
        Config {
            bind: bind.parse().unwrap(),
            access,
            transport,
            control: true,
            capture: CaptureSettings {
                fps: 30,
                quality: 75,
                subsampling: Default::default(),
            },
            monitor: None,
            max_viewers: NonZeroUsize::MIN,
            source: Source::Screen(Default::default()),
            timeouts: Timeouts::DEFAULT,
            name: "test".into(),
            exit_on_display_loss: None,
            discovery: false,
            record: None,
            web: true,
        }
    }

    /// Starts an agent whose capture source must never be opened: the
    /// configuration is refused before.
    async fn refused(config: &Config) -> ConfigError {
        let never: CapturerFactory = Box::new(
            || -> Result<Box<dyn crate::capture::Capturer>, CaptureError> {
                panic!("a refused agent opened its capture")
            },
        );
        match Agent::start(config, never, None).await {
            Err(AgentError::Config(err)) => err,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    fn tls() -> Transport {
        Transport::TlsWith(Identity::generate().unwrap())
    }

    const TOKEN: &str = "a-long-enough-token-for-tests";

    #[tokio::test]
    async fn open_access_on_a_wildcard_bind_is_refused_by_the_library() {
        for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.7:0"] {
            let err = refused(&config(bind, Access::Open, tls())).await;
            assert!(
                matches!(err, ConfigError::NoAuthOffLoopback(_)),
                "{bind}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn plain_tcp_on_a_wildcard_bind_is_refused_by_the_library() {
        for bind in ["0.0.0.0:0", "[::]:0"] {
            let access = Access::token(TOKEN);
            let err = refused(&config(bind, access, Transport::Plain)).await;
            assert!(
                matches!(err, ConfigError::NoTlsOffLoopback(_)),
                "{bind}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn a_short_token_is_refused_by_the_library() {
        let short = Access::token("a");
        let err = refused(&config("127.0.0.1:0", short, tls())).await;
        assert!(matches!(err, ConfigError::ShortToken { .. }), "{err}");
        let short_view = Access::Token {
            token: TOKEN.into(),
            view_token: Some("view".into()),
            generated: false,
        };
        let err = refused(&config("127.0.0.1:0", short_view, tls())).await;
        assert!(
            matches!(
                err,
                ConfigError::ShortToken {
                    option: "--view-token",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn open_access_and_plain_tcp_pass_on_loopback() {
        for bind in ["127.0.0.1:0", "127.5.6.7:0", "[::1]:0"] {
            config(bind, Access::Open, Transport::Plain)
                .validate()
                .unwrap();
        }
    }
}
