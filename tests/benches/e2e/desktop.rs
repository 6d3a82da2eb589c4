//! The everyday desktop the scenes run on: display A, the watched machine
//! (a wallpaper and a real xterm), and display B, where each system's real
//! viewer shows it. B is looked at as a person would (screenshots).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use image::RgbImage;
use image::imageops::{self, FilterType};
use lookout_server::capture::{Capturer, TestPattern};
use lookout_tests::process::{Running, TempDir};
use lookout_tests::x11::{Window, Xvfb, letterbox, mean_abs_diff};

/// How long a window may take to show up (a loaded 2-core machine).
const WINDOW_WAIT: Duration = Duration::from_secs(20);

/// Where the xterm starts, in root coordinates.
pub(crate) const XTERM_AT: (i32, i32) = (300, 200);

/// The two displays.
#[derive(Debug)]
pub(crate) struct Desktop {
    /// The watched screen.
    pub(crate) a: Xvfb,
    /// The viewer's screen.
    pub(crate) b: Xvfb,
    /// A's size.
    pub(crate) size: (u32, u32),
    dir: TempDir,
    shots: Option<PathBuf>,
}

impl Desktop {
    /// A `w`x`h` display A with the test scene's desktop as wallpaper,
    /// and a larger B, so that every viewer window shows A at 1:1:
    /// lookout-viewer's first window takes at most `SCREEN_SHARE_PERCENT`
    /// of each side of the screen, and TigerVNC's viewer shrinks a window
    /// that would fill the screen and adds scroll bars. With `shots`,
    /// [`Desktop::shown_difference`] keeps both screenshots there.
    pub(crate) fn start(w: u32, h: u32, shots: Option<PathBuf>) -> Self {
        let share = lookout_viewer::layout::SCREEN_SHARE_PERCENT as u32;
        let room = |side: u32| (side * 100).div_ceil(share) + 64;
        let a = Xvfb::start(w, h);
        let b = Xvfb::start(room(w), room(h));
        a.set_root_image(&wallpaper(w, h));
        Self {
            a,
            b,
            size: (w, h),
            dir: TempDir::new("scenes"),
            shots,
        }
    }

    /// A fresh xterm on A, 100x30 at [`XTERM_AT`], focused: what is typed
    /// shows (the tty echoes it) and what is written to its FIFO scrolls.
    pub(crate) fn xterm(&self) -> Xterm {
        let fifo = self.dir.path().join("lines");
        if !fifo.exists() {
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .is_ok_and(|s| s.success());
            assert!(made, "mkfifo failed");
        }
        let title = "lookout-bench-xterm";
        let geometry = format!("100x30+{}+{}", XTERM_AT.0, XTERM_AT.1);
        let script = format!("cat '{}' & exec cat >/dev/null", fifo.display());
        let mut cmd = self.a.command("xterm");
        cmd.args(["-T", title, "-geometry", &geometry])
            .args(["-fa", "DejaVu Sans Mono", "-fs", "11", "-e", "sh", "-c"])
            .arg(script);
        let process = Running::spawn(cmd);
        let window = self
            .a
            .find_window(title, WINDOW_WAIT)
            .expect("the xterm's window");
        // Opened read-write, the FIFO's open never waits for the reader.
        let lines = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .expect("open the xterm's FIFO");
        let focused = self
            .a
            .command("xdotool")
            .args(["windowfocus", "--sync", &window.0.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(focused, "xdotool windowfocus failed");
        Xterm {
            window,
            lines,
            _process: process,
            _fifo: fifo,
        }
    }

    /// Mean difference per channel (0-255) between A's screen and what the
    /// viewer `window` on B shows of it, scaled back to A's size; `label`
    /// names the screenshots kept.
    pub(crate) fn shown_difference(&self, window: Window, label: &str) -> f64 {
        let source = self.a.screenshot();
        let shot = self.b.screenshot();
        let g = self.b.geometry(window);
        let (ox, oy, w, h) = letterbox(self.size, (g.width, g.height));
        let x = (g.x.max(0) as u32 + ox).min(shot.width() - 1);
        let y = (g.y.max(0) as u32 + oy).min(shot.height() - 1);
        let w = w.min(shot.width() - x);
        let h = h.min(shot.height() - y);
        let region = imageops::crop_imm(&shot, x, y, w, h).to_image();
        let shown = if region.dimensions() == self.size {
            region
        } else {
            imageops::resize(&region, self.size.0, self.size.1, FilterType::Triangle)
        };
        if let Some(dir) = &self.shots {
            let _ = std::fs::create_dir_all(dir);
            let _ = source.save(dir.join(format!("{label}-screen.png")));
            let _ = shown.save(dir.join(format!("{label}-viewer.png")));
        }
        mean_abs_diff(&source, &shown)
    }
}

/// A real xterm on display A.
#[derive(Debug)]
pub(crate) struct Xterm {
    /// Its window.
    pub(crate) window: Window,
    lines: std::fs::File,
    _process: Running,
    _fifo: PathBuf,
}

impl Xterm {
    /// Prints `line` in the terminal.
    pub(crate) fn print(&mut self, line: &str) {
        let _ = writeln!(self.lines, "{line}");
    }
}

/// The scenes' desktop, RGBA: the test scene's still desktop (windows of
/// text, a taskbar) over a photo-like wallpaper. The test scene's own
/// wallpaper is a smooth gradient, which VNC's lossless encodings carry
/// for almost nothing and no real wallpaper is: here every wallpaper pixel
/// gets a soft, hilly pattern and grain, so it has the many distinct
/// colours of a photograph.
pub(crate) fn desktop_rgba(w: u32, h: u32) -> Vec<u8> {
    let mut px = TestPattern::still(w, h)
        .capture(0)
        .expect("render the desktop")
        .pixels;
    for (i, p) in px.chunks_exact_mut(4).enumerate() {
        if UI_COLOURS.contains(&[p[0], p[1], p[2]]) {
            continue;
        }
        let (x, y) = ((i as u32 % w) as f32, (i as u32 / w) as f32);
        let hills =
            28.0 * ((x * 0.011).sin() * (y * 0.017).cos() + (x * 0.043 + y * 0.029).sin() * 0.4);
        // A fixed hash of the position: the same grain on every run.
        let grain = ((i as u32).wrapping_mul(2_654_435_761) >> 27) as f32 - 16.0;
        for (c, channel) in p[..3].iter_mut().enumerate() {
            let tint = hills * [1.0, 0.8, 0.5][c];
            *channel = (f32::from(*channel) + tint + grain * 0.6).clamp(0.0, 255.0) as u8;
        }
    }
    px
}

/// The test scene's window colours (server/src/capture/pattern.rs), kept
/// flat as a real window's are.
const UI_COLOURS: [[u8; 3]; 5] = [
    [46, 84, 160],
    [245, 245, 240],
    [70, 70, 80],
    [32, 34, 40],
    [230, 120, 40],
];

fn wallpaper(w: u32, h: u32) -> RgbImage {
    let rgb: Vec<u8> = desktop_rgba(w, h)
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(w, h, rgb).expect("a whole picture")
}
