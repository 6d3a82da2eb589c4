//! Connections that have not finished the handshake yet, bounded.
//!
//! When the table is full, a new connection does not wait and is not turned
//! away: an older pending handshake is dropped instead: the oldest of those
//! whose peer has not sent a single byte, if there are any, else the
//! oldest. A real viewer speaks at once (its TLS ClientHello) and is through
//! the token in milliseconds, so a flood of half-open connections, however
//! long, only ever displaces itself, while a viewer that arrives during the
//! flood gets through.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// The bounded table of pending handshakes.
#[derive(Debug)]
pub(crate) struct PendingHandshakes {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Oldest first.
    queue: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    evicted: CancellationToken,
    /// The peer has sent something: not an idle socket.
    progressed: bool,
}

/// One connection's place in the table; leaving it (drop) frees the place.
#[derive(Debug)]
pub(crate) struct PendingSlot {
    table: Arc<PendingHandshakes>,
    id: u64,
    /// Fires when a newer connection displaced this one.
    pub evicted: CancellationToken,
}

impl PendingHandshakes {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            state: Mutex::default(),
        })
    }

    /// Takes a place for a new connection; returns it and whether an older
    /// handshake had to be dropped for it.
    pub(crate) fn admit(self: &Arc<Self>) -> (PendingSlot, bool) {
        let mut state = self.lock();
        let mut displaced = false;
        while state.queue.len() >= self.max {
            let idle = state.queue.iter().position(|e| !e.progressed).unwrap_or(0);
            if let Some(victim) = state.queue.remove(idle) {
                victim.evicted.cancel();
                displaced = true;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let evicted = CancellationToken::new();
        state.queue.push_back(Entry {
            id,
            evicted: evicted.clone(),
            progressed: false,
        });
        let slot = PendingSlot {
            table: Arc::clone(self),
            id,
            evicted,
        };
        (slot, displaced)
    }

    /// Handshakes in progress (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PendingSlot {
    /// The peer has spoken: it is dropped only after idle connections.
    pub(crate) fn progressed(&self) {
        let mut state = self.table.lock();
        if let Some(entry) = state.queue.iter_mut().find(|e| e.id == self.id) {
            entry.progressed = true;
        }
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut state = self.table.lock();
        if let Some(at) = state.queue.iter().position(|e| e.id == self.id) {
            state.queue.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_drops_its_oldest_entry() {
        let table = PendingHandshakes::new(3);
        let (a, displaced) = table.admit();
        assert!(!displaced);
        let (b, _) = table.admit();
        let (c, _) = table.admit();
        assert_eq!(table.len(), 3);
        let (d, displaced) = table.admit();
        assert!(displaced);
        assert!(a.evicted.is_cancelled());
        assert!(!b.evicted.is_cancelled() && !c.evicted.is_cancelled());
        assert_eq!(table.len(), 3);
        // A finished handshake frees its place; nobody else is dropped.
        drop(c);
        assert_eq!(table.len(), 2);
        let (_e, displaced) = table.admit();
        assert!(!displaced);
        assert!(!b.evicted.is_cancelled() && !d.evicted.is_cancelled());
        // Dropping an already evicted slot changes nothing.
        drop(a);
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn idle_connections_go_before_ones_that_got_past_tls() {
        let table = PendingHandshakes::new(3);
        let (viewer, _) = table.admit();
        viewer.progressed();
        let (idle_1, _) = table.admit();
        let (idle_2, _) = table.admit();
        let (_new_1, displaced) = table.admit();
        assert!(displaced);
        assert!(idle_1.evicted.is_cancelled());
        assert!(
            !viewer.evicted.is_cancelled(),
            "the viewer is older but busy"
        );
        let (_new_2, _) = table.admit();
        assert!(idle_2.evicted.is_cancelled());
        assert!(!viewer.evicted.is_cancelled());
    }
}
