//! A latest-value slot between threads: the writer replaces whatever is
//! there, the reader takes the newest value. Nothing ever queues, so a slow
//! reader skips stale values instead of falling behind.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Holds at most one value: the newest.
#[derive(Debug)]
pub struct Latest<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    closed: bool,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Latest<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                value: None,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is a plain Option and a flag: still consistent after a
        // panic elsewhere, so a poisoned lock is safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `value`, dropping an older one nobody took. Returns whether
    /// one was dropped (a skipped value).
    pub fn put(&self, value: T) -> bool {
        let skipped = self.lock().value.replace(value).is_some();
        self.ready.notify_one();
        skipped
    }

    /// Takes the value, if any, without waiting.
    pub fn take(&self) -> Option<T> {
        self.lock().value.take()
    }

    /// Waits up to `timeout` for a value. `None` on timeout or once the
    /// slot is closed and empty.
    pub fn take_timeout(&self, timeout: Duration) -> Option<T> {
        let guard = self.lock();
        let (mut guard, _) = self
            .ready
            .wait_timeout_while(guard, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        guard.value.take()
    }

    /// Waits for a value. `None` once the slot is closed and empty.
    pub fn take_wait(&self) -> Option<T> {
        let guard = self.lock();
        let mut guard = self
            .ready
            .wait_while(guard, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        guard.value.take()
    }

    /// Wakes every waiter for good; later waits return at once.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn newest_value_wins_and_older_ones_are_skipped() {
        let slot = Latest::new();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.take(), Some(3));
        assert_eq!(slot.take(), None);
    }

    #[test]
    fn waiting_reader_wakes_on_put_and_on_close() {
        let slot = Arc::new(Latest::new());
        let writer = Arc::clone(&slot);
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.put(7);
            std::thread::sleep(Duration::from_millis(20));
            writer.close();
        });
        assert_eq!(slot.take_wait(), Some(7));
        assert_eq!(slot.take_wait(), None);
        handle.join().unwrap();
    }

    #[test]
    fn take_timeout_gives_up() {
        let slot: Latest<u8> = Latest::new();
        let started = Instant::now();
        assert_eq!(slot.take_timeout(Duration::from_millis(30)), None);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
