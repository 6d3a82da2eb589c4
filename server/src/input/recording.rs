//! An input sink that records actions instead of injecting them: for tests
//! and for `--source test-pattern` demos without a desktop to steer. A test
//! can stall it with an [`InputGate`], as a hung desktop would.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{InputAction, InputError, InputSink};

/// Records every action; clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    log: Arc<Mutex<Vec<InputAction>>>,
    gate: Option<InputGate>,
}

impl RecordingSink {
    /// A sink with an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink that waits at `gate` before carrying out each action.
    pub fn gated(gate: InputGate) -> Self {
        Self {
            log: Arc::default(),
            gate: Some(gate),
        }
    }

    /// Everything recorded so far, in order.
    pub fn actions(&self) -> Vec<InputAction> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The buttons and keys the log leaves pressed, as press actions, in
    /// the order they were pressed.
    pub fn held(&self) -> Vec<InputAction> {
        let mut held: Vec<InputAction> = Vec::new();
        for action in self.actions() {
            let (press, pressed) = match action {
                InputAction::Button { button, pressed } => (
                    InputAction::Button {
                        button,
                        pressed: true,
                    },
                    pressed,
                ),
                InputAction::Key { key, pressed } => {
                    (InputAction::Key { key, pressed: true }, pressed)
                }
                _ => continue,
            };
            held.retain(|h| *h != press);
            if pressed {
                held.push(press);
            }
        }
        held
    }
}

impl InputSink for RecordingSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(action.clone());
        Ok(())
    }
}

/// Holds a [`RecordingSink`]'s actions back while closed. Clones share the
/// same gate.
#[derive(Debug, Clone, Default)]
pub struct InputGate {
    /// `true` while closed.
    closed: Arc<(Mutex<bool>, Condvar)>,
}

/// The longest a closed gate holds an action. A test that forgets to open
/// it must not hang the input thread (and the runtime waiting on it) for
/// good.
const GATE_LIMIT: Duration = Duration::from_secs(60);

impl InputGate {
    /// A gate that holds every action until [`InputGate::open`].
    pub fn closed() -> Self {
        Self {
            closed: Arc::new((Mutex::new(true), Condvar::new())),
        }
    }

    /// Lets every action through, now and from now on.
    pub fn open(&self) {
        let (closed, changed) = &*self.closed;
        *closed.lock().unwrap_or_else(PoisonError::into_inner) = false;
        changed.notify_all();
    }

    /// Waits while the gate is closed, at most [`GATE_LIMIT`].
    fn pass(&self) {
        let (closed, changed) = &*self.closed;
        let deadline = Instant::now() + GATE_LIMIT;
        let mut shut = closed.lock().unwrap_or_else(PoisonError::into_inner);
        while *shut {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            shut = changed
                .wait_timeout(shut, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
