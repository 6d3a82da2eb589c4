//! An X client that animates a display like someone dragging a window over
//! a desktop, at 60 frames per second: the full-motion scene.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lookout_server::capture::{Capturer, TestPattern};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, ImageFormat, Rectangle};
use x11rb::wrapper::ConnectionExt as _;

use crate::measure::sleep_until;

/// An X client that animates the display like someone dragging a window
/// over a desktop, at 60 frames per second: a desktop image once, then per
/// frame the window drawn at its new place and a taskbar clock.
pub(crate) struct Animator {
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Animator {
    pub(crate) fn start(display: &str, w: u32, h: u32) -> Self {
        let desktop = TestPattern::still(w, h)
            .capture(0)
            .expect("render desktop")
            .pixels;
        Self::start_with(display, desktop, w, h)
    }

    /// Like [`Animator::start`] over `desktop` (RGBA, `w`x`h`) instead of
    /// the test scene's desktop.
    pub(crate) fn start_with(display: &str, desktop: Vec<u8>, w: u32, h: u32) -> Self {
        let running = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&running), Arc::clone(&stop));
        let display = display.to_owned();
        let thread = std::thread::spawn(move || animate(&display, &desktop, w, h, &r, &s));
        Self {
            running,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::SeqCst);
    }

    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("animator");
        }
    }
}

fn animate(display: &str, desktop: &[u8], w: u32, h: u32, running: &AtomicBool, stop: &AtomicBool) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let screen = &conn.setup().roots[screen];
    let root = screen.root;
    // The desktop into a pixmap, in strips that fit in a request.
    let pixmap = conn.generate_id().unwrap();
    conn.create_pixmap(screen.root_depth, pixmap, root, w as u16, h as u16)
        .unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, root, &CreateGCAux::new().foreground(screen.black_pixel))
        .unwrap();
    let max_bytes = conn.maximum_request_bytes().saturating_sub(64);
    let rows_per_strip = (max_bytes / (w as usize * 4)).max(1);
    let bgrx: Vec<u8> = desktop
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    for (i, strip) in bgrx.chunks(rows_per_strip * w as usize * 4).enumerate() {
        let rows = strip.len() / (w as usize * 4);
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            pixmap,
            gc,
            w as u16,
            rows as u16,
            0,
            (i * rows_per_strip) as i16,
            0,
            screen.root_depth,
            strip,
        )
        .unwrap();
    }
    conn.copy_area(pixmap, root, gc, 0, 0, 0, 0, w as u16, h as u16)
        .unwrap();
    conn.sync().unwrap();

    let motion = Motion::new(w, h);
    let (mw, mh) = (motion.window.0 as u16, motion.window.1 as u16);
    let started = Instant::now();
    let mut last = (0i16, 0i16);
    let period = Duration::from_secs(1) / 60;
    let mut tick = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        tick += period;
        sleep_until(tick);
        if !running.load(Ordering::SeqCst) {
            continue;
        }
        let t = started.elapsed().as_secs_f32();
        let (x, y) = motion.window_at(t);
        let (x, y) = (x as i16, y as i16);
        // Erase the window where it was, draw it where it is.
        conn.copy_area(pixmap, root, gc, last.0, last.1, last.0, last.1, mw, mh)
            .unwrap();
        let (sx, sy) = motion.window_source();
        conn.copy_area(pixmap, root, gc, sx as i16, sy as i16, x, y, mw, mh)
            .unwrap();
        last = (x, y);
        // The taskbar clock: its area from the desktop, then the bar.
        let area = motion.clock_area();
        conn.copy_area(
            pixmap,
            root,
            gc,
            area.x as i16,
            area.y as i16,
            area.x as i16,
            area.y as i16,
            area.width as u16,
            area.height as u16,
        )
        .unwrap();
        let bar = motion.clock_bar(t);
        conn.poly_fill_rectangle(
            root,
            gc,
            &[Rectangle {
                x: bar.x as i16,
                y: bar.y as i16,
                width: bar.width as u16,
                height: bar.height as u16,
            }],
        )
        .unwrap();
        conn.sync().unwrap();
    }
}

/// A place on the screen, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// The animated desktop's motion, shared by the X11 and the Wayland
/// animators: a window (a quarter of the screen each way, a piece of the
/// desktop) moving on a slow Lissajous path over the desktop, and a taskbar
/// clock at the bottom growing from the left and wrapping every ten
/// seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Motion {
    screen: (u32, u32),
    /// The window's size.
    pub(crate) window: (u32, u32),
    taskbar: u32,
}

impl Motion {
    pub(crate) fn new(w: u32, h: u32) -> Self {
        Self {
            screen: (w, h),
            window: (w / 4, h / 4),
            taskbar: 32.min(h / 8),
        }
    }

    /// Where the window's top left corner is `t` seconds in.
    pub(crate) fn window_at(&self, t: f32) -> (u32, u32) {
        let ((w, h), (mw, mh)) = (self.screen, self.window);
        let x = ((w - mw) as f32 * 0.5 * (1.0 + (t * 0.7).sin())) as u32;
        let y = ((h - self.taskbar - mh) as f32 * 0.5 * (1.0 + (t * 0.45).cos())) as u32;
        (x, y)
    }

    /// Where on the desktop the window's picture comes from.
    pub(crate) fn window_source(&self) -> (u32, u32) {
        (self.screen.0 / 16, self.screen.1 / 12)
    }

    /// The part of the taskbar the clock draws on (restored from the
    /// desktop before each bar).
    pub(crate) fn clock_area(&self) -> Area {
        Area {
            x: 0,
            y: self.screen.1 - self.taskbar,
            width: self.screen.0 / 5 + 1,
            height: self.taskbar,
        }
    }

    /// The clock's black bar `t` seconds in.
    pub(crate) fn clock_bar(&self, t: f32) -> Area {
        let area = self.clock_area();
        Area {
            x: 0,
            y: area.y + 4,
            width: ((t % 10.0) / 10.0 * (self.screen.0 / 5) as f32) as u32 + 1,
            height: self.taskbar - 8,
        }
    }
}
