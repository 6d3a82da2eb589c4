//! One live session, as two loops run side by side: the downlink reads
//! frames and replies, the uplink sends commands and pings. Whichever ends
//! first ends the session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lookout_protocol::{ClientMessage, ErrorCode, MonitorInfo, StreamSettings, StreamState};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::link::{Command, Feed, Status};
use crate::connection::{CommandWriter, Event, FrameReader, SessionError};
use crate::decode::{Pushed, Update, UpdateQueue};
use crate::stream::{self, Offers, Size, StreamAsk};

/// What the user chose, restored on every reconnect.
#[derive(Debug, Default)]
pub(super) struct Wanted {
    /// The stream is stopped on request: the one owner of the pause.
    pub(super) paused: bool,
    /// The monitor last selected.
    pub(super) monitor: Option<u32>,
    /// `--fps`, `--quality`, `--max-size`.
    pub(super) ask: StreamAsk,
    /// The window's drawable size as last reported; `None` before the
    /// window has reported one, and without a window.
    pub(super) view: Option<Size>,
    /// Before the window reports its size: the size it will open at (see
    /// [`crate::stream::first_window`]).
    pub(super) planned_view: Option<Size>,
    /// What the agent of the current session offers.
    pub(super) offers: Offers,
}

impl Wanted {
    /// The message that carries out the pause choice.
    pub(super) fn stream_message(&self) -> ClientMessage {
        if self.paused {
            ClientMessage::StopMonitor
        } else {
            self.start_message()
        }
    }

    /// What every `start_monitor` asks for: the one place the viewer's
    /// stream settings are made ([`stream::settings`]).
    pub(super) fn settings(&self) -> StreamSettings {
        stream::settings(&self.ask, self.view.or(self.planned_view), self.offers)
    }

    /// `start_monitor` with the settings: also what asks for a full frame.
    pub(super) fn start_message(&self) -> ClientMessage {
        ClientMessage::StartMonitor(self.settings())
    }

    /// Takes the window's new size; true when that changes the settings
    /// (so a streaming session must ask again).
    pub(super) fn resized(&mut self, size: Size) -> bool {
        let before = self.settings();
        self.view = Some(size);
        self.settings() != before
    }
}

/// How a session ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// The window closed its command channel: stop for good.
    Quit,
    /// The connection is gone; reconnect unless the error is fatal.
    Lost(SessionError),
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

/// Frames and replies down: hands updates to the decoder until the
/// connection fails, and returns why.
pub(super) async fn downlink(
    reader: &mut FrameReader,
    updates: &UpdateQueue,
    received: &AtomicU64,
    status: &watch::Sender<Status>,
) -> SessionError {
    loop {
        match reader.next_event().await {
            Err(err) => return err,
            Ok(Event::Frame(frame)) => hand_over(Update::Full(frame), updates, received, status),
            Ok(Event::Region(update)) => {
                hand_over(Update::Region(update), updates, received, status);
            }
            Ok(Event::Pong(id)) => tracing::trace!(id, "pong"),
            Ok(Event::Monitors(monitors)) => follow_monitors(status, monitors),
            Ok(Event::Stream { state, reason }) => follow_stream(status, state, reason),
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

/// Queues an update for the decoder.
fn hand_over(
    update: Update,
    updates: &UpdateQueue,
    received: &AtomicU64,
    status: &watch::Sender<Status>,
) {
    // A frame is proof enough that pictures flow.
    status.send_if_modified(|s| std::mem::take(&mut s.feed) != Feed::Live);
    received.fetch_add(update.jpeg_len(), Ordering::Relaxed);
    let seq = update.meta().seq;
    match updates.push(update) {
        Pushed::Queued | Pushed::Replaced { dropped: 0 } => {}
        Pushed::Replaced { dropped } => {
            tracing::trace!(seq, dropped, "decoder busy: skipped to a full frame");
        }
        Pushed::Ignored => tracing::trace!(seq, "region update while a full frame is awaited"),
        Pushed::Overflowed { dropped } => {
            tracing::info!(seq, dropped, "decoder far behind: asking for a full frame");
        }
    }
}

/// Takes what the agent says about its pictures: the window shows it
/// instead of presenting the last picture as live.
fn follow_stream(status: &watch::Sender<Status>, state: StreamState, reason: String) {
    let feed = match state {
        StreamState::Live => Feed::Live,
        StreamState::Paused => Feed::Paused(reason),
        StreamState::Unavailable => Feed::Unavailable(reason),
    };
    match &feed {
        Feed::Live => tracing::info!("the agent's screen is back"),
        Feed::Paused(reason) => tracing::warn!("the agent paused the stream: {reason}"),
        Feed::Unavailable(reason) => tracing::warn!("the agent's screen is unavailable: {reason}"),
    }
    status.send_if_modified(|s| std::mem::replace(&mut s.feed, feed.clone()) != feed);
}

/// Takes the agent's new monitor list. When the monitor being watched is
/// gone, the agent has moved this viewer to its primary (or first) monitor:
/// the status follows, and the window says so.
fn follow_monitors(status: &watch::Sender<Status>, monitors: Vec<MonitorInfo>) {
    status.send_modify(|s| {
        let current = s.monitor;
        let gone = current.is_some_and(|id| !monitors.iter().any(|m| m.id == id));
        if gone {
            s.monitor = monitors
                .iter()
                .find(|m| m.primary)
                .or_else(|| monitors.first())
                .map(|m| m.id);
            tracing::info!(from = ?current, to = ?s.monitor, "monitor gone; the agent moved us");
        }
        tracing::info!(monitors = monitors.len(), "the agent's monitors changed");
        s.monitors = monitors;
    });
}

/// Commands and pings up, and a full frame asked for when the decoder
/// needs one.
pub(super) struct Uplink<'a> {
    pub(super) writer: CommandWriter,
    pub(super) updates: &'a UpdateQueue,
    pub(super) commands: &'a mut mpsc::Receiver<Command>,
    pub(super) want: &'a mut Wanted,
    pub(super) status: &'a watch::Sender<Status>,
    /// How often to ping (`timeouts.ping_interval`).
    pub(super) ping_interval: Duration,
    pub(super) pings: u64,
    /// When the decoder's request for a full frame is to be sent, and when
    /// the last one was: see [`FULL_FRAME_ASK_EVERY`].
    pub(super) full_frame_ask: FullFrameAsk,
}

/// The shortest time between two requests for a full frame. A full frame
/// that fails to decode every time (one too big for this viewer's bound,
/// say) would otherwise make the viewer and the agent trade requests and
/// full frames as fast as the link allows.
pub(super) const FULL_FRAME_ASK_EVERY: Duration = Duration::from_secs(1);

/// A request for a full frame, paced to one per [`FULL_FRAME_ASK_EVERY`].
#[derive(Debug, Default)]
pub(super) struct FullFrameAsk {
    due: Option<Instant>,
    last: Option<Instant>,
}

impl FullFrameAsk {
    /// The decoder asked at `now`: due now, or a pace after the last one.
    fn request(&mut self, now: Instant) {
        let earliest = self.last.map_or(now, |last| last + FULL_FRAME_ASK_EVERY);
        self.due.get_or_insert(earliest.max(now));
    }

    /// Sent at `now`.
    fn sent(&mut self, now: Instant) {
        self.due = None;
        self.last = Some(now);
    }

    /// Resolves when a request is due; never without one.
    async fn wait(&self) {
        match self.due {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }
}

impl Uplink<'_> {
    pub(super) async fn run(&mut self) -> SessionEnd {
        let every = self.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let sent = tokio::select! {
                _ = ping.tick() => self.ping().await,
                () = self.updates.resync_requested() => {
                    self.full_frame_ask.request(Instant::now());
                    Ok(())
                }
                () = self.full_frame_ask.wait() => self.ask_full_frame().await,
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

    /// `start_monitor` again with the same settings: the contract makes the
    /// next frame full. While paused nothing is sent: resuming sends it.
    async fn ask_full_frame(&mut self) -> Result<(), SessionError> {
        self.full_frame_ask.sent(Instant::now());
        if self.want.paused {
            return Ok(());
        }
        tracing::debug!("asking the agent for a full frame");
        self.writer.send(&self.want.start_message()).await
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
            Command::TogglePause => {
                self.want.paused = !self.want.paused;
                self.writer.send(&self.want.stream_message()).await?;
                let paused = self.want.paused;
                self.status.send_modify(|s| s.paused = paused);
            }
            Command::NextMonitor => {
                // The list and the monitor as the agent last said them.
                let next = {
                    let status = self.status.borrow();
                    next_monitor(&status.monitors, status.monitor)
                };
                if let Some(id) = next {
                    self.writer
                        .send(&ClientMessage::SelectMonitor { id })
                        .await?;
                    self.want.monitor = Some(id);
                    self.status.send_modify(|s| s.monitor = Some(id));
                }
            }
            Command::ViewSize(size) => {
                if self.want.resized(size) && !self.want.paused {
                    let settings = self.want.settings();
                    tracing::debug!(
                        width = size.0,
                        height = size.1,
                        max_width = ?settings.max_width,
                        max_height = ?settings.max_height,
                        "the window settled at a new size: asking again"
                    );
                    self.writer
                        .send(&ClientMessage::StartMonitor(settings))
                        .await?;
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
                all: false,
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
    fn a_settled_window_size_asks_again_only_when_the_settings_change() {
        let mut want = Wanted {
            planned_view: Some((921, 518)),
            offers: Offers {
                profiles: true,
                regions: true,
            },
            ..Wanted::default()
        };
        // The window opened as planned: nothing new to ask.
        assert!(!want.resized((921, 518)));
        assert!(want.resized((600, 400)));
        assert!(!want.resized((600, 400)));
        let settings = want.settings();
        assert_eq!(
            (settings.max_width, settings.max_height, settings.regions),
            (Some(600), Some(400), true)
        );
        // An agent without `profiles` is asked for no size at all.
        want.offers.profiles = false;
        assert!(!want.resized((300, 200)));
        assert_eq!(want.settings().max_width, None);
    }

    #[test]
    fn one_monitor_has_no_next() {
        assert_eq!(next_monitor(&monitors(&[0]), Some(0)), None);
        assert_eq!(next_monitor(&[], None), None);
    }
}
