//! Damage-limited capture against a real X server (Xvfb): the X11 capturer
//! reads only what the server reported damaged into a copy of its last
//! image, and that image must still be the screen, exactly, while small
//! windows appear, move and vanish and rectangles are painted everywhere;
//! and a viewer of the agent binary, composing region updates while an
//! xterm is typed into, ends with the screen.

use std::time::{Duration, Instant};

use image::RgbImage;
use lookout_protocol::ServerMessage;
use lookout_server::capture::{CapturedImage, Capturer, ImageTransport, X11Capturer};
use lookout_server::encode::FrameEncoder;
use lookout_tests::client::{Client, decode};
use lookout_tests::compose::{Composed, with_regions};
use lookout_tests::process::{AgentProcess, Running};
use lookout_tests::x11::Xvfb;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, Rectangle, WindowClass,
};
use x11rb::rust_connection::RustConnection;

const SIZE: (u16, u16) = (640, 480);

const TOKEN: &str = "damage-test-token-0123";

/// A small xorshift generator: the same scene on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u16) -> u16 {
        (self.next() % u64::from(n)) as u16
    }

    fn colour(&mut self) -> u32 {
        (self.next() & 0xff_ffff) as u32
    }
}

/// A client drawing on the display: windows and rectangles on the root.
struct Painter {
    conn: RustConnection,
    root: u32,
    gc: u32,
    windows: Vec<u32>,
}

impl Painter {
    fn new(xvfb: &Xvfb) -> Self {
        let (conn, screen) = x11rb::connect(Some(xvfb.display())).unwrap();
        let root = conn.setup().roots[screen].root;
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, root, &CreateGCAux::new().foreground(0))
            .unwrap();
        Self {
            conn,
            root,
            gc,
            windows: Vec::new(),
        }
    }

    /// One random change somewhere: a rectangle painted on the root, a
    /// small window mapped, moved or taken away (which exposes the root
    /// beneath it).
    fn change(&mut self, rng: &mut Rng) {
        let (x, y) = (rng.below(SIZE.0) as i16, rng.below(SIZE.1) as i16);
        let (width, height) = (1 + rng.below(40), 1 + rng.below(24));
        match (rng.next() % 4, self.windows.len()) {
            (0, _) | (_, 0) => {
                let colour = rng.colour();
                self.conn
                    .change_gc(
                        self.gc,
                        &x11rb::protocol::xproto::ChangeGCAux::new().foreground(colour),
                    )
                    .unwrap();
                let rect = Rectangle {
                    x,
                    y,
                    width,
                    height,
                };
                self.conn
                    .poly_fill_rectangle(self.root, self.gc, &[rect])
                    .unwrap();
            }
            (1, n) if n < 12 => {
                let id = self.conn.generate_id().unwrap();
                let aux = CreateWindowAux::new().background_pixel(rng.colour());
                self.conn
                    .create_window(
                        0,
                        id,
                        self.root,
                        x,
                        y,
                        width,
                        height,
                        0,
                        WindowClass::INPUT_OUTPUT,
                        0,
                        &aux,
                    )
                    .unwrap();
                self.conn.map_window(id).unwrap();
                self.windows.push(id);
            }
            (2, n) => {
                let id = self.windows.swap_remove(rng.below(n as u16) as usize);
                self.conn.destroy_window(id).unwrap();
            }
            (_, n) => {
                let id = self.windows[rng.below(n as u16) as usize];
                let aux = ConfigureWindowAux::new().x(i32::from(x)).y(i32::from(y));
                self.conn.configure_window(id, &aux).unwrap();
            }
        }
    }

    /// Returns once the server has done everything asked so far.
    fn sync(&self) {
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }
}

/// Captures through `x11` (damage-limited, from `last`) until the image
/// equals `reference`'s full capture of the screen; the damage of the last
/// changes may reach the capturer a moment after they were drawn. Returns
/// the image and whether any capture said where it changed.
fn converge(
    x11: &mut X11Capturer,
    reference: &mut X11Capturer,
    mut last: CapturedImage,
) -> (CapturedImage, bool) {
    let want = reference.capture(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut limited = false;
    for _ in 0..100 {
        let captured = x11.capture_changes(0, Some(last)).unwrap();
        limited |= captured.changed.is_some();
        last = captured.image;
        if last == want || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        last == want,
        "a damage-limited capture never caught up with the screen: {} of {} pixels differ",
        last.pixels
            .chunks_exact(4)
            .zip(want.pixels.chunks_exact(4))
            .filter(|(a, b)| a != b)
            .count(),
        want.pixels.len() / 4
    );
    (last, limited)
}

#[test]
fn damage_limited_captures_stay_the_screen_while_small_windows_paint_everywhere() {
    let xvfb = Xvfb::start(SIZE.0.into(), SIZE.1.into());
    let mut painter = Painter::new(&xvfb);
    let mut x11 = X11Capturer::new(Some(xvfb.display())).unwrap();
    assert!(x11.reports_damage(), "Xvfb has DAMAGE");
    // The reference reads the whole screen every time, through the socket.
    let mut reference =
        X11Capturer::with_transport(Some(xvfb.display()), ImageTransport::GetImage).unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut last = x11.capture_changes(0, None).unwrap().image;
    let mut limited = 0;
    for round in 0..60 {
        // A few changes at once, some rounds many (past the damage list's
        // bound, so they merge).
        let changes = if round % 10 == 9 {
            40
        } else {
            1 + rng.below(4)
        };
        for _ in 0..changes {
            painter.change(&mut rng);
        }
        painter.sync();
        let (image, was_limited) = converge(&mut x11, &mut reference, last);
        last = image;
        limited += usize::from(was_limited);
    }
    assert!(
        limited >= 50,
        "only {limited} of 60 rounds read just the damage: the damage path was not taken"
    );
}

#[test]
fn a_capture_without_an_image_before_reads_everything() {
    let xvfb = Xvfb::start(SIZE.0.into(), SIZE.1.into());
    let mut painter = Painter::new(&xvfb);
    let mut x11 = X11Capturer::new(Some(xvfb.display())).unwrap();
    let first = x11.capture_changes(0, None).unwrap();
    assert_eq!(first.changed, None, "nothing to compare with");
    painter.change(&mut Rng(7));
    painter.sync();
    // Given no image before, damage cannot help: a whole, unhinted capture.
    let mut reference =
        X11Capturer::with_transport(Some(xvfb.display()), ImageTransport::GetImage).unwrap();
    let again = x11.capture_changes(0, None).unwrap();
    assert_eq!(again.changed, None);
    assert_eq!(again.image, reference.capture(0).unwrap());
}

/// The screen as a viewer that took a full frame now would see it: the
/// agent's encoder at its default quality, so that what is compared is the
/// composition, not JPEG loss.
fn as_a_full_frame(screen: &RgbImage) -> RgbImage {
    let rgba = image::DynamicImage::ImageRgb8(screen.clone()).to_rgba8();
    let image = CapturedImage::rgba(rgba.width(), rgba.height(), rgba.into_raw());
    decode(&FrameEncoder::new(75).encode(&image).unwrap())
}

/// The mean absolute difference per channel, and the worst 16x16 tile's.
fn difference(a: &RgbImage, b: &RgbImage) -> (f64, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (w, h) = a.dimensions();
    let (mut total, mut worst) = (0u64, 0f64);
    for ty in (0..h).step_by(16) {
        for tx in (0..w).step_by(16) {
            let (mut sum, mut n) = (0u64, 0u64);
            for y in ty..(ty + 16).min(h) {
                for x in tx..(tx + 16).min(w) {
                    let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
                    sum +=
                        p.0.iter()
                            .zip(q.0)
                            .map(|(u, v)| u64::from(u.abs_diff(v)))
                            .sum::<u64>();
                    n += 3;
                }
            }
            total += sum;
            worst = worst.max(sum as f64 / n as f64);
        }
    }
    (total as f64 / f64::from(w * h * 3), worst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_composing_updates_while_an_xterm_is_typed_into_ends_with_the_screen() {
    let xvfb = Xvfb::start(SIZE.0.into(), SIZE.1.into());
    let mut xterm = xvfb.command("xterm");
    xterm.args(["-geometry", "60x16+30+40", "-bg", "white", "-fg", "black"]);
    let _xterm = Running::spawn(xterm);
    let window = xvfb
        .find_window("xterm", Duration::from_secs(20))
        .expect("the xterm window appears");
    let focused = xvfb
        .command("xdotool")
        .args(["windowfocus", "--sync", &window.0.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(focused, "xdotool windowfocus failed");
    let agent = AgentProcess::start(Some(xvfb.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    assert!(matches!(welcome, ServerMessage::Welcome { .. }));
    client.send(with_regions()).await;
    let mut picture = Composed::new();
    let first = picture.next(&mut client, |_| {}).await;
    assert_eq!(first.rects, None, "the first frame is full");
    // Typed through XTEST, as a person types, while the viewer reads.
    let mut typing = xvfb.command("xdotool");
    typing.args([
        "type",
        "--delay",
        "40",
        "damage-limited capture: 0123456789 ok",
    ]);
    let typing = tokio::task::spawn_blocking(move || typing.status());
    let mut updates = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut typed = false;
    // Reads until typing is over and the agent has gone quiet.
    for _ in 0..10_000 {
        let quiet = Duration::from_millis(if typed { 1000 } else { 100 });
        match tokio::time::timeout(quiet, picture.next(&mut client, |_| {})).await {
            Ok(update) => updates.push(update),
            Err(_) if typed => break,
            Err(_) => {}
        }
        typed = typed || typing.is_finished();
        assert!(Instant::now() < deadline, "the agent never went quiet");
    }
    assert!(
        typing.await.unwrap().unwrap().success(),
        "xdotool type failed"
    );
    let want = as_a_full_frame(&xvfb.screenshot());
    let (mean, worst) = difference(picture.picture.as_ref().unwrap(), &want);
    let regions = updates.iter().filter(|u| u.rects.is_some()).count();
    eprintln!(
        "{} updates ({regions} region updates); mean difference {mean:.3}, worst tile {worst:.2}",
        updates.len()
    );
    assert!(
        mean < 0.5 && worst < 12.0,
        "the composed picture is not the screen: {mean:.3} mean, {worst:.2} worst tile"
    );
    assert!(
        regions * 2 > updates.len() && regions >= 10,
        "typing is sent as region updates: {regions} of {}",
        updates.len()
    );
}
