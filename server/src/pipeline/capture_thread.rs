//! The capture thread's loop: paced to a deadline, it captures the watched
//! monitors and hands each new image to the encode thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::CaptureSettings;
use super::handoff::{Handoff, Job};
use crate::capture::{CapturedImage, Capturer};
use crate::hub::FrameHub;

/// How long a failing source waits before it is tried again: slower than
/// any frame rate, so a broken capture does not spin or flood the log.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// How long the thread sleeps while nobody watches before it looks at the
/// monitors again, so a `welcome` lists them as they are.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// Runs until the hub's demand says stop.
pub(super) fn run(
    mut capturer: Box<dyn Capturer>,
    settings: CaptureSettings,
    hub: &FrameHub,
    handoff: &Handoff,
) {
    let demand = hub.demand();
    let period = Duration::from_secs(1) / settings.fps.max(1);
    // The last image handed to the encoder per monitor: a capture identical
    // to it is neither encoded nor sent (a still screen costs a capture and
    // a compare, or nothing when the source reports damage).
    let mut previous: HashMap<u32, Arc<CapturedImage>> = HashMap::new();
    let mut failing = false;
    loop {
        let Some(watched) = demand.wait_for_watchers(Instant::now() + IDLE_CHECK) else {
            return;
        };
        let tick = Instant::now();
        if follow_monitors(capturer.as_mut(), hub, false) {
            previous.clear();
        }
        for &id in &watched {
            // A monitor that is gone is not captured: its viewers are being
            // moved to another one.
            if !capturer.monitors().iter().any(|m| m.id == id) {
                continue;
            }
            let known = previous.contains_key(&id) && hub.has_frame(id);
            // A still screen the source can vouch for costs no capture.
            if known && capturer.unchanged(id) {
                continue;
            }
            // One frame ahead of the encoder at most.
            if !handoff.wait_taken(id) {
                return;
            }
            let layout = hub.layout();
            let captured_at_us = unix_micros();
            let image = match capturer.capture(id) {
                Ok(image) => image,
                Err(err) => {
                    // The monitors changed under the capture (a smaller
                    // screen, say): not a failure, the next tick follows.
                    if follow_monitors(capturer.as_mut(), hub, true) {
                        previous.clear();
                        continue;
                    }
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
            if known && previous.get(&id).is_some_and(|p| **p == image) {
                continue;
            }
            let image = Arc::new(image);
            previous.insert(id, Arc::clone(&image));
            handoff.put(Job {
                monitor: id,
                image,
                captured_at_us,
                layout,
            });
        }
        for id in hub.forget_unwatched() {
            previous.remove(&id);
        }
        // Pace to a deadline; a failing source retries slower.
        let wait = if failing { RETRY_AFTER_FAILURE } else { period };
        if !demand.sleep_until(tick + wait) {
            return;
        }
    }
}

/// Re-reads the source's monitors when due; when they changed, the hub
/// gets the new list (and tells every session). Returns whether they did.
fn follow_monitors(capturer: &mut dyn Capturer, hub: &FrameHub, force: bool) -> bool {
    match capturer.refresh_monitors(force) {
        Ok(Some(monitors)) => {
            hub.set_monitors(monitors);
            true
        }
        Ok(None) => false,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the monitors");
            false
        }
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
