//! An animated, desktop-like synthetic scene that needs no display: for demos,
//! benchmarks and headless machines.
//!
//! It looks like a small desktop on purpose (gradient wallpaper, windows with
//! title bars and lines of "text", a taskbar, one window that moves), so that
//! JPEG sizes and encode times resemble a real screen rather than a flat
//! colour or pure noise.

use std::time::Instant;

use lookout_protocol::MonitorInfo;

use super::{CaptureError, CapturedImage, Capturer};

/// The synthetic scene, one monitor (id 0).
#[derive(Debug)]
pub struct TestPattern {
    info: [MonitorInfo; 1],
    started: Instant,
    animated: bool,
}

type Rgba = [u8; 4];

const TITLE: Rgba = [46, 84, 160, 255];
const BODY: Rgba = [245, 245, 240, 255];
const TEXT: Rgba = [70, 70, 80, 255];
const TASKBAR: Rgba = [32, 34, 40, 255];
const ACCENT: Rgba = [230, 120, 40, 255];

impl TestPattern {
    /// An animated scene of the given size.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            info: [MonitorInfo {
                id: 0,
                name: "test-pattern".into(),
                x: 0,
                y: 0,
                width: width.max(64),
                height: height.max(64),
                primary: true,
                all: false,
            }],
            started: Instant::now(),
            animated: true,
        }
    }

    /// The same scene, frozen at its first instant (a still screen).
    pub fn still(width: u32, height: u32) -> Self {
        Self {
            animated: false,
            ..Self::new(width, height)
        }
    }

    /// Renders the scene at `t` seconds.
    pub fn render(&self, t: f32) -> CapturedImage {
        let (w, h) = (self.info[0].width, self.info[0].height);
        let mut img = Canvas {
            w,
            h,
            px: vec![0; w as usize * h as usize * 4],
        };
        img.wallpaper();
        let taskbar = 32.min(h / 8);
        // Two still windows, placed relative to the screen size.
        img.window(w / 16, h / 12, w * 5 / 12, h / 2);
        img.window(w / 2, h / 8, w * 7 / 16, h * 5 / 8);
        // One window that drifts around, like someone dragging it.
        let (mw, mh) = (w / 4, h / 4);
        let span_x = (w - mw) as f32;
        let span_y = (h - taskbar - mh) as f32;
        let mx = (span_x * 0.5 * (1.0 + (t * 0.7).sin())) as u32;
        let my = (span_y * 0.5 * (1.0 + (t * 0.45).cos())) as u32;
        img.window(mx, my, mw, mh);
        // The taskbar with a "clock" that fills up every ten seconds.
        img.rect(0, h - taskbar, w, taskbar, TASKBAR);
        let clock = ((t % 10.0) / 10.0 * (w / 5) as f32) as u32;
        img.rect(
            w - w / 5 - 8,
            h - taskbar + 8,
            clock,
            taskbar.saturating_sub(16),
            ACCENT,
        );
        CapturedImage::rgba(w, h, img.px)
    }
}

impl Capturer for TestPattern {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.info
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        if id != 0 {
            return Err(CaptureError::NoSuchMonitor(id));
        }
        let t = if self.animated {
            self.started.elapsed().as_secs_f32()
        } else {
            0.0
        };
        Ok(self.render(t))
    }
}

/// A minimal RGBA canvas: rectangles are all the scene needs.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn wallpaper(&mut self) {
        let (w, h) = (self.w as usize, self.h.max(1) as usize);
        for (y, row) in self.px.chunks_exact_mut(w * 4).enumerate() {
            let k = (y * 255 / h) as u8;
            let color = [
                20,
                110u8.saturating_sub(k / 3),
                140u8.saturating_sub(k / 4),
                255,
            ];
            for px in row.chunks_exact_mut(4) {
                px.copy_from_slice(&color);
            }
        }
    }

    /// Fills a rectangle, clipped to the canvas.
    fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, color: Rgba) {
        let x0 = x.min(self.w) as usize;
        let x1 = x.saturating_add(w).min(self.w) as usize;
        let y0 = y.min(self.h) as usize;
        let y1 = y.saturating_add(h).min(self.h) as usize;
        let stride = self.w as usize * 4;
        for row in self.px.chunks_exact_mut(stride).take(y1).skip(y0) {
            for px in row[x0 * 4..x1 * 4].chunks_exact_mut(4) {
                px.copy_from_slice(&color);
            }
        }
    }

    /// A window: title bar, body, and lines of varying length for text.
    fn window(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let bar = 24.min(h / 4);
        self.rect(
            x.saturating_sub(1),
            y.saturating_sub(1),
            w + 2,
            h + 2,
            [0, 0, 0, 255],
        );
        self.rect(x, y, w, bar, TITLE);
        self.rect(x, y + bar, w, h - bar, BODY);
        let line = 14;
        let mut ly = y + bar + 10;
        let mut n = 0u32;
        while ly + 8 < y + h {
            // Lengths vary like prose: a deterministic pseudo-random walk.
            let len = w.saturating_sub(24) * (40 + (n * 37 + x / 7) % 60) / 100;
            self.rect(x + 12, ly, len, 7, TEXT);
            ly += line;
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_has_the_requested_size_and_moves() {
        let pattern = TestPattern::new(320, 200);
        let a = pattern.render(0.0);
        let b = pattern.render(1.0);
        assert_eq!((a.width, a.height), (320, 200));
        assert_eq!(a.pixels.len(), 320 * 200 * 4);
        assert_ne!(a.pixels, b.pixels, "the scene is animated");
    }

    #[test]
    fn still_scene_does_not_change() {
        let mut pattern = TestPattern::still(128, 96);
        let a = pattern.capture(0).unwrap();
        let b = pattern.capture(0).unwrap();
        assert_eq!(a, b);
        assert!(pattern.capture(1).is_err());
    }
}
