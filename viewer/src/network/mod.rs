//! The network thread of the window mode: a tokio current-thread runtime that
//! connects, keeps the session alive, and reconnects with backoff when the
//! agent goes away.
//!
//! ```text
//!            commands (bounded mpsc)                 status (watch)
//! window ──────────────────────────▶ network thread ───────────────▶ window
//!                                     │ updates (bounded queue)
//!                                     ▼
//!                                 decode thread ──▶ frames slot ──▶ window
//! ```
//!
//! A session is two loops run side by side: the downlink reads frames and
//! replies, the uplink sends commands and pings. Whichever ends first ends
//! the session; then the supervisor waits out the backoff and reconnects,
//! restoring what the user chose (paused or not, which monitor).

mod link;
mod outbox;
mod session;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;
use std::time::Duration;

use lookout_protocol::{ClientMessage, MonitorInfo};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use link::{COMMAND_QUEUE, Command, Feed, Link, Status};
pub use outbox::{OVERFLOW, Outbox};
pub use session::next_monitor;

use self::session::{SessionEnd, Uplink, Wanted, downlink};
use crate::backoff::{Backoff, entropy};
use crate::cli::Config;
use crate::connection::{self, CommandWriter, Connection, REGIONS, SessionError};
use crate::decode::UpdateQueue;
use crate::stream::{Offers, PROFILES, Size, first_window};

/// The running network thread.
#[derive(Debug)]
pub struct NetThread {
    handle: JoinHandle<Option<SessionError>>,
    cancel: CancellationToken,
}

/// The network thread panicked.
#[derive(Debug, thiserror::Error)]
#[error("the network thread panicked")]
pub struct NetPanicked;

impl NetThread {
    /// Starts the thread. It queues updates for the decoder in `updates`
    /// (and asks the agent for a full frame when that queue wants one),
    /// counts received image bytes in `received`, reports on `status` and
    /// obeys `commands`. No window: the stream's box is `--max-size`, if
    /// any.
    pub fn spawn(
        config: Config,
        updates: Arc<UpdateQueue>,
        received: Arc<AtomicU64>,
        status: watch::Sender<Status>,
        commands: mpsc::Receiver<Command>,
    ) -> std::io::Result<Self> {
        Self::spawn_for_window(config, updates, received, status, commands, None)
    }

    /// [`spawn`](Self::spawn) for a window that will open at most
    /// `window_bounds` large (`None`: no window). Until the window reports
    /// its size ([`Command::ViewSize`]), `start_monitor` asks for the size
    /// it will open at ([`crate::stream::first_window`]).
    pub fn spawn_for_window(
        config: Config,
        updates: Arc<UpdateQueue>,
        received: Arc<AtomicU64>,
        status: watch::Sender<Status>,
        commands: mpsc::Receiver<Command>,
        window_bounds: Option<Size>,
    ) -> std::io::Result<Self> {
        let cancel = CancellationToken::new();
        let want = Wanted {
            ask: config.stream,
            ..Wanted::default()
        };
        let supervisor = Supervisor {
            config,
            updates,
            received,
            status,
            commands,
            want,
            window_bounds,
            backoff: Backoff::new(),
            sessions: 0,
        };
        let token = cancel.clone();
        let handle = std::thread::Builder::new()
            .name("lookout-net".into())
            .spawn(move || supervisor.run_on_own_runtime(token))?;
        Ok(Self { handle, cancel })
    }

    /// Stops the thread and returns the fatal error that ended it, if any.
    pub fn stop(self) -> Result<Option<SessionError>, NetPanicked> {
        self.cancel.cancel();
        self.handle.join().map_err(|_| NetPanicked)
    }
}

/// Whether to go on after a wait.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Supervisor {
    config: Config,
    updates: Arc<UpdateQueue>,
    received: Arc<AtomicU64>,
    status: watch::Sender<Status>,
    commands: mpsc::Receiver<Command>,
    want: Wanted,
    /// The largest window the screen allows, in window mode.
    window_bounds: Option<Size>,
    backoff: Backoff,
    sessions: u64,
}

impl Supervisor {
    fn run_on_own_runtime(self, cancel: CancellationToken) -> Option<SessionError> {
        // The viewer's own runtime on its own thread: one connection, so one
        // thread is plenty, and the window never waits on it.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                self.status.send_modify(|s| s.link = Link::Failed);
                return Some(SessionError::Io(err));
            }
        };
        let fatal = runtime
            .block_on(cancel.run_until_cancelled(self.run()))
            .flatten();
        // A host name lookup may still run on a blocking thread: the window
        // is closing, so do not wait for it.
        runtime.shutdown_background();
        fatal
    }

    /// Connects, serves, and reconnects until told to stop or refused for
    /// good. Returns the fatal error, if that is what ended it.
    async fn run(mut self) -> Option<SessionError> {
        loop {
            let attempt = connection::connect((&self.config).into()).await;
            let err = match attempt {
                Ok(conn) => {
                    self.backoff.reset();
                    match self.serve(conn).await {
                        SessionEnd::Quit => return None,
                        SessionEnd::Lost(err) => {
                            tracing::warn!("lost the connection to {}", self.config.target);
                            err
                        }
                    }
                }
                Err(err) => err,
            };
            if err.is_fatal() {
                tracing::debug!("giving up on {}: {err}", self.config.target);
                self.status.send_modify(|s| s.link = Link::Failed);
                return Some(err);
            }
            let delay = self.backoff.next_delay(entropy());
            let link = if matches!(err, SessionError::Busy(_)) {
                Link::Busy
            } else {
                Link::Reconnecting
            };
            tracing::info!("{err}; retrying in {delay:.1?}");
            self.status.send_modify(|s| s.link = link);
            if self.wait(delay).await == Flow::Quit {
                return None;
            }
        }
    }

    /// Waits out a reconnect delay, still taking commands so the window
    /// never blocks on a full queue and a pause is remembered.
    async fn wait(&mut self, delay: Duration) -> Flow {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Flow::Continue,
                command = self.commands.recv() => match command {
                    None => return Flow::Quit,
                    Some(command) => self.apply_offline(command),
                },
            }
        }
    }

    fn apply_offline(&mut self, command: Command) {
        match command {
            // Nobody to steer; the agent released everything when we left.
            Command::Input(_) => {}
            Command::TogglePause => {
                self.want.paused = !self.want.paused;
                let paused = self.want.paused;
                self.status.send_modify(|s| s.paused = paused);
            }
            // The monitor list may have changed by the time we are back.
            Command::NextMonitor => {}
            // Asked for when the session starts.
            Command::ViewSize(size) => {
                self.want.resized(size);
            }
        }
    }

    async fn serve(&mut self, conn: Connection) -> SessionEnd {
        let (welcome, mut reader, mut writer) = conn.split();
        self.sessions += 1;
        // Region updates when the agent offers them: the pairing accepts
        // them before the `start_monitor` that asks for them goes out.
        self.want.offers = Offers {
            profiles: welcome.offers(PROFILES),
            regions: welcome.offers(REGIONS),
        };
        reader.set_regions(self.want.offers.regions);
        tracing::info!(
            server = %welcome.server,
            name = %welcome.name,
            control = welcome.control,
            monitors = welcome.monitors.len(),
            regions = self.want.offers.regions,
            profiles = self.want.offers.profiles,
            "connected to {}",
            self.config.target
        );
        if self.want.ask.is_set() && !self.want.offers.profiles {
            tracing::warn!(
                "the agent does not take stream settings (no `profiles`): \
                 --fps, --quality and --max-size have no effect on it"
            );
        }
        let monitor = match self
            .resume(&mut writer, welcome.monitor, &welcome.monitors)
            .await
        {
            Ok(monitor) => monitor,
            Err(err) => return SessionEnd::Lost(err),
        };
        self.status.send_replace(Status {
            link: Link::Live,
            session: self.sessions,
            control: welcome.control,
            paused: self.want.paused,
            monitor: Some(monitor),
            monitors: welcome.monitors,
            feed: Feed::Live,
            name: welcome.name.clone(),
        });
        let mut uplink = Uplink {
            writer,
            updates: &self.updates,
            commands: &mut self.commands,
            want: &mut self.want,
            status: &self.status,
            ping_interval: self.config.timeouts.ping_interval,
            pings: 0,
            full_frame_ask: session::FullFrameAsk::default(),
        };
        tokio::select! {
            err = downlink(&mut reader, &self.updates, &self.received, &self.status) => {
                SessionEnd::Lost(err)
            }
            end = uplink.run() => end,
        }
    }

    /// Puts a new session where the user left the old one: the chosen
    /// monitor (if the agent still has it; on the first connection the one
    /// `--monitor` names, an error if there is none), streaming unless
    /// paused.
    async fn resume(
        &mut self,
        writer: &mut CommandWriter,
        offered: u32,
        monitors: &[MonitorInfo],
    ) -> Result<u32, SessionError> {
        if self.want.monitor.is_none()
            && let Some(choice) = &self.config.monitor
        {
            // `--monitor`, on the first connection only: later ones restore
            // what the user has chosen since.
            self.want.monitor = Some(choice.resolve(monitors)?);
        }
        let monitor = match self.want.monitor {
            Some(id) if id != offered && monitors.iter().any(|m| m.id == id) => {
                writer.send(&ClientMessage::SelectMonitor { id }).await?;
                id
            }
            _ => offered,
        };
        self.want.monitor = Some(monitor);
        if let (None, Some(bounds), Some(shown)) = (
            self.want.view,
            self.window_bounds,
            monitors.iter().find(|m| m.id == monitor),
        ) {
            // The window is not open yet: it will open at the size of the
            // first frame, so ask for the frame it is to show.
            self.want.planned_view = Some(first_window(shown, bounds, self.want.ask.max_size));
        }
        if !self.want.paused {
            writer.send(&self.want.start_message()).await?;
        }
        Ok(monitor)
    }
}
