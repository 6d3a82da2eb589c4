//! The hand-over from the network thread to the decode thread: every
//! region update since the newest full frame, in order, within a bound.
//!
//! A latest-value slot will not do once region updates flow: each paints
//! over the picture the one before it left, so skipping one leaves a wrong
//! picture until the next full frame, which on a still screen may be never.
//! A full frame, though, repaints everything, so the rules are:
//!
//! * a full frame drops everything queued before it (the decoder skips to
//!   it, as a latest-value slot would);
//! * a region update is queued behind what is there, in order;
//! * past [`QueueBound`] (count or bytes) the queue drops what it holds,
//!   ignores region updates until a full frame arrives, and asks the
//!   network thread for one ([`UpdateQueue::resync_requested`]: it sends
//!   `start_monitor` again, and the contract makes the next frame full);
//! * the decode thread asks the same way when it cannot paint an update
//!   ([`UpdateQueue::resync`]).
//!
//! So memory stays bounded and the picture converges to the screen: at
//! worst it stays still for a round trip while the full frame comes.
//!
//! Locking: one mutex over the queue and its flags, held only to move
//! updates in or out (never while decoding), so the network thread never
//! waits behind a decode.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::compose::Update;

/// How much may wait for the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBound {
    /// Updates queued at most.
    pub updates: usize,
    /// Bytes of JPEG queued at most; an update always fits into an empty
    /// queue (the pairing bounds one update by `Limits::max_image_len`), so
    /// at most this plus one update is held.
    pub bytes: u64,
}

/// The viewer's bound: 64 updates is about a second of the agent's fastest
/// stream. A decoder a second behind will not catch up by painting that
/// second's history; one full frame costs less than the backlog. 32 MiB is
/// some hundred full 1080p JPEGs, far more than a second of any stream a
/// viewer's link carries, so the byte bound only stops an agent that sends
/// huge updates faster than they decode.
pub const UPDATE_QUEUE: QueueBound = QueueBound {
    updates: 64,
    bytes: 32 * 1024 * 1024,
};

/// What [`UpdateQueue::push`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued behind what was there.
    Queued,
    /// A full frame, queued in place of `dropped` older updates.
    Replaced {
        /// Updates dropped undecoded.
        dropped: usize,
    },
    /// A region update dropped because a full frame is awaited (after an
    /// overflow or a failed update), or the queue is closed.
    Ignored,
    /// The bound was reached: this update and `dropped` queued ones are
    /// gone, and a full frame was asked for.
    Overflowed {
        /// Updates dropped from the queue, besides this one.
        dropped: usize,
    },
}

/// The bounded queue of updates; see the [module](self) docs.
#[derive(Debug)]
pub struct UpdateQueue {
    bound: QueueBound,
    state: Mutex<State>,
    ready: Condvar,
    /// Wakes the network thread to ask for a full frame. A `Notify` keeps
    /// one permit when nobody waits, so a request made while the network
    /// thread is busy (or reconnecting) is not lost, and many requests
    /// before it looks are one.
    resync: Notify,
}

#[derive(Debug, Default)]
struct State {
    updates: VecDeque<Update>,
    bytes: u64,
    /// Region updates are dropped until a full frame comes.
    awaiting_full: bool,
    closed: bool,
}

impl State {
    fn clear(&mut self) -> usize {
        self.bytes = 0;
        let dropped = self.updates.len();
        self.updates.clear();
        dropped
    }
}

impl UpdateQueue {
    /// An empty, open queue holding at most `bound`.
    pub fn new(bound: QueueBound) -> Self {
        Self {
            bound,
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            resync: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A queue and flags, each change made whole under the lock: still
        // consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an update to the decoder; see the [module](self) docs for the
    /// rules.
    pub fn push(&self, update: Update) -> Pushed {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Ignored;
        }
        let len = update.jpeg_len();
        let pushed = if update.is_full() {
            state.awaiting_full = false;
            Pushed::Replaced {
                dropped: state.clear(),
            }
        } else if state.awaiting_full {
            return Pushed::Ignored;
        } else if !state.updates.is_empty()
            && (state.updates.len() >= self.bound.updates
                || state.bytes.saturating_add(len) > self.bound.bytes)
        {
            let dropped = state.clear();
            state.awaiting_full = true;
            drop(state);
            self.resync.notify_one();
            return Pushed::Overflowed { dropped };
        } else {
            Pushed::Queued
        };
        state.bytes = state.bytes.saturating_add(len);
        state.updates.push_back(update);
        drop(state);
        self.ready.notify_one();
        pushed
    }

    /// The decoder could not paint an update: drops what is queued and asks
    /// for a full frame, unless one is already queued (a full frame that
    /// came after the failed update mends the picture by itself).
    pub fn resync(&self) {
        let mut state = self.lock();
        if state.updates.front().is_some_and(Update::is_full) {
            return;
        }
        state.clear();
        state.awaiting_full = true;
        drop(state);
        self.resync.notify_one();
    }

    /// Waits until a full frame is wanted (for the network thread, which
    /// then sends `start_monitor` again).
    pub async fn resync_requested(&self) {
        self.resync.notified().await;
    }

    /// Whether region updates are being dropped until a full frame comes.
    pub fn awaiting_full(&self) -> bool {
        self.lock().awaiting_full
    }

    /// Takes everything queued, oldest first, waiting up to `timeout` for
    /// something. `None` on timeout or once closed and empty.
    pub fn take_timeout(&self, timeout: Duration) -> Option<Vec<Update>> {
        let guard = self.lock();
        let (mut guard, _) = self
            .ready
            .wait_timeout_while(guard, timeout, |s| s.updates.is_empty() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        take_all(&mut guard)
    }

    /// Takes everything queued, oldest first, waiting for something.
    /// `None` once closed and empty.
    pub fn take_wait(&self) -> Option<Vec<Update>> {
        let guard = self.lock();
        let mut guard = self
            .ready
            .wait_while(guard, |s| s.updates.is_empty() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        take_all(&mut guard)
    }

    /// Wakes every waiter for good; later waits return at once and later
    /// pushes are ignored.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

fn take_all(state: &mut State) -> Option<Vec<Update>> {
    if state.updates.is_empty() {
        return None;
    }
    state.bytes = 0;
    Some(state.updates.drain(..).collect())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use lookout_protocol::{FrameMeta, Rect, RegionUpdate, Tile};

    use super::*;
    use crate::connection::EncodedFrame;

    const NOW: Duration = Duration::ZERO;

    fn meta(seq: u64) -> FrameMeta {
        FrameMeta {
            seq,
            width: 64,
            height: 64,
            captured_at_us: 0,
            quality: 75,
        }
    }

    fn full(seq: u64) -> Update {
        Update::Full(EncodedFrame {
            meta: meta(seq),
            jpeg: Bytes::from_static(&[0; 100]),
        })
    }

    fn region(seq: u64, len: usize) -> Update {
        Update::Region(RegionUpdate {
            meta: meta(seq),
            tiles: vec![Tile {
                rect: Rect::new(0, 0, 16, 16),
                jpeg: Bytes::from(vec![0; len]),
            }],
        })
    }

    fn seqs(updates: Option<Vec<Update>>) -> Vec<u64> {
        updates
            .unwrap_or_default()
            .iter()
            .map(|u| u.meta().seq)
            .collect()
    }

    fn queue(updates: usize, bytes: u64) -> UpdateQueue {
        UpdateQueue::new(QueueBound { updates, bytes })
    }

    /// Whether a full frame was asked for (the permit is consumed).
    fn resync_asked(queue: &UpdateQueue) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(1), queue.resync_requested())
                .await
                .is_ok()
        })
    }

    #[test]
    fn region_updates_after_a_full_frame_are_all_kept_in_order() {
        let queue = queue(8, 10_000);
        assert_eq!(queue.push(full(1)), Pushed::Replaced { dropped: 0 });
        for seq in 2..=5 {
            assert_eq!(queue.push(region(seq, 10)), Pushed::Queued);
        }
        assert_eq!(seqs(queue.take_timeout(NOW)), [1, 2, 3, 4, 5]);
        assert_eq!(queue.take_timeout(NOW), None);
        assert!(!resync_asked(&queue));
    }

    #[test]
    fn a_full_frame_drops_what_is_queued_before_it() {
        let queue = queue(8, 10_000);
        queue.push(full(1));
        queue.push(region(2, 10));
        queue.push(region(3, 10));
        assert_eq!(queue.push(full(4)), Pushed::Replaced { dropped: 3 });
        queue.push(region(5, 10));
        assert_eq!(seqs(queue.take_timeout(NOW)), [4, 5]);
    }

    #[test]
    fn too_many_updates_overflow_ask_for_a_full_frame_and_ignore_regions_until_it_comes() {
        let queue = queue(3, 10_000);
        queue.push(full(1));
        queue.push(region(2, 10));
        queue.push(region(3, 10));
        assert_eq!(queue.push(region(4, 10)), Pushed::Overflowed { dropped: 3 });
        assert!(resync_asked(&queue));
        assert!(queue.awaiting_full());
        // Sent before the agent saw `start_monitor`: worthless now.
        assert_eq!(queue.push(region(5, 10)), Pushed::Ignored);
        assert_eq!(queue.take_timeout(NOW), None);
        assert_eq!(queue.push(full(6)), Pushed::Replaced { dropped: 0 });
        assert!(!queue.awaiting_full());
        assert_eq!(queue.push(region(7, 10)), Pushed::Queued);
        assert_eq!(seqs(queue.take_timeout(NOW)), [6, 7]);
        assert!(!resync_asked(&queue), "asked twice for one overflow");
    }

    #[test]
    fn too_many_bytes_overflow_but_one_large_update_always_fits() {
        let queue = queue(100, 250);
        // Larger than the bound alone, into an empty queue: taken.
        assert_eq!(queue.push(region(1, 400)), Pushed::Queued);
        assert_eq!(seqs(queue.take_timeout(NOW)), [1]);
        queue.push(full(2)); // 100 bytes
        assert_eq!(queue.push(region(3, 150)), Pushed::Queued); // 250
        assert_eq!(queue.push(region(4, 1)), Pushed::Overflowed { dropped: 2 });
        assert!(resync_asked(&queue));
    }

    #[test]
    fn a_failed_paint_asks_for_a_full_frame_unless_one_is_queued() {
        let queue = queue(8, 10_000);
        queue.push(region(1, 10));
        queue.resync();
        assert!(resync_asked(&queue));
        assert!(queue.awaiting_full());
        assert_eq!(queue.take_timeout(NOW), None);
        // A full frame queued after the failed update mends it.
        queue.push(full(2));
        queue.push(region(3, 10));
        queue.resync();
        assert!(!resync_asked(&queue));
        assert_eq!(seqs(queue.take_timeout(NOW)), [2, 3]);
    }

    #[test]
    fn a_waiting_decoder_wakes_on_push_and_on_close() {
        let queue = std::sync::Arc::new(queue(8, 10_000));
        let writer = std::sync::Arc::clone(&queue);
        let (pushed_tx, pushed_rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::spawn(move || {
            writer.push(full(1));
            pushed_rx.recv().unwrap();
            writer.close();
        });
        assert_eq!(seqs(queue.take_wait()), [1]);
        pushed_tx.send(()).unwrap();
        assert_eq!(queue.take_wait(), None);
        assert_eq!(queue.push(full(2)), Pushed::Ignored);
        handle.join().unwrap();
    }
}
