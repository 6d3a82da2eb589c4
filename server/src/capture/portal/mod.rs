//! The screen of GNOME, KDE and any desktop with a ScreenCast portal:
//! the portal session ([`crate::portal`]) shares the monitors as PipeWire
//! streams, and [`stream`] keeps the newest frame of each.
//!
//! Event-driven like the wlroots capturer: PipeWire sends a frame when the
//! screen changed, so [`Capturer::unchanged`] only looks whether one
//! arrived (a still screen costs a mutex lock per tick), and the
//! producer's damage is the change hint.

mod buffer;
mod frame;
pub mod params;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_protocol::MonitorInfo;

pub use stream::Remote;

use super::{CaptureError, Captured, CapturedImage, Capturer};
use crate::portal::{Portal, PortalError, PortalStream};

/// How long the first frame of a stream may take: the producer sends one
/// at once when the stream starts, so this is only reached when it is
/// stuck.
const FIRST_FRAME: Duration = Duration::from_secs(5);

/// Why portal capture failed.
#[derive(Debug, thiserror::Error)]
pub enum PortalCaptureError {
    /// The portal session could not be had.
    #[error(transparent)]
    Portal(#[from] PortalError),
    /// PipeWire could not be reached, or a stream failed or ended.
    #[error("PipeWire: {0}")]
    PipeWire(String),
    /// A stream sent no frame in time.
    #[error("the PipeWire stream of monitor {0} sent no frame within {FIRST_FRAME:?}")]
    NoFrame(u32),
}

/// Captures the monitors a portal session shares.
#[derive(Debug)]
pub struct PortalCapturer {
    // The PipeWire thread, on the portal's remote: its streams end when
    // it is dropped.
    pipewire: stream::PipeWireThread,
    streams: Vec<PortalStream>,
    monitors: Vec<MonitorInfo>,
    portal: Option<Arc<Portal>>,
}

impl PortalCapturer {
    /// Opens (or joins) this process's portal session and its streams.
    /// Blocking: the consent dialog may show.
    pub fn from_portal() -> Result<Self, CaptureError> {
        let portal = Portal::shared().map_err(PortalCaptureError::from)?;
        let fd = portal
            .pipewire()
            .map_err(|e| PortalCaptureError::PipeWire(e.to_string()))?;
        let streams = portal.streams().to_vec();
        Self::connect(Remote::Fd(fd), streams, Some(portal))
    }

    /// Captures the PipeWire nodes `streams` from `remote`, without a
    /// portal: for tests that make their own video source, and tools.
    pub fn from_pipewire(remote: Remote, streams: Vec<PortalStream>) -> Result<Self, CaptureError> {
        Self::connect(remote, streams, None)
    }

    fn connect(
        remote: Remote,
        streams: Vec<PortalStream>,
        portal: Option<Arc<Portal>>,
    ) -> Result<Self, CaptureError> {
        if streams.is_empty() {
            return Err(CaptureError::NoMonitors);
        }
        let nodes: Vec<u32> = streams.iter().map(|s| s.node).collect();
        let pipewire = stream::start(remote, &nodes).map_err(PortalCaptureError::PipeWire)?;
        let mut capturer = Self {
            pipewire,
            streams,
            monitors: Vec::new(),
            portal,
        };
        // Sizes come from the frames: the portal's are in logical pixels
        // (scaled outputs) or missing.
        for id in 0..capturer.streams.len() as u32 {
            capturer.wait_first(id)?;
        }
        capturer.monitors = capturer.list();
        Ok(capturer)
    }

    fn slot(&self, id: u32) -> Result<&stream::Slot, CaptureError> {
        self.pipewire
            .slots
            .get(id as usize)
            .map(|s| &**s)
            .ok_or(CaptureError::NoSuchMonitor(id))
    }

    /// The session was closed from the desktop: what the streams still
    /// hold is no longer the screen.
    fn session_ended(&self) -> Result<(), CaptureError> {
        match &self.portal {
            Some(portal) if portal.is_ended() => {
                Err(PortalCaptureError::Portal(PortalError::Ended).into())
            }
            _ => Ok(()),
        }
    }

    /// Waits (bounded) until monitor `id` has a frame.
    fn wait_first(&self, id: u32) -> Result<(), CaptureError> {
        self.session_ended()?;
        let slot = self.slot(id)?;
        let deadline = Instant::now() + FIRST_FRAME;
        let mut latest = slot.latest.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(why) = &latest.ended {
                return Err(PortalCaptureError::PipeWire(why.clone()).into());
            }
            if latest.image.is_some() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PortalCaptureError::NoFrame(id).into());
            }
            latest = slot
                .arrived
                .wait_timeout(latest, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The monitors, placed ([`crate::portal::place`]: sized by their
    /// pictures, none overlapping), and told to the portal session so
    /// that input goes to the stream of the monitor under the point.
    fn list(&self) -> Vec<MonitorInfo> {
        let sizes: Vec<_> = self
            .pipewire
            .slots
            .iter()
            .map(|slot| {
                let latest = slot.latest.lock().unwrap_or_else(|e| e.into_inner());
                latest.image.as_ref().map(|i| (i.width, i.height))
            })
            .collect();
        let placed = crate::portal::place(&self.streams, &sizes);
        if let Some(portal) = &self.portal {
            portal.set_placed(placed.clone());
        }
        // Monitor ids are stream indexes: one that has no size yet (no
        // picture: cannot happen after the first frames) is 0x0.
        self.streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let at = placed.iter().find(|p| p.node == s.node);
                let (x, y) = at.map_or((0, 0), |p| p.position);
                let (width, height) = at.map_or((0, 0), |p| p.size);
                MonitorInfo {
                    id: i as u32,
                    name: format!("portal-{}", s.node),
                    x,
                    y,
                    width,
                    height,
                    primary: i == 0,
                    all: false,
                }
            })
            .collect()
    }
}

impl Capturer for PortalCapturer {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    fn refresh_monitors(&mut self, _force: bool) -> Result<Option<Vec<MonitorInfo>>, CaptureError> {
        let monitors = self.list();
        if monitors == self.monitors {
            return Ok(None);
        }
        self.monitors = monitors.clone();
        Ok(Some(monitors))
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        Ok(self.capture_changes(id, None)?.image)
    }

    fn capture_changes(
        &mut self,
        id: u32,
        previous: Option<CapturedImage>,
    ) -> Result<Captured, CaptureError> {
        self.wait_first(id)?;
        let slot = self.slot(id)?;
        let mut latest = slot.latest.lock().unwrap_or_else(|e| e.into_inner());
        if latest.image.is_none() {
            return Err(PortalCaptureError::NoFrame(id).into());
        }
        let changed = if latest.fresh {
            latest.changed.take()
        } else {
            Some(Vec::new())
        };
        latest.fresh = false;
        let Some(newest) = latest.image.as_ref() else {
            return Err(PortalCaptureError::NoFrame(id).into());
        };
        let fits = |p: &CapturedImage| {
            (p.width, p.height, p.order) == (newest.width, newest.height, newest.order)
        };
        let previous = previous.filter(fits);
        let captured = match (previous, changed) {
            (Some(mut image), Some(rects)) => {
                copy_rows(newest, &mut image, &rects);
                Captured {
                    image,
                    changed: Some(rects),
                }
            }
            _ => Captured {
                image: newest.clone(),
                changed: None,
            },
        };
        Ok(captured)
    }

    fn reports_damage(&self) -> bool {
        true
    }

    fn unchanged(&mut self, id: u32) -> bool {
        self.session_ended().is_ok()
            && self.slot(id).is_ok_and(|slot| {
                let latest = slot.latest.lock().unwrap_or_else(|e| e.into_inner());
                latest.image.is_some() && !latest.fresh && latest.ended.is_none()
            })
    }
}

/// Whether `auto` tries the portal: in a Wayland session (`WAYLAND_DISPLAY`
/// set) on a desktop whose screen only the portals share
/// (`XDG_CURRENT_DESKTOP` names GNOME or KDE). The same desktops under X11
/// are captured directly, with no dialog.
pub(super) fn suits(wayland_display: Option<&std::ffi::OsStr>, desktop: Option<&str>) -> bool {
    let wayland = wayland_display.is_some_and(|d| !d.is_empty());
    let portal_desktop = desktop.is_some_and(|d| {
        d.split(':')
            .any(|d| d.eq_ignore_ascii_case("gnome") || d.eq_ignore_ascii_case("kde"))
    });
    wayland && portal_desktop
}

/// Copies the rows of `rects` from `from` into `into` (same size).
fn copy_rows(from: &CapturedImage, into: &mut CapturedImage, rects: &[crate::regions::Rect]) {
    let row = from.width as usize * 4;
    for rect in rects {
        let rect = rect.clip(from.width, from.height);
        let (start, end) = (rect.y as usize * row, (rect.y + rect.height) as usize * row);
        into.pixels[start..end].copy_from_slice(&from.pixels[start..end]);
    }
}

impl Drop for PortalCapturer {
    fn drop(&mut self) {
        // Dropped because its streams ended (the display-gone path): the
        // session is over for the input sink too, and the next capturer
        // must not join it.
        let ended = self.pipewire.slots.iter().any(|slot| {
            let latest = slot.latest.lock().unwrap_or_else(|e| e.into_inner());
            latest.ended.is_some()
        });
        if let (true, Some(portal)) = (ended, &self.portal) {
            portal.mark_ended();
        }
    }
}

impl From<PortalCaptureError> for CaptureError {
    fn from(err: PortalCaptureError) -> Self {
        CaptureError::Portal(err)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::suits;

    #[test]
    fn auto_takes_the_portal_on_gnome_or_kde_wayland_only() {
        let wayland = Some(OsStr::new("wayland-0"));
        assert!(suits(wayland, Some("GNOME")));
        assert!(suits(wayland, Some("ubuntu:GNOME")));
        assert!(suits(wayland, Some("KDE")));
        assert!(!suits(wayland, Some("sway")), "wlroots has its own capture");
        assert!(!suits(wayland, None));
        assert!(
            !suits(None, Some("GNOME")),
            "GNOME on X11: the X11 capturer"
        );
        assert!(!suits(Some(OsStr::new("")), Some("KDE")));
    }
}
