//! An input sink that records actions instead of injecting them: for tests
//! and for `--source test-pattern` demos without a desktop to steer.

use std::sync::{Arc, Mutex, PoisonError};

use super::{InputAction, InputError, InputSink};

/// Records every action; clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    log: Arc<Mutex<Vec<InputAction>>>,
}

impl RecordingSink {
    /// A sink with an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, in order.
    pub fn actions(&self) -> Vec<InputAction> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl InputSink for RecordingSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(action.clone());
        Ok(())
    }
}
