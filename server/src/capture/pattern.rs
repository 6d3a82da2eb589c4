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
    /// `--pattern-seed`: 0 is the original scene.
    seed: u32,
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
            seed: 0,
        }
    }

    /// The scene's variant `seed` (`--pattern-seed`): another wallpaper
    /// colour and another path for the moving window, so agents started
    /// with different seeds are told apart at a glance (and by a test, by
    /// their mean colour). Seed 0 is the original scene.
    pub fn seeded(self, seed: u32) -> Self {
        Self { seed, ..self }
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
        img.wallpaper(wallpaper_tint(self.seed));
        let taskbar = 32.min(h / 8);
        // Two still windows, placed relative to the screen size.
        img.window(w / 16, h / 12, w * 5 / 12, h / 2);
        img.window(w / 2, h / 8, w * 7 / 16, h * 5 / 8);
        // One window that drifts around, like someone dragging it.
        let (mw, mh) = (w / 4, h / 4);
        let span_x = (w - mw) as f32;
        let span_y = (h - taskbar - mh) as f32;
        // Each seed starts the window elsewhere on its path.
        let phase = (self.seed % 64) as f32 * 0.9;
        let mx = (span_x * 0.5 * (1.0 + (t * 0.7 + phase).sin())) as u32;
        let my = (span_y * 0.5 * (1.0 + (t * 0.45 + phase).cos())) as u32;
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

/// The wallpaper's base colour for `seed`: the original teal for 0, else
/// each channel steps through its own number of levels (7, 5 and 3, coprime),
/// so the first 105 seeds differ in at least one channel by a whole level.
fn wallpaper_tint(seed: u32) -> [u8; 3] {
    if seed == 0 {
        return [20, 110, 140];
    }
    let r = 20 + ((1 + seed * 3) % 7) * 35;
    let g = 20 + ((4 + seed * 2) % 5) * 50;
    let b = 20 + ((2 + seed) % 3) * 100;
    [r, g, b].map(|c| u8::try_from(c).unwrap_or(u8::MAX))
}

/// A minimal RGBA canvas: rectangles are all the scene needs.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn wallpaper(&mut self, [r, g, b]: [u8; 3]) {
        let (w, h) = (self.w as usize, self.h.max(1) as usize);
        for (y, row) in self.px.chunks_exact_mut(w * 4).enumerate() {
            let k = (y * 255 / h) as u8;
            let color = [
                r.saturating_sub(k / 5),
                g.saturating_sub(k / 3),
                b.saturating_sub(k / 4),
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

    /// Mean colour of a rendered scene, per channel.
    fn mean(image: &CapturedImage) -> [f64; 3] {
        let mut sum = [0f64; 3];
        for px in image.pixels.chunks_exact(4) {
            for (s, &c) in sum.iter_mut().zip(px) {
                *s += f64::from(c);
            }
        }
        let n = (image.pixels.len() / 4) as f64;
        sum.map(|s| s / n)
    }

    #[test]
    fn seed_zero_is_the_original_scene() {
        let plain = TestPattern::still(320, 200).render(0.0);
        let zero = TestPattern::still(320, 200).seeded(0).render(0.0);
        assert_eq!(plain, zero);
    }

    #[test]
    fn sixteen_seeds_paint_sixteen_scenes_told_apart_by_mean_colour() {
        let means: Vec<[f64; 3]> = (0..16)
            .map(|seed| mean(&TestPattern::still(320, 200).seeded(seed).render(0.0)))
            .collect();
        for (i, a) in means.iter().enumerate() {
            for (j, b) in means.iter().enumerate().skip(i + 1) {
                let distance = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
                assert!(
                    distance.sqrt() > 8.0,
                    "seeds {i} and {j}: means {a:?} and {b:?}"
                );
            }
        }
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
