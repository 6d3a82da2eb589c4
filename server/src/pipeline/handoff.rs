//! The one-frame-ahead handoff from the capture thread to the encode
//! thread: at most one captured image per monitor waits, so the capture
//! thread runs at most one frame ahead of the encoder and memory stays
//! bounded whatever the speeds.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::capture::CapturedImage;

/// A captured image on its way to the encoder.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) monitor: u32,
    pub(super) image: Arc<CapturedImage>,
    pub(super) captured_at_us: u64,
    /// The hub's monitor layout the image was captured under: an image
    /// of a layout that has changed since is not published.
    pub(super) layout: u64,
}

/// Captured images waiting for the encode thread, at most one per monitor.
#[derive(Debug, Default)]
pub(super) struct Handoff {
    state: Mutex<HandoffState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct HandoffState {
    jobs: Vec<Job>,
    stopping: bool,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, HandoffState> {
        // A list of jobs: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, replacing a job of the same monitor still waiting.
    pub(super) fn put(&self, job: Job) {
        let mut state = self.lock();
        state.jobs.retain(|j| j.monitor != job.monitor);
        state.jobs.push(job);
        self.changed.notify_all();
    }

    /// The oldest job; blocks while there is none. `None` once stopping.
    pub(super) fn take(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return None;
            }
            if !state.jobs.is_empty() {
                let job = state.jobs.remove(0);
                self.changed.notify_all();
                return Some(job);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Blocks until the encoder has taken `monitor`'s job, if one waits.
    /// `false` once stopping.
    pub(super) fn wait_taken(&self, monitor: u32) -> bool {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return false;
            }
            if !state.jobs.iter().any(|j| j.monitor == monitor) {
                return true;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Ends every wait, now and later.
    pub(super) fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(monitor: u32, captured_at_us: u64) -> Job {
        Job {
            monitor,
            image: Arc::new(CapturedImage::rgba(1, 1, vec![0; 4])),
            captured_at_us,
            layout: 0,
        }
    }

    #[test]
    fn a_newer_image_replaces_the_waiting_one_of_its_monitor_only() {
        let handoff = Handoff::default();
        handoff.put(job(0, 1));
        handoff.put(job(1, 2));
        handoff.put(job(0, 3));
        let first = handoff.take().unwrap();
        assert_eq!((first.monitor, first.captured_at_us), (1, 2));
        let second = handoff.take().unwrap();
        assert_eq!((second.monitor, second.captured_at_us), (0, 3));
        assert!(handoff.wait_taken(0), "nothing of monitor 0 waits");
    }

    #[test]
    fn stopping_ends_every_wait() {
        let handoff = Handoff::default();
        handoff.put(job(0, 1));
        handoff.stop();
        assert!(handoff.take().is_none());
        assert!(!handoff.wait_taken(0));
    }
}
