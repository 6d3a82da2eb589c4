//! Replaying viewers' input on this machine.
//!
//! One dedicated thread owns the platform input sink (enigo) and is fed by a
//! bounded channel: no global mutex, and a slow injection never blocks the
//! async executor. The thread also remembers which buttons and keys each
//! viewer holds down, so that a viewer that disconnects mid-drag does not
//! leave the remote mouse button pressed.

mod enigo_sink;
mod recording;

pub use enigo_sink::EnigoSink;
pub use recording::RecordingSink;

use std::collections::{HashMap, HashSet};
use std::thread::JoinHandle;

use lookout_protocol::{Button, Key};
use tokio::sync::mpsc;

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
}

/// Builds the input sink on the input thread.
pub type InputSinkFactory =
    Box<dyn FnOnce() -> Result<Box<dyn InputSink>, InputError> + Send + 'static>;

/// The input sink factory for the real desktop.
pub fn desktop_input() -> InputSinkFactory {
    Box::new(|| Ok(Box::new(EnigoSink::new()?) as Box<dyn InputSink>))
}

/// Identifies one viewer session to the input thread.
pub type ViewerId = u64;

#[derive(Debug)]
enum Command {
    Act(ViewerId, InputAction),
    /// The viewer left: release whatever it still holds.
    ReleaseAll(ViewerId),
    /// The agent stops: release everything and end the thread.
    Shutdown,
}

/// How many actions may wait for the input thread. Enough to absorb a burst
/// of pointer moves from several viewers between two injections; small
/// enough that a viewer flooding input is held back at its own socket (its
/// reader waits here) instead of growing memory.
const INPUT_QUEUE: usize = 256;

/// Sends actions to the input thread. Cheap to clone, one per session.
#[derive(Debug, Clone)]
pub struct InputHandle {
    tx: mpsc::Sender<Command>,
}

impl InputHandle {
    /// Queues an action for `viewer`, waiting while the queue is full.
    /// Returns `false` when the input thread is gone.
    pub async fn act(&self, viewer: ViewerId, action: InputAction) -> bool {
        self.tx.send(Command::Act(viewer, action)).await.is_ok()
    }

    /// Releases every button and key `viewer` still holds. Used when a
    /// session ends, so it must not wait: if the queue is full the release
    /// is sent from a small task.
    pub fn release_all(&self, viewer: ViewerId) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) =
            self.tx.try_send(Command::ReleaseAll(viewer))
        {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(cmd).await;
            });
        }
    }
}

/// The thread that owns the input sink.
#[derive(Debug)]
pub struct InputThread {
    handle: Option<JoinHandle<()>>,
    tx: mpsc::Sender<Command>,
}

impl InputThread {
    /// Starts the thread and builds the sink on it. Fails if the sink cannot
    /// be built (for example there is no display).
    pub fn spawn(factory: InputSinkFactory) -> Result<(Self, InputHandle), InputError> {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        // One message: whether the sink could be built.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("lookout-input".into())
            .spawn(move || match factory() {
                Ok(sink) => {
                    let _ = ready_tx.send(Ok(()));
                    run(sink, rx);
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
                InputHandle { tx },
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
    /// [`InputHandle`] is still alive. Blocks: call it off the executor.
    pub fn stop(mut self) {
        let _ = self.tx.blocking_send(Command::Shutdown);
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

fn run(mut sink: Box<dyn InputSink>, mut rx: mpsc::Receiver<Command>) {
    let mut held: HashMap<ViewerId, HashSet<Held>> = HashMap::new();
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Command::Act(viewer, action) => {
                track(&mut held, viewer, &action);
                if let Err(err) = sink.apply(&action) {
                    tracing::warn!(viewer, error = %err, "input action failed");
                }
            }
            Command::ReleaseAll(viewer) => release(sink.as_mut(), held.remove(&viewer)),
            Command::Shutdown => break,
        }
    }
    // The agent is stopping: release anything still held.
    for (_, keys) in held.drain() {
        release(sink.as_mut(), Some(keys));
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

fn release(sink: &mut dyn InputSink, held: Option<HashSet<Held>>) {
    for item in held.into_iter().flatten() {
        if let Err(err) = sink.apply(&item.release()) {
            tracing::warn!(error = %err, "releasing {item:?} failed");
        }
    }
}
