//! Virtual X displays (Xvfb) and the tools that read and drive them:
//! `xdotool` for the pointer and keys, ImageMagick for screenshots and for
//! painting the root window.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;

/// How long an Xvfb may take to start. It compiles its keymap with
/// `xkbcomp` first, which on a loaded 2-core machine (a CI build and tests
/// beside it) was seen to take over 10 s once.
const XVFB_START: Duration = Duration::from_secs(30);

/// A running Xvfb, killed on drop.
#[derive(Debug)]
pub struct Xvfb {
    display: String,
    child: Child,
}

impl Xvfb {
    /// Starts Xvfb with one `width`x`height` screen on a free display number
    /// and waits until it accepts connections.
    ///
    /// Xvfb picks the number itself (`-displayfd`), so tests running in
    /// parallel never race for one. `-noreset` matters: without it the
    /// server resets when its last client leaves, and the root window and
    /// the pointer snap back.
    pub fn start(width: u32, height: u32) -> Self {
        let mut child = spawn_xvfb(&["-displayfd", "1"], width, height);
        let stdout = child.stdout.take().expect("piped stdout");
        // One message: the display number Xvfb chose, or nothing.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = tx.send(line);
        });
        let number = rx
            .recv_timeout(XVFB_START)
            .ok()
            .and_then(|line| line.trim().parse::<u32>().ok());
        let Some(number) = number else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Xvfb did not report a display number");
        };
        let mut xvfb = Xvfb {
            display: format!(":{number}"),
            child,
        };
        assert!(
            xvfb.wait_ready(XVFB_START),
            "Xvfb {} does not accept connections",
            xvfb.display
        );
        xvfb
    }

    /// Like [`Xvfb::start`], on a display number of its own in 600..1000,
    /// for a test that stops the server and starts it again on the same
    /// number ([`Xvfb::stop`], [`Xvfb::restart`]): `-displayfd` hands out
    /// the lowest free number, so a number freed there could be taken by
    /// another test's server in between.
    pub fn start_restartable(width: u32, height: u32) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..50 {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let number = 600 + (std::process::id() * 13 + n * 7) % 400;
            if display_in_use(number) {
                continue;
            }
            let mut xvfb = Xvfb {
                display: format!(":{number}"),
                child: spawn_xvfb(&[&format!(":{number}")], width, height),
            };
            if xvfb.wait_ready(XVFB_START) {
                return xvfb;
            }
        }
        panic!("no free display number for a restartable Xvfb");
    }

    /// Stops the X server as a display manager does at log-out (SIGTERM),
    /// and waits until it has exited.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Starts a new X server with a `width`x`height` screen on the same
    /// display number (after [`Xvfb::stop`]) and waits until it accepts
    /// connections; returns when it did.
    pub fn restart(&mut self, width: u32, height: u32) -> Instant {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_xvfb(&[self.display.as_str()], width, height);
        assert!(
            self.wait_ready(XVFB_START),
            "Xvfb {} did not start again",
            self.display
        );
        Instant::now()
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let ok = Command::new("xdpyinfo")
                .env("DISPLAY", &self.display)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The `DISPLAY` value, such as `:123`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The X server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `xrandr` with `args` on this display and asserts it succeeded
    /// (package `x11-xserver-utils`).
    pub fn xrandr(&self, args: &[&str]) {
        let out = self
            .command("xrandr")
            .args(args)
            .output()
            .expect("run xrandr");
        assert!(
            out.status.success(),
            "xrandr {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command with `DISPLAY` set to this server.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", &self.display);
        cmd
    }

    /// Shows `image` on the root window (as its background).
    pub fn set_root_image(&self, image: &RgbImage) {
        let path = std::env::temp_dir().join(format!(
            "lookout-root-{}-{}.png",
            std::process::id(),
            self.display.trim_start_matches(':')
        ));
        image.save(&path).expect("write root image");
        // `display -window root` paints and exits; its exit status is not
        // reliable, so check the result instead.
        let _ = self
            .command("display")
            .args(["-window", "root"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&path);
        let shot = self.screenshot();
        let p = image.get_pixel(image.width() / 2, image.height() / 2);
        let q = shot.get_pixel(image.width() / 2, image.height() / 2);
        assert!(
            p.0.iter().zip(q.0).all(|(a, b)| a.abs_diff(b) <= 8),
            "root window did not take the image: {p:?} vs {q:?}"
        );
    }

    /// A screenshot of the whole root window, as a person would see it.
    pub fn screenshot(&self) -> RgbImage {
        let out = self
            .command("import")
            .args(["-window", "root", "png:-"])
            .stderr(Stdio::null())
            .output()
            .expect("run import (ImageMagick)");
        assert!(out.status.success(), "import failed");
        image::load_from_memory(&out.stdout)
            .expect("decode screenshot")
            .to_rgb8()
    }

    /// Where the X pointer is now.
    pub fn pointer(&self) -> (i32, i32) {
        let out = self
            .command("xdotool")
            .args(["getmouselocation", "--shell"])
            .output()
            .expect("run xdotool");
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> i32 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in xdotool output {text:?}"))
        };
        (field("X="), field("Y="))
    }

    /// Moves the X pointer (as a local user would).
    pub fn move_pointer(&self, x: i32, y: i32) {
        let ok = self
            .command("xdotool")
            .args(["mousemove", &x.to_string(), &y.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "xdotool mousemove failed");
    }

    /// Polls the pointer until it is at `want` or `within` has passed;
    /// returns the last position seen.
    pub fn wait_pointer(&self, want: (i32, i32), within: Duration) -> (i32, i32) {
        let deadline = Instant::now() + within;
        loop {
            let at = self.pointer();
            if at == want || Instant::now() >= deadline {
                return at;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// A top-level window on an [`Xvfb`] display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(pub u64);

/// Where a window is and how big, in root coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Xvfb {
    /// Waits for a visible window whose name contains `name`.
    pub fn find_window(&self, name: &str, within: Duration) -> Option<Window> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let out = self
                .command("xdotool")
                .args(["search", "--onlyvisible", "--name", name])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(id) = text.lines().find_map(|l| l.trim().parse().ok()) {
                return Some(Window(id));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The window's title.
    pub fn window_name(&self, window: Window) -> String {
        let out = self
            .command("xdotool")
            .args(["getwindowname", &window.0.to_string()])
            .output()
            .expect("run xdotool");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Polls the title until it contains `part`; returns the last title.
    pub fn wait_title(&self, window: Window, part: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let title = self.window_name(window);
            if title.contains(part) || Instant::now() >= deadline {
                return title;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The window's position and size.
    pub fn geometry(&self, window: Window) -> Geometry {
        let out = self
            .command("xdotool")
            .args(["getwindowgeometry", "--shell", &window.0.to_string()])
            .output()
            .expect("run xdotool");
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text:?}"))
        };
        Geometry {
            x: field("X=") as i32,
            y: field("Y=") as i32,
            width: field("WIDTH=") as u32,
            height: field("HEIGHT=") as u32,
        }
    }

    /// Types one key (an X keysym name such as `F8`) through XTEST, to the
    /// window under the pointer, as a person would.
    pub fn key(&self, keysym: &str) {
        let ok = self
            .command("xdotool")
            .args(["key", keysym])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "xdotool key {keysym} failed");
    }
}

/// Where an image of `src` size lands when fitted into `dst` with its aspect
/// ratio kept and centred: `(x, y, width, height)`.
pub fn letterbox(src: (u32, u32), dst: (u32, u32)) -> (u32, u32, u32, u32) {
    let (sw, sh) = (u64::from(src.0.max(1)), u64::from(src.1.max(1)));
    let (dw, dh) = (u64::from(dst.0), u64::from(dst.1));
    let (w, h) = if dw * sh <= dh * sw {
        (dw, dw * sh / sw)
    } else {
        (dh * sw / sh, dh)
    };
    (
        ((dw - w) / 2) as u32,
        ((dh - h) / 2) as u32,
        w as u32,
        h as u32,
    )
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an X server holds display `number`: its lock file names a
/// process that is alive. A lock left by a killed server is not in use
/// (Xvfb replaces it), so killed test servers never use the numbers up.
fn display_in_use(number: u32) -> bool {
    let Ok(lock) = std::fs::read_to_string(format!("/tmp/.X{number}-lock")) else {
        return false;
    };
    lock.trim()
        .parse::<u32>()
        .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Spawns `Xvfb ARGS -screen 0 WxHx24 -noreset -nolisten tcp`. `-noreset`
/// matters: without it the server resets when its last client leaves, and
/// the root window and the pointer snap back.
fn spawn_xvfb(args: &[&str], width: u32, height: u32) -> Child {
    assert!(
        which("Xvfb"),
        "Xvfb is not installed: run ./dev.sh deps (or apt-get install xvfb)"
    );
    Command::new("Xvfb")
        .args(args)
        .args(["-screen", "0", &format!("{width}x{height}x24")])
        .args(["-noreset", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn Xvfb")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Mean absolute difference per channel between two images of equal size.
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "image sizes differ");
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// A test card: four coloured quadrants with a white cross in the middle
/// and a gradient strip, so that orientation, scaling and colour all show.
pub fn test_card(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (hx, hy) = (width / 2, height / 2);
        if x.abs_diff(hx) < 4 || y.abs_diff(hy) < 4 {
            return image::Rgb([255, 255, 255]);
        }
        if y < height / 10 {
            let v = (x * 255 / width) as u8;
            return image::Rgb([v, v, v]);
        }
        match (x < hx, y < hy) {
            (true, true) => image::Rgb([200, 30, 30]),
            (false, true) => image::Rgb([30, 160, 40]),
            (true, false) => image::Rgb([30, 60, 200]),
            (false, false) => image::Rgb([230, 200, 40]),
        }
    })
}
