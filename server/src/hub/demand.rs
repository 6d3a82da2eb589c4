//! Demand: which monitors viewers watch, with what they ask for, and the
//! condition variable the capture thread sleeps on while nobody watches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::rendition::{Ask, Profile};
/// Which monitors are being watched, and by how many viewers; the capture
/// thread sleeps on it while nobody watches anything.
#[derive(Debug, Default)]
pub(crate) struct Demand {
    state: Mutex<DemandState>,
    pub(super) wake: Condvar,
    /// Counts changes of who asks for what: a viewer given another's
    /// rendition looks again when it moves.
    pub(super) generation: AtomicU64,
}

#[derive(Debug, Default)]
struct DemandState {
    /// Per watched monitor: what its viewers ask for.
    watchers: HashMap<u32, Vec<Watchers>>,
    /// Per watched monitor: each viewer's frame rate (0: the agent's).
    rates: HashMap<u32, Vec<Arc<AtomicU32>>>,
    stopping: bool,
}

/// The viewers of one monitor that were given the same ask and take the
/// same kind of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watchers {
    ask: Ask,
    regions: bool,
    count: usize,
}

impl Demand {
    fn lock(&self) -> MutexGuard<'_, DemandState> {
        // The state is a counter map: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more viewer of `monitor` (of `source` size) asking `ask`;
    /// returns the ask it is given, which is another when another viewer's
    /// selects the same rendition or the monitor has as many renditions as
    /// it may ([`crate::rendition::assign`]).
    pub(super) fn add(&self, monitor: u32, regions: bool, ask: Ask, source: (u32, u32)) -> Ask {
        let mut state = self.lock();
        let given = Self::register(&mut state, monitor, regions, ask, source);
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_all();
        given
    }

    fn register(
        state: &mut DemandState,
        monitor: u32,
        regions: bool,
        ask: Ask,
        source: (u32, u32),
    ) -> Ask {
        let watchers = state.watchers.entry(monitor).or_default();
        let asks: Vec<Ask> = watchers.iter().map(|w| w.ask).collect();
        let given = crate::rendition::assign(&asks, ask, source);
        match watchers
            .iter_mut()
            .find(|w| w.ask == given && w.regions == regions)
        {
            Some(w) => w.count += 1,
            None => watchers.push(Watchers {
                ask: given,
                regions,
                count: 1,
            }),
        }
        given
    }

    /// Takes back what one viewer was given and decides again from what it
    /// asks, under one lock, so nobody sees the viewer missing.
    pub(super) fn decide_again(
        &self,
        monitor: u32,
        regions: bool,
        given: Ask,
        asked: Ask,
        source: (u32, u32),
    ) -> Ask {
        let mut state = self.lock();
        Self::unregister(&mut state, monitor, regions, given);
        Self::register(&mut state, monitor, regions, asked, source)
    }

    /// A new viewer's frame rate cell for `monitor` (0: the agent's rate
    /// until the viewer sets one).
    pub(super) fn add_rate(&self, monitor: u32) -> Arc<AtomicU32> {
        let rate = Arc::new(AtomicU32::new(0));
        self.lock()
            .rates
            .entry(monitor)
            .or_default()
            .push(Arc::clone(&rate));
        rate
    }

    pub(super) fn remove(&self, monitor: u32, regions: bool, given: Ask, rate: &Arc<AtomicU32>) {
        let mut state = self.lock();
        if let Some(rates) = state.rates.get_mut(&monitor) {
            rates.retain(|r| !Arc::ptr_eq(r, rate));
            if rates.is_empty() {
                state.rates.remove(&monitor);
            }
        }
        Self::unregister(&mut state, monitor, regions, given);
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn unregister(state: &mut DemandState, monitor: u32, regions: bool, given: Ask) {
        let Some(watchers) = state.watchers.get_mut(&monitor) else {
            return;
        };
        if let Some(w) = watchers
            .iter_mut()
            .find(|w| w.ask == given && w.regions == regions)
        {
            w.count -= 1;
        }
        watchers.retain(|w| w.count > 0);
        if watchers.is_empty() {
            state.watchers.remove(&monitor);
        }
    }

    /// Whether some viewer of `monitor` takes the `native` rendition in
    /// full frames only, so that every frame is worth encoding whole at
    /// once.
    pub(crate) fn wants_full(&self, monitor: u32, native: Profile) -> bool {
        self.wants(monitor, native, false)
    }

    /// Whether some viewer of `monitor` takes the `native` rendition in
    /// region updates, so that the update from the frame before is worth
    /// encoding at once.
    pub(crate) fn wants_regions(&self, monitor: u32, native: Profile) -> bool {
        self.wants(monitor, native, true)
    }

    /// The most frames a second any viewer of `monitor` takes, if every
    /// one of them takes fewer than the agent makes (`None`: the agent's
    /// rate). The capture thread captures that monitor no faster.
    pub(crate) fn max_fps(&self, monitor: u32) -> Option<u32> {
        let state = self.lock();
        let rates = state.rates.get(&monitor)?;
        let mut max = 0;
        for rate in rates {
            match rate.load(Ordering::Relaxed) {
                0 => return None,
                r => max = max.max(r),
            }
        }
        (max > 0).then_some(max)
    }

    fn wants(&self, monitor: u32, native: Profile, regions: bool) -> bool {
        let size = (native.width, native.height);
        self.lock().watchers.get(&monitor).is_some_and(|watchers| {
            watchers
                .iter()
                .any(|w| w.regions == regions && w.ask.profile(size) == native)
        })
    }

    pub(crate) fn is_watched(&self, monitor: u32) -> bool {
        self.lock().watchers.contains_key(&monitor)
    }

    /// A mark of who watches what now, for [`Demand::moved_since`].
    pub(crate) fn mark(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a viewer came, left or switched monitors since `mark` was
    /// taken, or the capture thread is to stop: a wait on the screen
    /// should end and look at the demand again.
    pub(crate) fn moved_since(&self, mark: u64) -> bool {
        self.lock().stopping || self.generation.load(Ordering::Acquire) != mark
    }

    /// Ends every wait, now and later: the capture thread is to stop.
    pub(crate) fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// Blocks until some monitor is watched or `deadline` passes, and
    /// returns the watched monitors in id order (none when the deadline
    /// passed); `None` once stopping.
    pub(crate) fn wait_for_watchers(&self, deadline: Instant) -> Option<Vec<u32>> {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return None;
            }
            let now = Instant::now();
            if !state.watchers.is_empty() || now >= deadline {
                let mut ids: Vec<u32> = state.watchers.keys().copied().collect();
                ids.sort_unstable();
                return Some(ids);
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Sleeps until `deadline`; returns early (false) when stopping.
    pub(crate) fn sleep_until(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
