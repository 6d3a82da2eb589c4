//! The X server's damage reports (DAMAGE, raw rectangles: no state in the
//! server to repair), to know which monitors changed since their last
//! capture, so that a still screen costs no capture at all.

use std::collections::HashMap;

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::damage;
use x11rb::protocol::xproto;
use x11rb::rust_connection::RustConnection;

use super::monitors::{Monitors, Rect};

/// Which monitors changed since their last capture, by id.
#[derive(Debug)]
pub(super) struct DamageTracker {
    /// Per monitor id: changed since its last capture. A monitor not in
    /// the map was never captured, which counts as changed.
    dirty: HashMap<u32, bool>,
}

impl DamageTracker {
    /// Subscribes to damage reports on the root window; `None` (and a debug
    /// line saying why) when the server cannot, and a still screen is then
    /// found by comparing images instead.
    pub(super) fn subscribe(conn: &RustConnection, root: xproto::Window) -> Option<Self> {
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
                dirty: HashMap::new(),
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

    /// Marks the monitors a damage report touches.
    pub(super) fn note(&mut self, notify: &damage::NotifyEvent, monitors: &Monitors) {
        let area = Rect {
            x: notify.area.x,
            y: notify.area.y,
            width: notify.area.width,
            height: notify.area.height,
        };
        for (id, rect) in monitors.rects() {
            if rect.intersects(area) {
                self.dirty.insert(id, true);
            }
        }
    }

    /// Counts every monitor as changed: the connection broke, or the
    /// monitors moved.
    pub(super) fn forget(&mut self) {
        self.dirty.clear();
    }

    /// Monitor `id` is about to be captured: damage from now on means
    /// another capture. Call after the pending events were read.
    pub(super) fn mark_captured(&mut self, id: u32) {
        self.dirty.insert(id, false);
    }

    /// Whether monitor `id` is known unchanged since its last capture.
    /// Call after the pending events were read.
    pub(super) fn unchanged(&self, id: u32) -> bool {
        self.dirty.get(&id).is_some_and(|dirty| !dirty)
    }
}
