//! The capture thread and the frame hub that fans its output out to viewers.
//!
//! ```text
//! capture thread --(image, one per monitor at most)--> encode thread
//!                                                        | JPEG once
//!                                          watch slot per monitor
//!                                              |  |  |
//!                               one writer task per monitoring viewer
//! ```
//!
//! Capture and encoding run on two threads, so on a machine with two cores
//! frame N+1 is captured while frame N is encoded; the capture thread waits
//! rather than run more than one frame ahead.
//!
//! Each monitor has a `tokio::sync::watch` slot holding the newest encoded
//! frame: a viewer that is slow simply sees fewer frames, it never makes a
//! queue grow. The thread captures only monitors somebody is watching and
//! sleeps on a condition variable while nobody is. An image identical to the
//! last one sent is neither encoded nor sent, and a source that knows its
//! screen has not changed (X11 damage reports) is not even captured: a still
//! screen costs a few microseconds per tick, and a viewer that starts
//! watching gets the cached frame at once.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use lookout_protocol::{Limits, MonitorInfo, ServerMessage, Tag, frame_header};
use tokio::sync::watch;

use crate::capture::{CaptureError, CapturedImage, Capturer, CapturerFactory};
use crate::encode::{FrameEncoder, Subsampling};

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

/// The newest frame of one monitor, or `None` while nobody watches it.
pub type FrameSlot = watch::Receiver<Option<Arc<EncodedFrame>>>;

/// Settings of the capture thread.
#[derive(Debug, Clone, Copy)]
pub struct CaptureSettings {
    /// Frames per second to aim for.
    pub fps: u32,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// JPEG chroma subsampling.
    pub subsampling: Subsampling,
}

/// Which monitors are being watched, and by how many viewers.
#[derive(Debug, Default)]
struct Demand {
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

    fn watched(&self) -> Vec<u32> {
        self.lock().watchers.keys().copied().collect()
    }

    fn is_watched(&self, monitor: u32) -> bool {
        self.lock().watchers.contains_key(&monitor)
    }

    fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// Blocks until some monitor is watched; `None` once stopping.
    fn wait_for_watchers(&self) -> Option<Vec<u32>> {
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
    fn sleep_until(&self, deadline: Instant) -> bool {
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
}

/// The running capture thread.
#[derive(Debug)]
pub struct CaptureThread {
    handle: Option<JoinHandle<()>>,
    demand: Arc<Demand>,
}

impl CaptureThread {
    /// Starts the capture thread: builds the capturer there, and returns once
    /// it knows the monitors (or failed to find any).
    pub fn spawn(
        factory: CapturerFactory,
        settings: CaptureSettings,
    ) -> Result<(Self, FrameHub), CaptureError> {
        // One message: the monitor list or the reason there is none.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let demand = Arc::new(Demand::default());
        let (slots_tx, slots_rx) = std::sync::mpsc::sync_channel::<Arc<Slots>>(1);
        let thread_demand = Arc::clone(&demand);
        let handle = std::thread::Builder::new()
            .name("lookout-capture".into())
            .spawn(move || {
                let capturer = match factory() {
                    Ok(capturer) => capturer,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(capturer.monitors().to_vec()));
                let Ok(slots) = slots_rx.recv() else { return };
                let handoff = Handoff::default();
                // Capture and encode overlap on two threads: while frame N
                // is encoded, frame N+1 is captured.
                std::thread::scope(|scope| {
                    let encoder = std::thread::Builder::new()
                        .name("lookout-encode".into())
                        .spawn_scoped(scope, || {
                            encode_loop(settings, &handoff, &thread_demand, &slots)
                        });
                    if encoder.is_err() {
                        tracing::error!("cannot start the encode thread");
                        return;
                    }
                    capture_loop(capturer, settings, &thread_demand, &slots, &handoff);
                    handoff.stop();
                });
            })
            .map_err(CaptureError::Thread)?;
        let monitors = match ready_rx.recv() {
            Ok(Ok(monitors)) => monitors,
            Ok(Err(err)) => {
                let _ = handle.join();
                return Err(err);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(CaptureError::ThreadDied);
            }
        };
        let slots: HashMap<_, _> = monitors
            .iter()
            .map(|m| (m.id, watch::Sender::new(None)))
            .collect();
        let slots = Arc::new(slots);
        let _ = slots_tx.send(Arc::clone(&slots));
        let hub = FrameHub {
            monitors: monitors.into(),
            slots,
            demand: Arc::clone(&demand),
        };
        Ok((
            Self {
                handle: Some(handle),
                demand,
            },
            hub,
        ))
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.demand.stop();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for CaptureThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type Slots = HashMap<u32, watch::Sender<Option<Arc<EncodedFrame>>>>;

/// A captured image on its way to the encoder.
#[derive(Debug)]
struct Job {
    monitor: u32,
    image: Arc<CapturedImage>,
    captured_at_us: u64,
}

/// Captured images waiting for the encode thread: at most one per monitor,
/// so the capture thread runs at most one frame ahead of the encoder and
/// memory stays bounded whatever the speeds.
#[derive(Debug, Default)]
struct Handoff {
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
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, job: Job) {
        let mut state = self.lock();
        state.jobs.retain(|j| j.monitor != job.monitor);
        state.jobs.push(job);
        self.changed.notify_all();
    }

    /// The oldest job; blocks while there is none. `None` once stopping.
    fn take(&self) -> Option<Job> {
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
    fn wait_taken(&self, monitor: u32) -> bool {
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

    fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }
}

fn capture_loop(
    mut capturer: Box<dyn Capturer>,
    settings: CaptureSettings,
    demand: &Demand,
    slots: &Slots,
    handoff: &Handoff,
) {
    let period = Duration::from_secs(1) / settings.fps.max(1);
    // The last image handed to the encoder per monitor: a capture identical
    // to it is neither encoded nor sent (a still screen costs a capture and
    // a compare, or nothing when the source reports damage).
    let mut previous: HashMap<u32, Arc<CapturedImage>> = HashMap::new();
    let mut failing = false;
    loop {
        let Some(watched) = demand.wait_for_watchers() else {
            return;
        };
        let tick = Instant::now();
        for id in &watched {
            let Some(slot) = slots.get(id) else { continue };
            let known = previous.contains_key(id) && slot.borrow().is_some();
            // A still screen the source can vouch for costs no capture.
            if known && capturer.unchanged(*id) {
                continue;
            }
            // One frame ahead of the encoder at most.
            if !handoff.wait_taken(*id) {
                return;
            }
            let captured_at_us = unix_micros();
            let image = match capturer.capture(*id) {
                Ok(image) => image,
                Err(err) => {
                    if !failing {
                        tracing::warn!(monitor = id, error = %err, "capture failed; retrying");
                        failing = true;
                    }
                    continue;
                }
            };
            if failing {
                tracing::info!(monitor = id, "capture recovered");
                failing = false;
            }
            if known && previous.get(id).is_some_and(|p| **p == image) {
                continue;
            }
            let image = Arc::new(image);
            previous.insert(*id, Arc::clone(&image));
            handoff.put(Job {
                monitor: *id,
                image,
                captured_at_us,
            });
        }
        // Drop the cached frame of every monitor nobody watches any more, so
        // that a viewer who starts later never gets a stale picture.
        let still_watched = demand.watched();
        for (id, slot) in slots {
            if !still_watched.contains(id) && slot.borrow().is_some() {
                slot.send_replace(None);
                previous.remove(id);
            }
        }
        // Pace to a deadline; a failing source retries slower.
        let wait = if failing {
            Duration::from_millis(500)
        } else {
            period
        };
        if !demand.sleep_until(tick + wait) {
            return;
        }
    }
}

/// The encode thread: JPEG-encodes each handed-over image once and
/// publishes it to its monitor's slot.
fn encode_loop(settings: CaptureSettings, handoff: &Handoff, demand: &Demand, slots: &Slots) {
    let mut encoder = FrameEncoder::with_subsampling(settings.quality, settings.subsampling);
    let mut seqs: HashMap<u32, u64> = HashMap::new();
    while let Some(job) = handoff.take() {
        let Some(slot) = slots.get(&job.monitor) else {
            continue;
        };
        let seq = seqs.entry(job.monitor).or_insert(0);
        match encode_frame(&mut encoder, &job.image, *seq + 1, job.captured_at_us) {
            Ok(frame) => {
                *seq += 1;
                // Nobody watches any more: no stale picture for a later viewer.
                if demand.is_watched(job.monitor) {
                    slot.send_replace(Some(Arc::new(frame)));
                }
            }
            Err(err) => tracing::warn!(monitor = job.monitor, error = %err, "frame dropped"),
        }
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Encodes one image, with its header bytes ready to send.
fn encode_frame(
    encoder: &mut FrameEncoder,
    image: &CapturedImage,
    seq: u64,
    captured_at_us: u64,
) -> Result<EncodedFrame, ProduceError> {
    let jpeg = encoder.encode(image)?;
    let meta = ServerMessage::Frame {
        seq,
        width: image.width,
        height: image.height,
        captured_at_us,
    };
    let mut head = BytesMut::with_capacity(128);
    meta.encode(&mut head)?;
    head.extend_from_slice(&frame_header(Tag::Image, jpeg.len(), &Limits::viewer())?);
    Ok(EncodedFrame {
        seq,
        width: image.width,
        height: image.height,
        captured_at_us,
        head: head.freeze(),
        jpeg,
    })
}

#[derive(Debug, thiserror::Error)]
enum ProduceError {
    #[error(transparent)]
    Encode(#[from] crate::encode::EncodeError),
    #[error("frame cannot be sent: {0}")]
    Frame(#[from] lookout_protocol::ProtocolError),
}
