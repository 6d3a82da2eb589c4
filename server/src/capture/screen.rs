//! The real screen, through xcap (X11 here; Wayland, macOS and Windows
//! through the same crate).

use lookout_protocol::MonitorInfo;
use xcap::Monitor;

use super::{CaptureError, CapturedImage, Capturer};

/// Captures the monitors xcap finds, numbered 0.. in xcap's order.
pub struct ScreenCapturer {
    monitors: Vec<Monitor>,
    infos: Vec<MonitorInfo>,
}

impl std::fmt::Debug for ScreenCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenCapturer")
            .field("monitors", &self.infos)
            .finish()
    }
}

impl ScreenCapturer {
    /// Discovers the monitors. Fails when there is no display to capture.
    pub fn new() -> Result<Self, CaptureError> {
        let monitors = Monitor::all()?;
        if monitors.is_empty() {
            return Err(CaptureError::NoMonitors);
        }
        let infos = monitors
            .iter()
            .zip(0u32..)
            .map(|(m, id)| describe(m, id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { monitors, infos })
    }
}

fn describe(monitor: &Monitor, id: u32) -> Result<MonitorInfo, CaptureError> {
    Ok(MonitorInfo {
        id,
        name: monitor.name()?,
        x: monitor.x()?,
        y: monitor.y()?,
        width: monitor.width()?,
        height: monitor.height()?,
        primary: monitor.is_primary()?,
        all: false,
    })
}

impl Capturer for ScreenCapturer {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.infos
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        let monitor = usize::try_from(id)
            .ok()
            .and_then(|i| self.monitors.get(i))
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        let image = monitor.capture_image()?;
        let (width, height) = image.dimensions();
        Ok(CapturedImage::rgba(width, height, image.into_raw()))
    }
}
