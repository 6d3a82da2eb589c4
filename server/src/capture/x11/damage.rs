//! The X server's damage reports (DAMAGE, raw rectangles: no state in the
//! server to repair), to know which monitors changed since their last
//! capture, so that a still screen costs no capture at all.

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::Event;
use x11rb::protocol::damage;
use x11rb::protocol::xproto;
use x11rb::rust_connection::RustConnection;

use super::monitors::{Monitors, Rect};

/// Which monitors changed since their last capture, by id.
#[derive(Debug)]
pub(super) struct DamageTracker {
    /// Per monitor (by id): changed since its last capture.
    dirty: Vec<bool>,
}

impl DamageTracker {
    /// Subscribes to damage reports on the root window; `None` (and a debug
    /// line saying why) when the server cannot, and a still screen is then
    /// found by comparing images instead.
    pub(super) fn subscribe(
        conn: &RustConnection,
        root: xproto::Window,
        monitors: usize,
    ) -> Option<Self> {
        let subscribed = (|| -> Result<bool, ReplyOrIdError> {
            if conn
                .extension_information(damage::X11_EXTENSION_NAME)?
                .is_none()
            {
                return Ok(false);
            }
            damage::query_version(conn, 1, 1)?.reply()?;
            let id = conn.generate_id()?;
            damage::create(conn, id, root, damage::ReportLevel::RAW_RECTANGLES)?.check()?;
            Ok(true)
        })();
        match subscribed {
            Ok(true) => Some(Self {
                // Never captured counts as changed.
                dirty: vec![true; monitors],
            }),
            Ok(false) => {
                tracing::debug!("no DAMAGE extension: a still screen is found by comparing");
                None
            }
            Err(err) => {
                tracing::debug!(error = %err, "DAMAGE unavailable");
                None
            }
        }
    }

    /// Reads the damage reports that arrived, marking the monitors they
    /// touch. Any other event is ignored; a broken connection marks
    /// everything changed (the next capture will report the error).
    pub(super) fn drain(&mut self, conn: &RustConnection, monitors: &Monitors) {
        loop {
            match conn.poll_for_event() {
                Ok(Some(Event::DamageNotify(notify))) => {
                    let area = Rect {
                        x: notify.area.x,
                        y: notify.area.y,
                        width: notify.area.width,
                        height: notify.area.height,
                    };
                    for (dirty, rect) in self.dirty.iter_mut().zip(monitors.rects()) {
                        if rect.intersects(area) {
                            *dirty = true;
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    self.dirty.fill(true);
                    return;
                }
            }
        }
    }

    /// Monitor `id` is about to be captured: damage from now on means
    /// another capture. Call after [`DamageTracker::drain`].
    pub(super) fn mark_captured(&mut self, id: u32) {
        if let Some(dirty) = self.dirty.get_mut(id as usize) {
            *dirty = false;
        }
    }

    /// Whether monitor `id` is known unchanged since its last capture.
    /// Call after [`DamageTracker::drain`].
    pub(super) fn unchanged(&self, id: u32) -> bool {
        self.dirty.get(id as usize).is_some_and(|dirty| !dirty)
    }
}
