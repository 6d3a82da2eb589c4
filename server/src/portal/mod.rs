//! The desktop portals (xdg-desktop-portal): how GNOME and KDE share their
//! screen and take input from a program that is not the compositor.
//!
//! One [`Portal`] is one portal session, owned by a task on the process's
//! portal runtime: one worker thread that lives as long as the process
//! (the capture and input factories call from plain threads, and D-Bus
//! calls must not block the agent's executor). One runtime for every
//! session, because ashpd keeps one D-Bus connection per process and zbus
//! reads it from a task on the runtime that made it: a runtime per session
//! would take the connection's reader with it when its session ended, and
//! the next session's calls would never be answered. The session is shared by the capturer and the input
//! sink ([`Portal::shared`]): one session is one consent dialog, and input
//! goes to the streams the capturer shows. It ends when the last holder
//! drops it.
//!
//! The session is persisted "until revoked": the restore token the portal
//! returns is saved ([`token`]) and passed on the next start, so the user
//! answers the dialog once.

mod consent;
mod layout;
mod session;
mod task;
pub mod token;

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

pub use layout::{Placed, place};
pub use token::TokenStore;

/// How long the session set-up may take, the consent dialog included: a
/// user at the desktop answers well within it; an agent started with no
/// one there reports that instead of waiting for ever.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one input call may take before it is reported as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Input events waiting for the portal thread. The input thread waits for
/// each answer, so at most one is ever queued; the bound is a guard.
const REQUESTS: usize = 4;

/// Why the portal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A D-Bus or portal call failed (no session bus, no portal, a
    /// backend that refused). Not a `source`: the message holds it, and
    /// the agent prints an error's chain.
    /// The D-Bus message comes from another program: shown escaped.
    #[error(
        "the desktop portal failed (is the agent running in the desktop session, \
         with its DBUS_SESSION_BUS_ADDRESS?): {}",
        .0.to_string().escape_debug()
    )]
    Portal(ashpd::Error),
    /// The user refused to share the screen in the portal's dialog.
    #[error("the screen sharing request was refused in the portal's dialog")]
    Refused,
    /// The session was made and its sources chosen, but the portal's
    /// backend failed to start the cast.
    #[error(
        "the desktop portal could not start the screen cast (see its log; \
         xdg-desktop-portal-wlr 0.7 fails so on a compositor without dmabuf, \
         such as sway with the pixman renderer: emersion/xdg-desktop-portal-wlr#289)"
    )]
    StartFailed,
    /// The portal started a session with no stream in it.
    #[error("the portal shares no monitor")]
    NoStreams,
    /// The session was not set up in time (the dialog not answered?).
    #[error("the desktop portal did not answer within {0:?} (is its dialog waiting?)")]
    Timeout(Duration),
    /// The portal has no RemoteDesktop (xdg-desktop-portal-wlr): view only.
    #[error("the desktop portal takes no input here (no RemoteDesktop): view only")]
    ViewOnly,
    /// The portal thread could not be started, or its runtime built.
    #[error("cannot start the portal thread: {0}")]
    Thread(std::io::Error),
    /// The portal thread ended.
    #[error("the portal session ended")]
    Ended,
    /// The portal closed the session (sharing stopped from the desktop):
    /// nothing is shared again until the agent restarts.
    #[error(
        "screen sharing was stopped from the desktop; the agent shares nothing until it \
         restarts, and then asks in the portal's dialog again"
    )]
    Stopped,
}

impl From<ashpd::Error> for PortalError {
    fn from(err: ashpd::Error) -> Self {
        match err {
            ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled) => {
                PortalError::Refused
            }
            other => PortalError::Portal(other),
        }
    }
}

/// One shared monitor: its PipeWire node, and where it is on the desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalStream {
    /// The PipeWire node to connect to.
    pub node: u32,
    /// Its top-left corner in the desktop, when the portal says.
    pub position: Option<(i32, i32)>,
    /// Its size in desktop pixels, when the portal says.
    pub size: Option<(u32, u32)>,
}

/// One input event in the portal's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputEvent {
    /// The pointer to (`x`, `y`) within the stream of node `stream`.
    MoveTo {
        /// The stream's PipeWire node.
        stream: u32,
        /// Position within the stream.
        x: f64,
        /// Position within the stream.
        y: f64,
    },
    /// A button, by its evdev code (`BTN_LEFT` is 0x110).
    Button {
        /// evdev code.
        code: i32,
        /// Pressed or released.
        pressed: bool,
    },
    /// Wheel steps (positive: down, right).
    Scroll {
        /// Vertical or horizontal.
        vertical: bool,
        /// Steps.
        steps: i32,
    },
    /// A key, by its X keysym.
    Keysym {
        /// The keysym.
        keysym: i32,
        /// Pressed or released.
        pressed: bool,
    },
}

struct Request {
    event: InputEvent,
    reply: std::sync::mpsc::SyncSender<Result<(), PortalError>>,
}

/// An open portal session; see the module doc.
#[derive(Debug)]
pub struct Portal {
    streams: Vec<PortalStream>,
    pipewire: OwnedFd,
    takes_input: bool,
    /// Its streams ended (revoked, closed from the desktop, or the
    /// compositor went): not shared any more, the next user opens a new
    /// session. Set by the capturer, and by the session's task on the
    /// portal's `Closed` signal.
    ended: Arc<AtomicBool>,
    requests: Option<mpsc::Sender<Request>>,
    /// Where the capturer placed the monitors ([`place`]): input goes
    /// to the stream of the monitor under the point.
    placed: Mutex<Vec<Placed>>,
    /// Told when the session's task has closed the session.
    closed: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("event", &self.event)
            .finish()
    }
}

/// The user's answer, kept while the process runs.
static CONSENT: consent::Consent = consent::Consent::new();

/// The session of this process, while someone holds it.
static SHARED: Mutex<Weak<Portal>> = Mutex::new(Weak::new());

impl Portal {
    /// The portal session of this process: the one the capturer or the
    /// input sink already holds, or a new one (with the restore token in
    /// the user's config directory). Blocking: call it off the executor.
    pub fn shared() -> Result<Arc<Portal>, PortalError> {
        // Held while opening, so capture and input never open two
        // sessions (two dialogs) at once.
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(portal) = shared.upgrade()
            && !portal.ended.load(Ordering::SeqCst)
        {
            return Ok(portal);
        }
        let portal = CONSENT.ask(|| Self::open(TokenStore::default_place(), SETUP_TIMEOUT))?;
        let portal = Arc::new(portal);
        *shared = Arc::downgrade(&portal);
        Ok(portal)
    }

    /// Whether the session ended (closed from the desktop, or its
    /// streams did): what it shows is no longer the screen.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Marks the session ended (its streams did): [`Portal::shared`]
    /// opens a new one from now on, though some holder still has this.
    pub fn mark_ended(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }

    /// Opens a new session, restoring the one saved in `store` if the
    /// portal still honours it, and saving the new token there. Blocking.
    pub fn open(store: Option<TokenStore>, timeout: Duration) -> Result<Self, PortalError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (tx, rx) = mpsc::channel(REQUESTS);
        let (closed_tx, closed) = std::sync::mpsc::sync_channel(1);
        let ended = Arc::new(AtomicBool::new(false));
        let task_ended = Arc::clone(&ended);
        runtime()?.spawn(async move {
            task::run(store, timeout, ready_tx, rx, task_ended).await;
            let _ = closed_tx.send(());
        });
        match ready_rx.recv() {
            Ok(Ok((streams, pipewire, takes_input))) => Ok(Self {
                streams,
                pipewire,
                takes_input,
                ended,
                requests: Some(tx),
                placed: Mutex::new(Vec::new()),
                closed: Mutex::new(Some(closed)),
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(PortalError::Ended),
        }
    }

    /// The shared monitors, in the portal's order.
    pub fn streams(&self) -> &[PortalStream] {
        &self.streams
    }

    /// The monitors as the capturer placed them (the viewers' desktop).
    pub fn placed(&self) -> Vec<Placed> {
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tells where the capturer placed the monitors.
    pub fn set_placed(&self, placed: Vec<Placed>) {
        *self.placed.lock().unwrap_or_else(|e| e.into_inner()) = placed;
    }

    /// A new handle on the PipeWire remote the streams are on (each
    /// PipeWire connection takes one of its own).
    pub fn pipewire(&self) -> std::io::Result<OwnedFd> {
        self.pipewire.try_clone()
    }

    /// Whether the session takes input (RemoteDesktop was granted).
    pub fn takes_input(&self) -> bool {
        self.takes_input
    }

    /// Sends `event` and waits (bounded) for the portal's answer.
    /// Blocking: call it from the input thread.
    pub fn send(&self, event: InputEvent) -> Result<(), PortalError> {
        if !self.takes_input {
            return Err(PortalError::ViewOnly);
        }
        if self.ended.load(Ordering::SeqCst) {
            return Err(PortalError::Ended);
        }
        let requests = self.requests.as_ref().ok_or(PortalError::Ended)?;
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        requests
            .blocking_send(Request { event, reply })
            .map_err(|_| PortalError::Ended)?;
        match answer.recv_timeout(CALL_TIMEOUT * 2) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(PortalError::Timeout(CALL_TIMEOUT * 2))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(PortalError::Ended),
        }
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        // The task closes the session when its queue ends (within
        // CALL_TIMEOUT).
        self.requests.take();
        let closed = self.closed.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(closed) = closed.take() {
            let _ = closed.recv_timeout(CALL_TIMEOUT * 2);
        }
    }
}

/// The process's portal runtime, started on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime, PortalError> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("lookout-portal")
                .enable_all()
                .build()
                .map_err(|err| tracing::warn!(error = %err, "cannot start the portal runtime"))
                .ok()
        })
        .as_ref()
        .ok_or_else(|| PortalError::Thread(std::io::Error::other("no portal runtime")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_dialog_is_told_apart_from_a_portal_failure() {
        let refused = PortalError::from(ashpd::Error::Response(
            ashpd::desktop::ResponseError::Cancelled,
        ));
        assert!(matches!(refused, PortalError::Refused), "{refused}");
        assert!(refused.to_string().contains("refused"));
        let other = PortalError::from(ashpd::Error::NoResponse);
        assert!(matches!(other, PortalError::Portal(_)), "{other}");
    }
}
