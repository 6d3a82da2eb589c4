//! One agent on the wall: its own network thread (reconnects with backoff,
//! pins, proves the token), its own decode thread and latest-frame slot,
//! exactly as the full viewer has them, so an agent that is down, slow or
//! hostile holds up only its own tile. The wall's loop only polls: the
//! status `watch`, the frame slot, and `try_send` on the bounded command
//! channel.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch};

use crate::cli::Config;
use crate::connection::SessionError;
use crate::decode::{DecodedFrame, FrameBound, UPDATE_QUEUE, UpdateQueue, spawn_decoder};
use crate::network::{COMMAND_QUEUE, Command, Link, NetThread, Status};
use crate::slot::Latest;
use crate::stream::Size;

/// What a tile shows about its agent's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileState {
    /// Before the first session.
    Connecting,
    /// Streaming.
    Live,
    /// Connected, the stream stopped by the user (F8).
    Paused,
    /// The connection is gone; trying again with backoff.
    Reconnecting,
    /// The agent turned us away (too many viewers); trying again.
    Busy,
    /// Given up: the reason, for people.
    Refused(&'static str),
}

impl TileState {
    /// The state as the tile's label says it.
    pub fn text(&self) -> &'static str {
        match self {
            TileState::Connecting => "connecting",
            TileState::Live => "live",
            TileState::Paused => "paused",
            TileState::Reconnecting => "reconnecting",
            TileState::Busy => "busy",
            TileState::Refused(why) => why,
        }
    }

    /// The state of a link as `status` reports it (`why` is the fatal
    /// error's reason once the network thread has given up).
    pub fn of(status: &Status, why: Option<&'static str>) -> Self {
        match status.link {
            Link::Connecting => TileState::Connecting,
            Link::Live if status.paused => TileState::Paused,
            Link::Live => TileState::Live,
            Link::Reconnecting => TileState::Reconnecting,
            Link::Busy => TileState::Busy,
            Link::Failed => TileState::Refused(why.unwrap_or("failed")),
        }
    }
}

/// A fatal session error, as few words as a tile has room for.
pub fn refusal(err: &SessionError) -> &'static str {
    match err {
        SessionError::AuthFailed(_) => "refused: wrong token",
        SessionError::TokenRequired => "refused: token required",
        SessionError::Impostor(_) => "refused: identity changed",
        SessionError::Version(_) => "refused: protocol version",
        SessionError::Ended(_) => "ended by the agent",
        _ => "failed",
    }
}

/// One agent's connection, decoder and latest picture.
#[derive(Debug)]
pub struct Tile {
    /// How to reach the agent (its token stays in here, never in argv).
    pub config: Config,
    updates: Arc<UpdateQueue>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    received: Arc<AtomicU64>,
    status_tx: watch::Sender<Status>,
    status: watch::Receiver<Status>,
    commands: Option<mpsc::Sender<Command>>,
    net: Option<NetThread>,
    decoder: Option<JoinHandle<()>>,
    why: Option<&'static str>,
    /// The newest picture taken from the slot.
    pub picture: Option<Arc<DecodedFrame>>,
}

impl Tile {
    /// Starts the decode and network threads for `config`, asking for
    /// pictures that fit `view` (the tile's picture box, physical pixels).
    pub fn start(config: Config, view: Size) -> std::io::Result<Self> {
        let updates = Arc::new(UpdateQueue::new(UPDATE_QUEUE));
        let frames = Arc::new(Latest::new());
        let (status_tx, status) = watch::channel(Status::default());
        let welcomed = status.clone();
        let bound = move || FrameBound::of_monitors(&welcomed.borrow().monitors);
        let decoder = spawn_decoder(Arc::clone(&updates), Arc::clone(&frames), bound)?;
        let mut tile = Self {
            config,
            updates,
            frames,
            received: Arc::new(AtomicU64::new(0)),
            status_tx,
            status,
            commands: None,
            net: None,
            decoder: Some(decoder),
            why: None,
            picture: None,
        };
        tile.connect(view)?;
        Ok(tile)
    }

    fn connect(&mut self, view: Size) -> std::io::Result<()> {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        // The first `start_monitor` asks for the agent's monitor fitted
        // into `view`, as the full viewer does for the window it will open.
        let net = NetThread::spawn_for_window(
            self.config.clone(),
            Arc::clone(&self.updates),
            Arc::clone(&self.received),
            self.status_tx.clone(),
            command_rx,
            Some(view),
        )?;
        self.commands = Some(commands);
        self.net = Some(net);
        self.why = None;
        Ok(())
    }

    /// Drops the connection and connects again at once (F5), with a fresh
    /// backoff: also after a refusal, e.g. once the token was fixed.
    pub fn reconnect(&mut self, view: Size, paused: bool) -> std::io::Result<()> {
        self.stop_net();
        self.status_tx.send_replace(Status::default());
        self.connect(view)?;
        if paused {
            self.send(Command::TogglePause);
        }
        Ok(())
    }

    /// Asks for pictures that fit `view` from now on.
    pub fn resize(&self, view: Size) {
        self.send(Command::ViewSize(view));
    }

    /// Pauses or resumes the stream (the network thread remembers it
    /// across reconnects).
    pub fn toggle_pause(&self) {
        self.send(Command::TogglePause);
    }

    /// Never blocks the wall: a full queue (the network thread is stuck
    /// in a write to a stalled agent) loses the command, which the wall
    /// logs; a size is asked again at the next layout.
    fn send(&self, command: Command) {
        if let Some(commands) = &self.commands
            && let Err(err) = commands.try_send(command)
        {
            tracing::warn!("{}: command not sent: {err}", self.config.target);
        }
    }

    /// Takes the newest decoded picture, if a new one came; true if so.
    pub fn poll_picture(&mut self) -> bool {
        match self.frames.take() {
            Some(frame) => {
                self.picture = Some(frame);
                true
            }
            None => false,
        }
    }

    /// The tile's state now. Once the network thread has given up, its
    /// error is collected (the thread has ended, so the join is immediate).
    pub fn state(&mut self) -> TileState {
        let status = self.status.borrow().clone();
        if status.link == Link::Failed && self.why.is_none() {
            let fatal = self.net.take().map(NetThread::stop);
            self.why = Some(match fatal {
                Some(Ok(Some(err))) => {
                    tracing::warn!("{}: {err}", self.config.target);
                    refusal(&err)
                }
                _ => "failed",
            });
        }
        TileState::of(&status, self.why)
    }

    /// The agent's name from its `welcome` (empty before one came).
    pub fn name(&self) -> String {
        self.status.borrow().name.clone()
    }

    /// The shape (width over height) of the monitor the agent streams.
    pub fn aspect(&self) -> Option<f64> {
        let status = self.status.borrow();
        let monitor = status
            .monitors
            .iter()
            .find(|m| Some(m.id) == status.monitor)?;
        (monitor.height > 0).then(|| f64::from(monitor.width) / f64::from(monitor.height))
    }

    fn stop_net(&mut self) {
        // Closing the command channel and cancelling both end the thread.
        self.commands = None;
        if let Some(net) = self.net.take()
            && net.stop().is_err()
        {
            tracing::error!("{}: the network thread panicked", self.config.target);
        }
    }
}

impl Drop for Tile {
    fn drop(&mut self) {
        self.stop_net();
        self.updates.close();
        if let Some(decoder) = self.decoder.take()
            && decoder.join().is_err()
        {
            tracing::error!("the decode thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_link_reads_paused_when_paused_and_a_failed_one_says_why() {
        let mut status = Status {
            link: Link::Live,
            ..Status::default()
        };
        assert_eq!(TileState::of(&status, None), TileState::Live);
        status.paused = true;
        assert_eq!(TileState::of(&status, None).text(), "paused");
        status.link = Link::Failed;
        let wrong = refusal(&SessionError::AuthFailed("no".into()));
        assert_eq!(
            TileState::of(&status, Some(wrong)).text(),
            "refused: wrong token"
        );
        assert_eq!(TileState::of(&status, None).text(), "failed");
        status.link = Link::Reconnecting;
        assert_eq!(TileState::of(&status, None).text(), "reconnecting");
    }
}
