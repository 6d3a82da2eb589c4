//! The one-frame-ahead handoff from the capture thread to the encode
//! thread: at most one captured image per monitor waits, so the capture
//! thread runs at most one frame ahead of the encoder and memory stays
//! bounded whatever the speeds.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::capture::CapturedImage;
use crate::regions::Rect;

/// Damaged rectangles a job carries at most, after jobs were merged (see
/// [`Handoff::put`]); past it the job says "changed anywhere", and the
/// encoder compares everything, as it does without damage reports.
const MAX_HINT_RECTS: usize = 64;

/// A captured image on its way to the encoder.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) monitor: u32,
    pub(super) image: Arc<CapturedImage>,
    pub(super) captured_at_us: u64,
    /// The hub's monitor layout the image was captured under: an image
    /// of a layout that has changed since is not published.
    pub(super) layout: u64,
    /// Where the image may differ from the one before it, when the source
    /// knows; `None`: anywhere.
    pub(super) hint: Option<Hint>,
}

/// Where an image may differ from an earlier image of its monitor.
#[derive(Debug)]
pub(super) struct Hint {
    /// The earlier image: the hint holds only against that one (the
    /// encoder checks it is the image it has, by pointer).
    pub(super) base: Arc<CapturedImage>,
    /// Outside these rectangles the image equals `base`.
    pub(super) rects: Vec<Rect>,
}

/// The hint of `newer` taking the place of `older`, a job of the same
/// monitor the encoder never saw: `older`'s damage is `newer`'s too, since
/// the encoder compares `newer` with what came before `older`.
fn merged(
    older: Option<Hint>,
    older_image: &Arc<CapturedImage>,
    newer: Option<Hint>,
) -> Option<Hint> {
    let (older, mut newer) = (older?, newer?);
    if !Arc::ptr_eq(&newer.base, older_image) {
        return None;
    }
    newer.rects.extend(older.rects);
    (newer.rects.len() <= MAX_HINT_RECTS).then_some(Hint {
        base: older.base,
        rects: newer.rects,
    })
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

    /// Queues `job`, replacing a job of the same monitor still waiting
    /// (whose damage `job` then carries as well).
    pub(super) fn put(&self, mut job: Job) {
        let mut state = self.lock();
        if let Some(at) = state.jobs.iter().position(|j| j.monitor == job.monitor) {
            let older = state.jobs.remove(at);
            job.hint = merged(older.hint, &older.image, job.hint.take());
        }
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
            hint: None,
        }
    }

    fn rect(x: u32) -> Rect {
        Rect {
            x,
            y: 0,
            width: 1,
            height: 1,
        }
    }

    #[test]
    fn a_job_replacing_a_waiting_one_carries_its_damage_too() {
        let handoff = Handoff::default();
        let base = Arc::new(CapturedImage::rgba(1, 1, vec![0; 4]));
        let mut first = job(0, 1);
        first.hint = Some(Hint {
            base: Arc::clone(&base),
            rects: vec![rect(1)],
        });
        let mut second = job(0, 2);
        second.hint = Some(Hint {
            base: Arc::clone(&first.image),
            rects: vec![rect(2)],
        });
        handoff.put(first);
        handoff.put(second);
        let taken = handoff.take().unwrap();
        let hint = taken.hint.expect("both hints known");
        assert!(
            Arc::ptr_eq(&hint.base, &base),
            "against what the encoder has"
        );
        assert_eq!(hint.rects, [rect(2), rect(1)]);
    }

    #[test]
    fn a_replaced_job_without_damage_leaves_the_newer_one_without_too() {
        let handoff = Handoff::default();
        let first = job(0, 1);
        let mut second = job(0, 2);
        second.hint = Some(Hint {
            base: Arc::clone(&first.image),
            rects: vec![rect(2)],
        });
        handoff.put(first);
        handoff.put(second);
        assert!(handoff.take().unwrap().hint.is_none());
        // Too many rectangles merged: changed anywhere.
        let mut older = job(0, 1);
        older.hint = Some(Hint {
            base: Arc::new(CapturedImage::rgba(1, 1, vec![0; 4])),
            rects: (0..MAX_HINT_RECTS as u32).map(rect).collect(),
        });
        let mut newer = job(0, 2);
        newer.hint = Some(Hint {
            base: Arc::clone(&older.image),
            rects: vec![rect(0)],
        });
        handoff.put(older);
        handoff.put(newer);
        assert!(handoff.take().unwrap().hint.is_none());
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
