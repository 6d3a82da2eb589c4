//! What the window and the network thread say to each other: [`Command`]s
//! go to the network thread over a bounded channel, [`Status`] comes back
//! over a watch channel (the window only ever wants the newest).

use lookout_protocol::{ClientMessage, MonitorInfo};

use crate::stream::Size;

/// Room for commands from the window. The window sends at most one pointer
/// move per iteration (60 per second) plus the odd button or key, and the
/// network side drains it continuously, also while reconnecting; 256 covers
/// a few seconds of a stalled socket. When it is full the window keeps
/// commands in its [`Outbox`](super::Outbox) rather than block its loop,
/// and never drops a release.
pub const COMMAND_QUEUE: usize = 256;

/// What the window asks of the network side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Forward an input command (dropped when not connected or view-only).
    Input(ClientMessage),
    /// Stop the stream if it runs, resume it if stopped; remembered across
    /// reconnects. A toggle, not a level: the network thread alone knows
    /// whether the stream is paused (it publishes that in
    /// [`Status::paused`]), so two quick presses are two toggles even
    /// before the window has seen the first one's status.
    TogglePause,
    /// Switch to the agent's next monitor; remembered across reconnects.
    NextMonitor,
    /// The window's drawable size in physical pixels, once it has settled
    /// after a change: the box `start_monitor` asks for (with `profiles`),
    /// remembered across reconnects.
    ViewSize(Size),
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

/// Whether the agent can send pictures, as it last said (`stream`,
/// protocol §2.3.2). Anything but `Live` means the picture on screen is
/// not the screen now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Feed {
    /// Frames flow (or would, on a change).
    #[default]
    Live,
    /// The watched machine's user paused sharing; the agent's words.
    Paused(String),
    /// The agent cannot capture (its display went away); its words.
    Unavailable(String),
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
    /// Whether the stream is stopped on request. The network thread owns
    /// this choice (it restores it on every reconnect); this is the copy
    /// the window reads, and the window keeps no other.
    pub paused: bool,
    /// The monitor being streamed.
    pub monitor: Option<u32>,
    /// The agent's monitors, from `welcome` and every `monitors` since.
    pub monitors: Vec<MonitorInfo>,
    /// Whether the agent can capture, as it last said.
    pub feed: Feed,
    /// The agent's name for people, from the last `welcome` (escaped;
    /// empty before the first).
    pub name: String,
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
            feed: Feed::Live,
            name: String::new(),
        }
    }
}
