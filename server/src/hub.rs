//! The frame hub: what viewers subscribe to. One `tokio::sync::watch` slot
//! per monitor holds the newest encoded frame, and a count of who watches
//! which monitor tells the capture pipeline (`pipeline`) what to
//! capture.
//!
//! ```text
//!   encode thread ──publish──▶ slot per monitor (newest frame only)
//!                                 │      │      │
//!                    subscription per watching viewer (its writer task)
//!
//!   subscribe / drop ──▶ Demand ──▶ wakes and steers the capture thread
//! ```
//!
//! A viewer that is slow simply sees fewer frames, it never makes a queue
//! grow. A viewer that starts watching a monitor somebody already watches
//! gets the cached frame at once; a monitor nobody watches keeps no frame,
//! so a later viewer never gets a stale picture.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use lookout_protocol::{Limits, MonitorInfo, ProtocolError, ServerMessage, Tag, frame_header};
use tokio::sync::watch;

/// One captured, encoded frame, shared by every viewer that sends it.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Per-monitor frame counter.
    pub seq: u64,
    /// JPEG width.
    pub width: u32,
    /// JPEG height.
    pub height: u32,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_at_us: u64,
    /// The `frame` control message and the `HT` header, encoded once.
    pub head: Bytes,
    /// The JPEG itself.
    pub jpeg: Bytes,
}

impl EncodedFrame {
    /// A frame with its wire bytes ready: the `frame` message and the image
    /// header are encoded here, once, not once per viewer.
    pub fn new(
        seq: u64,
        (width, height): (u32, u32),
        captured_at_us: u64,
        jpeg: Bytes,
    ) -> Result<Self, ProtocolError> {
        let meta = ServerMessage::Frame {
            seq,
            width,
            height,
            captured_at_us,
        };
        let mut head = BytesMut::with_capacity(128);
        meta.encode(&mut head)?;
        head.extend_from_slice(&frame_header(Tag::Image, jpeg.len(), &Limits::viewer())?);
        Ok(Self {
            seq,
            width,
            height,
            captured_at_us,
            head: head.freeze(),
            jpeg,
        })
    }
}

/// The newest frame of one monitor, or `None` while nobody watches it.
pub type FrameSlot = watch::Receiver<Option<Arc<EncodedFrame>>>;

/// Which monitors are being watched, and by how many viewers; the capture
/// thread sleeps on it while nobody watches anything.
#[derive(Debug, Default)]
pub(crate) struct Demand {
    state: Mutex<DemandState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct DemandState {
    watchers: HashMap<u32, usize>,
    stopping: bool,
}

impl Demand {
    fn lock(&self) -> MutexGuard<'_, DemandState> {
        // The state is a counter map: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, monitor: u32) {
        *self.lock().watchers.entry(monitor).or_default() += 1;
        self.wake.notify_all();
    }

    fn remove(&self, monitor: u32) {
        let mut state = self.lock();
        if let Some(n) = state.watchers.get_mut(&monitor) {
            *n -= 1;
            if *n == 0 {
                state.watchers.remove(&monitor);
            }
        }
    }

    fn is_watched(&self, monitor: u32) -> bool {
        self.lock().watchers.contains_key(&monitor)
    }

    /// Ends every wait, now and later: the capture thread is to stop.
    pub(crate) fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// Blocks until some monitor is watched, and returns those, in id
    /// order; `None` once stopping.
    pub(crate) fn wait_for_watchers(&self) -> Option<Vec<u32>> {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return None;
            }
            if !state.watchers.is_empty() {
                let mut ids: Vec<u32> = state.watchers.keys().copied().collect();
                ids.sort_unstable();
                return Some(ids);
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
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

/// Hands out frame slots to viewers and counts who is watching what.
/// Cheap to clone: every clone is the same hub.
#[derive(Debug, Clone)]
pub struct FrameHub {
    monitors: Arc<[MonitorInfo]>,
    slots: Arc<HashMap<u32, watch::Sender<Option<Arc<EncodedFrame>>>>>,
    demand: Arc<Demand>,
}

/// A viewer's subscription to one monitor; capture of that monitor goes on
/// while at least one subscription is alive.
#[derive(Debug)]
pub struct Subscription {
    /// The newest frame of the monitor.
    pub frames: FrameSlot,
    monitor: u32,
    demand: Arc<Demand>,
}

impl Subscription {
    /// The monitor this subscription watches.
    pub fn monitor(&self) -> u32 {
        self.monitor
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.demand.remove(self.monitor);
    }
}

impl FrameHub {
    /// A hub for these monitors, with no frame yet and nobody watching.
    pub(crate) fn new(monitors: Vec<MonitorInfo>) -> Self {
        let slots = monitors
            .iter()
            .map(|m| (m.id, watch::Sender::new(None)))
            .collect();
        Self {
            monitors: monitors.into(),
            slots: Arc::new(slots),
            demand: Arc::default(),
        }
    }

    /// The monitors the capture source offers.
    pub fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    /// The size of the newest frame of `monitor`, if one is cached.
    pub fn frame_size(&self, monitor: u32) -> Option<(u32, u32)> {
        let slot = self.slots.get(&monitor)?;
        let frame = slot.borrow();
        frame.as_ref().map(|f| (f.width, f.height))
    }

    /// Starts watching `monitor`. The slot already holds the newest frame if
    /// someone else is watching it, so a new viewer gets a frame at once.
    pub fn subscribe(&self, monitor: u32) -> Option<Subscription> {
        let frames = self.slots.get(&monitor)?.subscribe();
        self.demand.add(monitor);
        Some(Subscription {
            frames,
            monitor,
            demand: Arc::clone(&self.demand),
        })
    }

    /// Who watches what: what the capture thread waits on.
    pub(crate) fn demand(&self) -> &Demand {
        &self.demand
    }

    /// Whether `monitor`'s slot holds a frame.
    pub(crate) fn has_frame(&self, monitor: u32) -> bool {
        self.slots
            .get(&monitor)
            .is_some_and(|slot| slot.borrow().is_some())
    }

    /// Makes `frame` the newest of `monitor`, unless nobody watches it any
    /// more: then it is dropped, so that no stale picture waits for a later
    /// viewer.
    pub(crate) fn publish(&self, monitor: u32, frame: EncodedFrame) {
        if let Some(slot) = self.slots.get(&monitor)
            && self.demand.is_watched(monitor)
        {
            slot.send_replace(Some(Arc::new(frame)));
        }
    }

    /// Drops the cached frame of every monitor nobody watches any more, so
    /// that a viewer who starts later never gets a stale picture. Returns
    /// the monitors whose frame was dropped.
    pub(crate) fn forget_unwatched(&self) -> Vec<u32> {
        let mut forgotten = Vec::new();
        for (id, slot) in self.slots.iter() {
            if !self.demand.is_watched(*id) && slot.borrow().is_some() {
                slot.send_replace(None);
                forgotten.push(*id);
            }
        }
        forgotten
    }
}
