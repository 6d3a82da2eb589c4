//! Damage-limited capture against a real X server (Xvfb): the X11 capturer
//! reads only what the server reported damaged into a copy of its last
//! image, and that image must still be the screen, exactly, while small
//! windows appear, move and vanish and rectangles are painted everywhere.

use std::time::{Duration, Instant};

use lookout_server::capture::{CapturedImage, Capturer, ImageTransport, X11Capturer};
use lookout_tests::x11::Xvfb;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, Rectangle, WindowClass,
};
use x11rb::rust_connection::RustConnection;

const SIZE: (u16, u16) = (640, 480);

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
