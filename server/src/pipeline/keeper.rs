//! The capture thread's hold on its source: the capturer while it works, a
//! new one made by the factory when the display went away and came back,
//! and the [`Health`] rules that say when viewers hear of it.
//!
//! Dropping a capturer frees everything it holds on the display's side and
//! ours (its connection, shared memory, damage tracking); a new one starts
//! them all afresh and reads the monitors again, so nothing of the old
//! display outlives it.

use std::time::{Duration, Instant};

use crate::availability::{Availability, Change, Health};
use crate::capture::{CaptureError, Capturer, CapturerFactory};
use crate::hub::FrameHub;

/// The source, kept working.
pub(super) struct Keeper {
    factory: CapturerFactory,
    capturer: Option<Box<dyn Capturer>>,
    health: Health,
}

impl Keeper {
    /// Keeps `capturer` (just made by `factory`); a failure shorter than
    /// `grace` (one frame interval) goes unannounced.
    pub(super) fn new(
        factory: CapturerFactory,
        capturer: Box<dyn Capturer>,
        grace: Duration,
    ) -> Self {
        Self {
            factory,
            capturer: Some(capturer),
            health: Health::new(grace),
        }
    }

    /// Whether capture is failing now.
    pub(super) fn failing(&self) -> bool {
        self.health.failing()
    }

    /// When the source should next be tried while it fails.
    pub(super) fn next_try(&self) -> Option<Instant> {
        self.health.next_try()
    }

    /// The capturer, or a new one when the old one was given up and a try
    /// is due; `None` while the display is away. `fresh` is set when the
    /// capturer is new: images from the old one say nothing about it.
    pub(super) fn capturer(
        &mut self,
        now: Instant,
        hub: &FrameHub,
        fresh: &mut bool,
    ) -> Option<&mut (dyn Capturer + 'static)> {
        if self.capturer.is_none() && self.health.try_due(now) {
            match (self.factory)() {
                Ok(capturer) => {
                    tracing::debug!("made a new capturer");
                    let monitors = capturer.monitors().to_vec();
                    if *hub.monitors() != *monitors {
                        hub.set_monitors(monitors);
                    }
                    self.capturer = Some(capturer);
                    *fresh = true;
                }
                Err(err) => self.failed(now, &err, hub),
            }
        }
        self.capturer.as_deref_mut()
    }

    /// The capturer there is, if any (no new one is tried).
    pub(super) fn current(&mut self) -> Option<&mut (dyn Capturer + 'static)> {
        self.capturer.as_deref_mut()
    }

    /// Capture (or reading the monitors) worked at `now`: ends an outage,
    /// and tells viewers when they were told of it.
    pub(super) fn succeeded(&mut self, now: Instant, hub: &FrameHub) {
        if let Some(Change::Back(lasted)) = self.health.succeeded(now) {
            hub.set_availability(Availability::Live);
            tracing::info!(
                outage = ?round(lasted),
                "screen capture works again; viewers told"
            );
        }
    }

    /// Capture failed at `now` with `err`: counts towards an outage, tells
    /// viewers once it lasts, and gives the capturer up when its display
    /// is gone (or it has been stuck for long), so a new one is made.
    pub(super) fn failed(&mut self, now: Instant, err: &CaptureError, hub: &FrameHub) {
        let disconnected = err.is_disconnected();
        let first = !self.health.failing();
        if let Some(Change::Lost(availability)) = self.health.failed(now, &reason(err)) {
            if let Availability::Unavailable { reason, .. } = &availability {
                tracing::warn!(
                    error = %err,
                    "screen capture stopped: {reason}; viewers told, trying again until it works"
                );
            }
            hub.set_availability(availability);
        } else if first {
            tracing::debug!(error = %err, "capture failed; trying again");
        }
        if self.capturer.is_some() && self.health.replace(now, disconnected) {
            tracing::debug!(disconnected, "giving the capturer up for a new one");
            self.capturer = None;
        }
        self.health.try_failed(now);
    }
}

/// What a viewer is told when capture fails with `err`: what a person can
/// act on, not an X error code.
fn reason(err: &CaptureError) -> String {
    if err.is_disconnected() {
        "the display went away (the X server stopped, or the user logged out)".to_owned()
    } else {
        format!("screen capture keeps failing ({err})")
    }
}

/// `lasted` to a tenth of a second, for the log.
fn round(lasted: Duration) -> Duration {
    Duration::from_millis(u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX) / 100 * 100)
}
