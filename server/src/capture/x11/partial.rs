//! Damage-limited capture: a monitor is read anew only where the server
//! reported damage since its last capture, into an image equal to that
//! capture (which the caller hands over, see
//! [`crate::capture::Capturer::capture_changes`]), so the cost of a small
//! change (a typed key) follows its size, not the monitor's. Where damage
//! is not known (no DAMAGE extension, the first capture, after a monitor
//! change or a failure), and once in a while all the same
//! (`damage::WHOLE_READ_EVERY`), the whole monitor is read.

use std::time::Instant;

use super::monitors::Rect;
use super::{CaptureError, Captured, CapturedImage, PixelOrder, X11Capturer};
use crate::regions;

/// The damaged parts are read into the image before only while the damage
/// covers at most 1/`PATCH_AREA_DIVISOR` of the monitor; past that, the
/// whole monitor is read (most of it read piece by piece, a round trip a
/// piece, would cost more than one read of all of it).
const PATCH_AREA_DIVISOR: u64 = 2;

impl X11Capturer {
    /// The monitor at `monitor` on the root window: `previous` with the
    /// `damaged` rectangles read anew, so the cost of a small change is a
    /// small read, not a read of the whole monitor. When the damage covers
    /// most of it, the whole monitor is read instead.
    fn patch(
        &mut self,
        monitor: Rect,
        previous: CapturedImage,
        damaged: &[regions::Rect],
    ) -> Result<Vec<u8>, CaptureError> {
        let area: u64 = damaged.iter().map(regions::Rect::area).sum();
        if area * PATCH_AREA_DIVISOR > monitor.image_len() / 4 {
            return self.read_bgrx(monitor);
        }
        let mut pixels = previous.pixels;
        let stride = usize::from(monitor.width) * 4;
        for rect in damaged.iter().filter(|r| r.area() > 0) {
            let Some(part) = root_part(monitor, rect) else {
                return self.read_bgrx(monitor);
            };
            let read = self.read_bgrx(part)?;
            let row = rect.width as usize * 4;
            for (y, line) in read.chunks_exact(row).enumerate() {
                let start = (rect.y as usize + y) * stride + rect.x as usize * 4;
                pixels[start..start + row].copy_from_slice(line);
            }
        }
        Ok(pixels)
    }

    /// The capture of monitor `id`, reading only what damage says changed
    /// since `previous` when it can.
    pub(super) fn capture_damaged(
        &mut self,
        id: u32,
        previous: Option<CapturedImage>,
    ) -> Result<Captured, CaptureError> {
        // Taken before the capture: damage from now on means another one.
        self.read_events();
        let now = Instant::now();
        let damaged = self.damage.as_mut().and_then(|d| d.take(id, now));
        let monitor = self
            .monitors
            .rect(id)
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        let fits = |p: &CapturedImage| {
            (p.width, p.height, p.order)
                == (
                    monitor.width.into(),
                    monitor.height.into(),
                    PixelOrder::Bgrx,
                )
        };
        let (pixels, changed) = match (damaged, previous.filter(fits)) {
            (Some(damaged), Some(previous)) => {
                (self.patch(monitor, previous, &damaged)?, Some(damaged))
            }
            _ => (self.read_bgrx(monitor)?, None),
        };
        Ok(Captured {
            // The server's own byte order: the encoder takes BGRX as it is.
            image: CapturedImage {
                width: monitor.width.into(),
                height: monitor.height.into(),
                pixels,
                order: PixelOrder::Bgrx,
            },
            changed,
        })
    }
}

/// `rect`, a rectangle of `monitor`'s image, as a rectangle of the root
/// window; `None` if it is not inside the monitor (damage is cut to the
/// monitor, so that would be a bug upstream: the caller reads it whole).
fn root_part(monitor: Rect, rect: &regions::Rect) -> Option<Rect> {
    let inside = u64::from(rect.x) + u64::from(rect.width) <= u64::from(monitor.width)
        && u64::from(rect.y) + u64::from(rect.height) <= u64::from(monitor.height);
    if !inside {
        return None;
    }
    Some(Rect {
        x: i16::try_from(i32::from(monitor.x) + i32::try_from(rect.x).ok()?).ok()?,
        y: i16::try_from(i32::from(monitor.y) + i32::try_from(rect.y).ok()?).ok()?,
        width: u16::try_from(rect.width).ok()?,
        height: u16::try_from(rect.height).ok()?,
    })
}
