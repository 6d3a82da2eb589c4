//! The network thread of the window mode: a tokio current-thread runtime that
//! connects, keeps the session alive, and reconnects with backoff when the
//! agent goes away.
//!
//! ```text
//!            commands (bounded mpsc)                 status (watch)
//! window ──────────────────────────▶ network thread ───────────────▶ window
//!                                     │ JPEGs (latest-value slot)
//!                                     ▼
//!                                 decode thread ──▶ frames slot ──▶ window
//! ```
//!
//! A session is two loops run side by side: the downlink reads frames and
//! replies, the uplink sends commands and pings. Whichever ends first ends
//! the session; then the supervisor waits out the backoff and reconnects,
//! restoring what the user chose (paused or not, which monitor).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use lookout_protocol::{ClientMessage, ErrorCode, MonitorInfo};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, entropy};
use crate::cli::Config;
use crate::connection::{
    self, CommandWriter, Connection, EncodedFrame, Event, FrameReader, PING_INTERVAL, SessionError,
};
use crate::slot::Latest;

/// Room for commands from the window. The window sends at most one pointer
/// move per iteration (60 per second) plus the odd button or key, and the
/// network side drains it continuously, also while reconnecting; 256 covers
/// a few seconds of a stalled socket. When it is full the window drops
/// pointer moves rather than block its loop.
pub const COMMAND_QUEUE: usize = 256;

/// What the window asks of the network side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Forward an input command (dropped when not connected or view-only).
    Input(ClientMessage),
    /// Stop (`true`) or resume (`false`) the stream; remembered across
    /// reconnects.
    SetPaused(bool),
    /// Switch to the agent's next monitor; remembered across reconnects.
    NextMonitor,
}

/// The state of the link to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected and authenticated.
    Live,
    /// The connection was lost or could not be made; retrying.
    Reconnecting,
    /// The agent turned us away as busy; retrying.
    Busy,
    /// Given up for good (wrong token); the thread's result says why.
    Failed,
}

/// What the window shows about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Connection state.
    pub link: Link,
    /// Counts successful connections; a change means a new agent session.
    pub session: u64,
    /// Whether the agent accepts input (`welcome.control`, cleared by a
    /// `control_disabled` reply).
    pub control: bool,
    /// Whether the stream is stopped on request.
    pub paused: bool,
    /// The monitor being streamed.
    pub monitor: Option<u32>,
    /// The agent's monitors, from the last `welcome`.
    pub monitors: Vec<MonitorInfo>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            link: Link::Connecting,
            session: 0,
            control: false,
            paused: false,
            monitor: None,
            monitors: Vec::new(),
        }
    }
}

/// The id after `current` in the agent's list, wrapping around; `None` when
/// there is nothing else to switch to.
pub fn next_monitor(monitors: &[MonitorInfo], current: Option<u32>) -> Option<u32> {
    if monitors.len() < 2 {
        return None;
    }
    let next = current
        .and_then(|id| monitors.iter().position(|m| m.id == id))
        .map_or(0, |i| (i + 1) % monitors.len());
    monitors.get(next).map(|m| m.id)
}

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
    /// Starts the thread. It publishes JPEGs to `jpegs`, counts received
    /// image bytes in `received`, reports on `status` and obeys `commands`.
    pub fn spawn(
        config: Config,
        jpegs: Arc<Latest<EncodedFrame>>,
        received: Arc<AtomicU64>,
        status: watch::Sender<Status>,
        commands: mpsc::Receiver<Command>,
    ) -> std::io::Result<Self> {
        let cancel = CancellationToken::new();
        let supervisor = Supervisor {
            config,
            jpegs,
            received,
            status,
            commands,
            want: Wanted::default(),
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

/// What the user chose, restored on every reconnect.
#[derive(Debug, Default)]
struct Wanted {
    paused: bool,
    monitor: Option<u32>,
}

/// How a session ended.
#[derive(Debug)]
enum SessionEnd {
    /// The window closed its command channel: stop for good.
    Quit,
    /// The connection is gone; reconnect unless the error is fatal.
    Lost(SessionError),
}

/// Whether to go on after a wait.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Supervisor {
    config: Config,
    jpegs: Arc<Latest<EncodedFrame>>,
    received: Arc<AtomicU64>,
    status: watch::Sender<Status>,
    commands: mpsc::Receiver<Command>,
    want: Wanted,
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
            let attempt = connection::connect((&self.config).into(), self.config.timeout).await;
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
            Command::SetPaused(paused) => {
                self.want.paused = paused;
                self.status.send_modify(|s| s.paused = paused);
            }
            // The monitor list may have changed by the time we are back.
            Command::NextMonitor => {}
        }
    }

    async fn serve(&mut self, conn: Connection) -> SessionEnd {
        let (welcome, mut reader, mut writer) = conn.split();
        self.sessions += 1;
        tracing::info!(
            server = %welcome.server,
            control = welcome.control,
            monitors = welcome.monitors.len(),
            "connected to {}",
            self.config.target
        );
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
            monitors: welcome.monitors.clone(),
        });
        let mut uplink = Uplink {
            writer,
            commands: &mut self.commands,
            want: &mut self.want,
            status: &self.status,
            monitors: welcome.monitors,
            pings: 0,
        };
        tokio::select! {
            err = downlink(&mut reader, &self.jpegs, &self.received, &self.status) => {
                SessionEnd::Lost(err)
            }
            end = uplink.run() => end,
        }
    }

    /// Puts a new session where the user left the old one: the chosen
    /// monitor (if the agent still has it), streaming unless paused.
    async fn resume(
        &mut self,
        writer: &mut CommandWriter,
        offered: u32,
        monitors: &[MonitorInfo],
    ) -> Result<u32, SessionError> {
        let monitor = match self.want.monitor {
            Some(id) if id != offered && monitors.iter().any(|m| m.id == id) => {
                writer.send(&ClientMessage::SelectMonitor { id }).await?;
                id
            }
            _ => offered,
        };
        self.want.monitor = Some(monitor);
        if !self.want.paused {
            writer.send(&ClientMessage::StartMonitor).await?;
        }
        Ok(monitor)
    }
}

/// Frames and replies down: hands JPEGs to the decoder until the
/// connection fails, and returns why.
async fn downlink(
    reader: &mut FrameReader,
    jpegs: &Latest<EncodedFrame>,
    received: &AtomicU64,
    status: &watch::Sender<Status>,
) -> SessionError {
    loop {
        match reader.next_event().await {
            Err(err) => return err,
            Ok(Event::Frame(frame)) => {
                received.fetch_add(frame.jpeg.len() as u64, Ordering::Relaxed);
                let seq = frame.meta.seq;
                if jpegs.put(frame) {
                    tracing::trace!(seq, "decoder busy: skipped the previous frame");
                }
            }
            Ok(Event::Pong(id)) => tracing::trace!(id, "pong"),
            Ok(Event::Notice {
                code: ErrorCode::ControlDisabled,
                message,
            }) => {
                if status.send_if_modified(|s| std::mem::replace(&mut s.control, false)) {
                    tracing::warn!("the agent is view-only: {message}");
                }
            }
            Ok(Event::Notice { code, message }) => {
                tracing::warn!(?code, "the agent refused a command: {message}");
            }
        }
    }
}

/// Commands and pings up.
struct Uplink<'a> {
    writer: CommandWriter,
    commands: &'a mut mpsc::Receiver<Command>,
    want: &'a mut Wanted,
    status: &'a watch::Sender<Status>,
    monitors: Vec<MonitorInfo>,
    pings: u64,
}

impl Uplink<'_> {
    async fn run(&mut self) -> SessionEnd {
        let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let sent = tokio::select! {
                _ = ping.tick() => self.ping().await,
                command = self.commands.recv() => match command {
                    None => return SessionEnd::Quit,
                    Some(command) => self.apply(command).await,
                },
            };
            if let Err(err) = sent {
                return SessionEnd::Lost(err);
            }
        }
    }

    async fn ping(&mut self) -> Result<(), SessionError> {
        self.pings += 1;
        self.writer
            .send(&ClientMessage::Ping { id: self.pings })
            .await
    }

    async fn apply(&mut self, command: Command) -> Result<(), SessionError> {
        match command {
            Command::Input(msg) => {
                // The window checks too; this covers a `control_disabled`
                // that arrived after it decided to send.
                if self.status.borrow().control {
                    self.writer.send(&msg).await?;
                }
            }
            Command::SetPaused(paused) => {
                if self.want.paused != paused {
                    self.want.paused = paused;
                    let msg = if paused {
                        ClientMessage::StopMonitor
                    } else {
                        ClientMessage::StartMonitor
                    };
                    self.writer.send(&msg).await?;
                    self.status.send_modify(|s| s.paused = paused);
                }
            }
            Command::NextMonitor => {
                if let Some(id) = next_monitor(&self.monitors, self.want.monitor) {
                    self.writer
                        .send(&ClientMessage::SelectMonitor { id })
                        .await?;
                    self.want.monitor = Some(id);
                    self.status.send_modify(|s| s.monitor = Some(id));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitors(ids: &[u32]) -> Vec<MonitorInfo> {
        ids.iter()
            .map(|&id| MonitorInfo {
                id,
                name: format!("m{id}"),
                x: 0,
                y: 0,
                width: 100,
                height: 100,
                primary: id == 0,
            })
            .collect()
    }

    #[test]
    fn next_monitor_cycles_in_list_order() {
        let list = monitors(&[0, 3, 7]);
        assert_eq!(next_monitor(&list, Some(0)), Some(3));
        assert_eq!(next_monitor(&list, Some(3)), Some(7));
        assert_eq!(next_monitor(&list, Some(7)), Some(0));
        assert_eq!(next_monitor(&list, Some(42)), Some(0));
        assert_eq!(next_monitor(&list, None), Some(0));
    }

    #[test]
    fn one_monitor_has_no_next() {
        assert_eq!(next_monitor(&monitors(&[0]), Some(0)), None);
        assert_eq!(next_monitor(&[], None), None);
    }
}
