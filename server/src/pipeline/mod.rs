//! The capture pipeline: a capture thread and an encode thread that turn
//! the screen into encoded frames in the [`FrameHub`].
//!
//! ```text
//! capture thread ──(image, one per monitor at most: Handoff)──▶ encode thread
//!   paced to fps, only watched monitors                           │ JPEG once
//!   ▲                                                             ▼
//!   └──── Demand: who watches what ◀──── FrameHub: watch slot per monitor
//! ```
//!
//! Capture and encoding run on two threads, so on a machine with two cores
//! frame N+1 is captured while frame N is encoded; the capture thread waits
//! rather than run more than one frame ahead (the `handoff` module).
//!
//! The capture thread captures only monitors somebody is watching and
//! sleeps while nobody is. An image identical to the last one sent is
//! neither encoded nor sent, and a source that knows its screen has not
//! changed (X11 damage reports) is not even captured: a still screen costs a
//! few microseconds per tick. Where such a source says the screen changed,
//! only that part is read (into a recycled image, the `last_images`
//! module), compared, and diffed tile by tile: a typed key costs about as
//! much as its glyph, not as the monitor.
//!
//! When the display goes away (the X server stops, the user logs out), the
//! capture thread tells every viewer through the hub, gives its capturer
//! up and makes a new one, with backoff, until the display is back
//! (the `keeper` module; the rules are in [`crate::availability`]).

mod capture_thread;
mod encode_thread;
mod handoff;
mod keeper;
mod last_images;
mod pace;

use std::thread::JoinHandle;
use std::time::Duration;

use crate::capture::{CaptureError, CapturerFactory};
use crate::encode::Subsampling;
use crate::hub::FrameHub;
use handoff::Handoff;
use keeper::Keeper;

/// Settings of the capture pipeline.
#[derive(Debug, Clone, Copy)]
pub struct CaptureSettings {
    /// Frames per second to aim for.
    pub fps: u32,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// JPEG chroma subsampling.
    pub subsampling: Subsampling,
}

/// The running capture pipeline (the capture thread, which runs the encode
/// thread in its scope).
#[derive(Debug)]
pub struct CaptureThread {
    handle: Option<JoinHandle<()>>,
    hub: FrameHub,
}

impl CaptureThread {
    /// Starts the capture thread: builds the capturer there, and returns once
    /// it knows the monitors (or failed to find any), with the hub that
    /// viewers subscribe to.
    pub fn spawn(
        mut factory: CapturerFactory,
        settings: CaptureSettings,
    ) -> Result<(Self, FrameHub), CaptureError> {
        // One message each way: the monitor list (or the reason there is
        // none), then the hub made for those monitors.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (hub_tx, hub_rx) = std::sync::mpsc::sync_channel::<FrameHub>(1);
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
                let offers_all = capturer.offers_all_monitors();
                let _ = ready_tx.send(Ok((capturer.monitors().to_vec(), offers_all)));
                let Ok(hub) = hub_rx.recv() else { return };
                let handoff = Handoff::default();
                // Capture and encode overlap on two threads: while frame N
                // is encoded, frame N+1 is captured.
                std::thread::scope(|scope| {
                    let encoder = std::thread::Builder::new()
                        .name("lookout-encode".into())
                        .spawn_scoped(scope, || encode_thread::run(settings, &handoff, &hub));
                    if encoder.is_err() {
                        tracing::error!("cannot start the encode thread");
                        return;
                    }
                    let grace = Duration::from_secs(1) / settings.fps.max(1);
                    let keeper = Keeper::new(factory, capturer, grace);
                    capture_thread::run(keeper, settings, &hub, &handoff);
                    handoff.stop();
                });
            })
            .map_err(CaptureError::Thread)?;
        let (monitors, offers_all) = match ready_rx.recv() {
            Ok(Ok(found)) => found,
            Ok(Err(err)) => {
                let _ = handle.join();
                return Err(err);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(CaptureError::ThreadDied);
            }
        };
        let hub = FrameHub::new(monitors).offering_all_monitors(offers_all);
        let _ = hub_tx.send(hub.clone());
        Ok((
            Self {
                handle: Some(handle),
                hub: hub.clone(),
            },
            hub,
        ))
    }

    /// Stops the threads and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.hub.demand().stop();
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
