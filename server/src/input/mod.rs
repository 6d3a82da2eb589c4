//! Replaying viewers' input on this machine.
//!
//! One dedicated thread owns the platform input sink (enigo) and is fed by
//! one queue: no global mutex, and a slow injection never blocks the async
//! executor. The thread also remembers which buttons and keys each viewer
//! holds down, so that a viewer that disconnects mid-drag does not leave
//! the remote mouse button pressed.
//!
//! Input never sticks: a viewer's actions wait for room in the queue
//! ([`INPUT_QUEUE`] permits), so none is dropped, releases included; and
//! the release of everything a viewer holds ([`ReleaseOnDrop`]) takes no
//! permit, so it is queued at once, behind that viewer's last action, even
//! when the queue is full, from any thread, and also when the session task
//! panics or is dropped.

mod choose;
mod enigo_sink;
mod injector;
#[cfg(target_os = "linux")]
mod portal;
mod recording;
#[cfg(target_os = "linux")]
mod wlr;

pub use choose::desktop_input;
pub(crate) use choose::explain as explain_no_input;
pub use enigo_sink::EnigoSink;
#[cfg(target_os = "linux")]
pub use portal::PortalSink;
pub use recording::{InputGate, RecordingSink};
#[cfg(target_os = "linux")]
pub use wlr::WlrSink;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use injector::Injector;

use lookout_protocol::{Button, Key};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::availability::Availability;

/// One input action, already mapped to desktop coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputAction {
    /// Move the pointer to an absolute desktop position.
    MoveTo {
        /// Desktop x, in physical pixels.
        x: i32,
        /// Desktop y, in physical pixels.
        y: i32,
    },
    /// Press or release a mouse button.
    Button {
        /// Which button.
        button: Button,
        /// Press (`true`) or release.
        pressed: bool,
    },
    /// Wheel steps; positive `dy` is down, positive `dx` right.
    Scroll {
        /// Horizontal steps.
        dx: i32,
        /// Vertical steps.
        dy: i32,
    },
    /// Press or release a key.
    Key {
        /// Which key.
        key: Key,
        /// Press (`true`) or release.
        pressed: bool,
    },
    /// Type a string.
    Text(String),
}

/// Why an input action could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    // The sources' messages are repeated in these because the agent logs
    // these errors with their `Display` alone.
    /// The platform input backend could not be opened.
    #[error("cannot open the input backend: {0}")]
    Open(#[source] enigo::NewConError),
    /// The wlroots virtual devices could not be made or used.
    #[cfg(target_os = "linux")]
    #[error("wlroots input failed: {0}")]
    Wlr(#[source] crate::wayland::WlrError),
    /// The RemoteDesktop portal could not be had, or refused an event.
    #[cfg(target_os = "linux")]
    #[error("portal input failed: {0}")]
    Portal(#[source] crate::portal::PortalError),
    /// The input thread could not be started.
    #[error("cannot start the input thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The input thread ended before saying whether the backend opened.
    #[error("the input thread died while starting")]
    ThreadDied,
    /// The platform rejected an action.
    #[error("input injection failed: {0}")]
    Inject(#[source] enigo::InputError),
}

/// Somewhere input actions go: the real desktop, or a recording in tests.
pub trait InputSink {
    /// Carries out one action.
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError>;

    /// Releases what the sink itself holds beyond the viewers' tracked
    /// buttons and keys (a typed key whose release failed); called when a
    /// viewer leaves. Nothing by default.
    fn release_held(&mut self) {}
}

/// Builds the input sink on the input thread: once at start, and again
/// when the old one has kept failing (its display went away).
pub type InputSinkFactory =
    Box<dyn FnMut() -> Result<Box<dyn InputSink>, InputError> + Send + 'static>;

/// Identifies one viewer session to the input thread.
pub type ViewerId = u64;

#[derive(Debug)]
enum Command {
    /// An action, with the permit that holds its place in the queue.
    Act(ViewerId, InputAction, OwnedSemaphorePermit),
    /// The viewer left: release whatever it still holds.
    ReleaseAll(ViewerId),
    /// The agent stops: release everything and end the thread.
    Shutdown,
}

/// How many actions may wait for the input thread. Enough to absorb a burst
/// of pointer moves from several viewers between two injections; small
/// enough that a viewer flooding input is held back at its own socket (its
/// reader waits for a permit) instead of growing memory.
///
/// Only actions take permits. The channel itself is unbounded because the
/// other commands are bounded by what sends them: one `ReleaseAll` per
/// session (sent once, when it ends) and one `Shutdown` per agent. That is
/// what lets a release-all be queued without waiting.
pub const INPUT_QUEUE: usize = 256;

/// Sends actions to the input thread. Cheap to clone, one per session.
#[derive(Debug, Clone)]
pub struct InputHandle {
    tx: mpsc::UnboundedSender<Command>,
    /// [`INPUT_QUEUE`] permits: room for actions.
    room: Arc<Semaphore>,
}

impl InputHandle {
    /// Queues an action for `viewer`, waiting while the queue is full.
    /// Returns `false` when the input thread is gone.
    pub async fn act(&self, viewer: ViewerId, action: InputAction) -> bool {
        let Ok(place) = Arc::clone(&self.room).acquire_owned().await else {
            return false;
        };
        self.tx.send(Command::Act(viewer, action, place)).is_ok()
    }

    /// A guard that releases every button and key `viewer` still holds
    /// when it is dropped: take it when the session starts, so that however
    /// the session ends (closed, cancelled, panicked) nothing stays held.
    pub fn release_on_drop(&self, viewer: ViewerId) -> ReleaseOnDrop {
        ReleaseOnDrop {
            tx: self.tx.clone(),
            viewer,
        }
    }
}

/// Releases what one viewer holds when dropped; see
/// [`InputHandle::release_on_drop`]. Never waits, needs no runtime.
#[derive(Debug)]
pub struct ReleaseOnDrop {
    tx: mpsc::UnboundedSender<Command>,
    viewer: ViewerId,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        // Fails only when the input thread is gone, and it released
        // everything on its way out.
        let _ = self.tx.send(Command::ReleaseAll(self.viewer));
    }
}

/// The thread that owns the input sink.
#[derive(Debug)]
pub struct InputThread {
    handle: Option<JoinHandle<()>>,
    tx: mpsc::UnboundedSender<Command>,
}

impl InputThread {
    /// Starts the thread and builds the sink on it. Fails if the sink cannot
    /// be built (for example there is no display). `display` says when the
    /// display went away and came back (the capture side's
    /// [`crate::hub::FrameHub::watch_availability`]): the sink is made anew
    /// then, as its connection was to the display that went away.
    pub fn spawn(
        mut factory: InputSinkFactory,
        display: watch::Receiver<Availability>,
    ) -> Result<(Self, InputHandle), InputError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(INPUT_QUEUE));
        let thread_room = Arc::clone(&room);
        // One message: whether the sink could be built.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("lookout-input".into())
            .spawn(move || match factory() {
                Ok(sink) => {
                    let _ = ready_tx.send(Ok(()));
                    run(Injector::new(factory, sink), rx, display);
                    // Wakes sessions waiting for room: their `act` fails.
                    thread_room.close();
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            })
            .map_err(InputError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((
                Self {
                    handle: Some(handle),
                    tx: tx.clone(),
                },
                InputHandle { tx, room },
            )),
            Ok(Err(err)) => {
                let _ = handle.join();
                Err(err)
            }
            Err(_) => {
                let _ = handle.join();
                Err(InputError::ThreadDied)
            }
        }
    }

    /// Releases everything still held and ends the thread, even if some
    /// [`InputHandle`] is still alive. Blocks until the queue is drained:
    /// call it off the executor.
    pub fn stop(mut self) {
        let _ = self.tx.send(Command::Shutdown);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Something a viewer can hold down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Held {
    Button(Button),
    Key(Key),
}

impl Held {
    fn release(self) -> InputAction {
        match self {
            Held::Button(button) => InputAction::Button {
                button,
                pressed: false,
            },
            Held::Key(key) => InputAction::Key {
                key,
                pressed: false,
            },
        }
    }
}

fn run(
    mut sink: Injector,
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut display: watch::Receiver<Availability>,
) {
    let mut held: HashMap<ViewerId, HashSet<Held>> = HashMap::new();
    while let Some(cmd) = rx.blocking_recv() {
        // Looked at when there is input to carry out: nothing else needs it.
        if display.has_changed().unwrap_or(false)
            && *display.borrow_and_update() == Availability::Live
        {
            sink.display_back(Instant::now());
        }
        match cmd {
            Command::Act(viewer, action, place) => {
                // Out of the queue: its place is free for the next one.
                drop(place);
                track(&mut held, viewer, &action);
                sink.apply(&action, Instant::now());
            }
            Command::ReleaseAll(viewer) => {
                release(&mut sink, held.remove(&viewer));
                sink.release_held();
            }
            Command::Shutdown => break,
        }
    }
    // The agent is stopping: release anything still held.
    for (_, keys) in held.drain() {
        release(&mut sink, Some(keys));
    }
}

fn track(held: &mut HashMap<ViewerId, HashSet<Held>>, viewer: ViewerId, action: &InputAction) {
    let (item, pressed) = match *action {
        InputAction::Button { button, pressed } => (Held::Button(button), pressed),
        InputAction::Key { key, pressed } => (Held::Key(key), pressed),
        _ => return,
    };
    let set = held.entry(viewer).or_default();
    if pressed {
        set.insert(item);
    } else {
        set.remove(&item);
    }
}

fn release(sink: &mut Injector, held: Option<HashSet<Held>>) {
    for item in held.into_iter().flatten() {
        sink.apply(&item.release(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn ctrl(pressed: bool) -> InputAction {
        InputAction::Key {
            key: Key::Control,
            pressed,
        }
    }

    /// Polls `sink` (bounded) until `done` holds for its log.
    fn wait_for(sink: &RecordingSink, done: impl Fn(&[InputAction]) -> bool) -> Vec<InputAction> {
        let deadline = Instant::now() + WAIT;
        loop {
            let actions = sink.actions();
            if done(&actions) || Instant::now() > deadline {
                return actions;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_viewer_leaving_a_full_queue_from_any_thread_still_has_its_keys_released() {
        let gate = InputGate::closed();
        let sink = RecordingSink::gated(gate.clone());
        let factory_sink = sink.clone();
        let (thread, handle) = InputThread::spawn(
            Box::new(move || Ok(Box::new(factory_sink.clone()) as Box<dyn InputSink>)),
            watch::channel(Availability::Live).1,
        )
        .unwrap();
        let release = handle.release_on_drop(7);
        // The first action is taken and held at the gate; then the queue
        // fills up.
        assert!(handle.act(7, ctrl(true)).await);
        for x in 0..INPUT_QUEUE as i32 {
            assert!(handle.act(7, InputAction::MoveTo { x, y: 0 }).await);
        }
        let more = tokio::time::timeout(
            Duration::from_millis(50),
            handle.act(7, InputAction::MoveTo { x: -1, y: 0 }),
        );
        assert!(more.await.is_err(), "the queue should be full");
        // The session ends on a thread without a runtime, say while
        // unwinding: the release must still be queued, without waiting.
        std::thread::spawn(move || drop(release)).join().unwrap();
        gate.open();
        let actions = wait_for(&sink, |log| log.contains(&ctrl(false)));
        assert_eq!(actions.first(), Some(&ctrl(true)));
        assert_eq!(
            actions.last(),
            Some(&ctrl(false)),
            "released after the viewer's queued actions"
        );
        assert!(sink.held().is_empty());
        tokio::task::spawn_blocking(move || thread.stop())
            .await
            .unwrap();
    }

    #[test]
    fn a_viewer_leaving_lets_the_sink_release_what_it_holds_of_its_own() {
        /// Counts its `release_held` calls (a portal sink's typed keys).
        struct Holder(Arc<std::sync::atomic::AtomicUsize>);
        impl InputSink for Holder {
            fn apply(&mut self, _: &InputAction) -> Result<(), InputError> {
                Ok(())
            }
            fn release_held(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sink_calls = Arc::clone(&calls);
        let (thread, handle) = InputThread::spawn(
            Box::new(move || Ok(Box::new(Holder(Arc::clone(&sink_calls))) as Box<dyn InputSink>)),
            watch::channel(Availability::Live).1,
        )
        .unwrap();
        // A viewer that held nothing the thread tracks leaves.
        drop(handle.release_on_drop(3));
        let deadline = Instant::now() + WAIT;
        while calls.load(std::sync::atomic::Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        thread.stop();
    }

    #[tokio::test]
    async fn a_stopped_input_thread_refuses_actions_instead_of_hanging() {
        let sink = RecordingSink::new();
        let factory_sink = sink.clone();
        let (thread, handle) = InputThread::spawn(
            Box::new(move || Ok(Box::new(factory_sink.clone()) as Box<dyn InputSink>)),
            watch::channel(Availability::Live).1,
        )
        .unwrap();
        assert!(handle.act(1, ctrl(true)).await);
        tokio::task::spawn_blocking(move || thread.stop())
            .await
            .unwrap();
        // Stopping released what was held.
        assert_eq!(sink.actions(), vec![ctrl(true), ctrl(false)]);
        let refused = tokio::time::timeout(WAIT, handle.act(1, ctrl(true))).await;
        assert_eq!(refused.ok(), Some(false));
    }
}
