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

    let (mw, mh) = (w / 4, h / 4);
    let taskbar = 32.min(h / 8);
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
        let x = ((w - mw) as f32 * 0.5 * (1.0 + (t * 0.7).sin())) as i16;
        let y = ((h - taskbar - mh) as f32 * 0.5 * (1.0 + (t * 0.45).cos())) as i16;
        // Erase the window where it was, draw it where it is.
        conn.copy_area(
            pixmap, root, gc, last.0, last.1, last.0, last.1, mw as u16, mh as u16,
        )
        .unwrap();
        conn.copy_area(
            pixmap,
            root,
            gc,
            (w / 16) as i16,
            (h / 12) as i16,
            x,
            y,
            mw as u16,
            mh as u16,
        )
        .unwrap();
        last = (x, y);
        // The taskbar clock grows and wraps every ten seconds.
        let clock = ((t % 10.0) / 10.0 * (w / 5) as f32) as u16 + 1;
        conn.copy_area(
            pixmap,
            root,
            gc,
            0,
            (h - taskbar) as i16,
            0,
            (h - taskbar) as i16,
            (w / 5) as u16 + 1,
            taskbar as u16,
        )
        .unwrap();
        conn.poly_fill_rectangle(
            root,
            gc,
            &[Rectangle {
                x: 0,
                y: (h - taskbar) as i16 + 4,
                width: clock,
                height: taskbar as u16 - 8,
            }],
        )
        .unwrap();
        conn.sync().unwrap();
    }
}
