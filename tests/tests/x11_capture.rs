//! The X11 capturer against a real X server (Xvfb): it returns exactly the
//! pixels on the screen, through shared memory and through `GetImage` alike,
//! lists every RandR monitor (xcap's among them) and follows their changes.

use std::process::Command;

use image::RgbImage;
use lookout_server::capture::{
    CaptureError, CapturedImage, Capturer, ImageTransport, PixelOrder, ScreenCapturer, X11Capturer,
    X11Error,
};
use lookout_tests::x11::{Xvfb, test_card};

/// Set in the child process of [`monitor_ids_and_pixels_match_xcap`].
const XCAP_CHILD: &str = "LOOKOUT_TEST_XCAP_CHILD";

/// Asserts that `captured` is `expected` pixel for pixel, with alpha 255.
/// On failure tells how many pixels differ and where the first is, instead
/// of printing two megabytes of bytes.
fn assert_same_pixels(captured: &CapturedImage, expected: &RgbImage) {
    assert_eq!(
        (captured.width, captured.height),
        expected.dimensions(),
        "image size"
    );
    let want: Vec<u8> = expected
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let got = captured.to_rgba();
    if got == want {
        return;
    }
    let mut differing = got
        .chunks_exact(4)
        .zip(want.chunks_exact(4))
        .enumerate()
        .filter(|(_, (got, want))| got != want);
    let first = differing.next().map(|(i, (got, want))| {
        let i = i as u32;
        (i % captured.width, i / captured.width, got, want)
    });
    panic!(
        "{} pixels differ; first at (x, y, got, want) = {first:?}",
        differing.count() + 1
    );
}

/// A second picture, unlike the test card everywhere: diagonal stripes.
fn stripes(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = ((x + y) % 32 * 8) as u8;
        image::Rgb([v, 255 - v, (x % 256) as u8])
    })
}

#[test]
fn shared_memory_capture_returns_exactly_the_painted_root_window() {
    let xvfb = Xvfb::start(640, 480);
    let card = test_card(640, 480);
    xvfb.set_root_image(&card);

    let mut capturer = X11Capturer::new(Some(xvfb.display())).unwrap();
    assert_eq!(capturer.transport(), ImageTransport::SharedMemory);
    assert_same_pixels(&capturer.capture(0).unwrap(), &card);
}

#[test]
fn shared_memory_and_get_image_agree_frame_after_frame() {
    let xvfb = Xvfb::start(640, 480);
    let mut shm = X11Capturer::new(Some(xvfb.display())).unwrap();
    let mut plain =
        X11Capturer::with_transport(Some(xvfb.display()), ImageTransport::GetImage).unwrap();
    assert_eq!(shm.transport(), ImageTransport::SharedMemory);
    assert_eq!(plain.transport(), ImageTransport::GetImage);

    // Two different pictures in turn: the reused segment must show the new
    // one, not leftovers of the old.
    for picture in [test_card(640, 480), stripes(640, 480)] {
        xvfb.set_root_image(&picture);
        let via_shm = shm.capture(0).unwrap();
        let via_socket = plain.capture(0).unwrap();
        assert_same_pixels(&via_shm, &picture);
        assert_same_pixels(&via_socket, &picture);
        assert_eq!(via_shm.order, PixelOrder::Bgrx);
        assert_eq!(
            via_shm, via_socket,
            "raw BGRX differs between the transports"
        );
    }
    assert_eq!(shm.transport(), ImageTransport::SharedMemory, "no fallback");
}

#[test]
fn one_640x480_monitor_as_randr_reports_it_and_no_other_id() {
    let xvfb = Xvfb::start(640, 480);
    let mut capturer = X11Capturer::new(Some(xvfb.display())).unwrap();
    let monitors = capturer.monitors();
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    let m = &monitors[0];
    assert_eq!((m.id, m.x, m.y, m.width, m.height), (0, 0, 0, 640, 480));
    // Xvfb names no primary output, so RandR (and xcap, see below) says
    // "not primary"; the agent then starts viewers on the first monitor.
    assert_eq!((m.name.as_str(), m.primary), ("screen", false));
    assert!(matches!(
        capturer.capture(1),
        Err(CaptureError::NoSuchMonitor(1))
    ));
}

#[test]
fn no_x_server_is_a_connect_error() {
    // Xvfb::start stays far below this display number, so nothing listens
    // on it. (Not higher: x11rb overflows computing a TCP port above 59535.)
    let err = X11Capturer::new(Some(":5999")).unwrap_err();
    assert!(
        matches!(err, CaptureError::X11(X11Error::Connect(_))),
        "{err:?}"
    );
}

/// xcap reads `DISPLAY` from the environment only, and this process's
/// environment is not ours to change (other tests run in its threads, and
/// `set_var` is `unsafe`). So the comparison runs in a child process: this
/// same test binary, this one test, `DISPLAY` set to a fresh Xvfb.
#[test]
fn monitor_ids_and_pixels_match_xcap() {
    if std::env::var_os(XCAP_CHILD).is_some() {
        compare_with_xcap_here();
        return;
    }
    let xvfb = Xvfb::start(640, 480);
    xvfb.set_root_image(&test_card(640, 480));
    // A monitor without an output, as people split a wide screen: the X11
    // capturer lists it too.
    RandrClient::new(&xvfb).set_virtual_monitor("lookout-virtual", 320, 240);
    // Output captured, shown only on failure: the child's own "test result"
    // line would otherwise read like a second test run.
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "x11_capture::monitor_ids_and_pixels_match_xcap"])
        .args(["--nocapture", "--test-threads=1"])
        .env("DISPLAY", xvfb.display())
        .env(XCAP_CHILD, "1")
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the comparison under DISPLAY failed:\n{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
}

fn compare_with_xcap_here() {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::randr::ConnectionExt as _;
    let (conn, screen) = x11rb::connect(None).unwrap();
    let root = conn.setup().roots[screen].root;
    let listed = conn
        .randr_get_monitors(root, true)
        .unwrap()
        .reply()
        .unwrap();
    assert_eq!(listed.monitors.len(), 2, "the virtual monitor is listed");

    let mut xcap = ScreenCapturer::new().unwrap();
    let mut x11 = X11Capturer::new(None).unwrap();
    let names: Vec<_> = x11.monitors().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["lookout-virtual", "screen", "all"],
        "every RandR monitor, then the whole desktop"
    );
    let all = x11.monitors().last().cloned().unwrap();
    assert!(all.all && (all.x, all.y, all.width, all.height) == (0, 0, 640, 480));
    let whole = x11.capture(all.id).unwrap();
    assert_eq!((whole.width, whole.height), (640, 480));
    // Each monitor xcap lists is listed alike (ids aside), with its pixels.
    let listed = xcap.monitors().to_vec();
    assert!(!listed.is_empty());
    for theirs in listed {
        let ours = x11
            .monitors()
            .iter()
            .find(|m| m.name == theirs.name)
            .cloned()
            .unwrap_or_else(|| panic!("{theirs:?} not listed"));
        let geometry = |m: &lookout_protocol::MonitorInfo| (m.x, m.y, m.width, m.height);
        assert_eq!(geometry(&ours), geometry(&theirs));
        assert_eq!(
            x11.capture(ours.id).unwrap().to_rgba(),
            xcap.capture(theirs.id).unwrap().to_rgba(),
            "pixels differ from xcap's"
        );
    }
}

/// `xrandr --setmonitor` sends no event, so this catches a capturer that
/// waits for one: a forced refresh must see the change.
#[test]
fn a_redefined_monitor_is_followed_and_a_removed_one_refused() {
    let xvfb = Xvfb::start(640, 480);
    let randr = RandrClient::new(&xvfb);
    randr.set_monitor("lookout-part", 320, 240);
    let mut capturer = X11Capturer::new(Some(xvfb.display())).unwrap();
    let names: Vec<_> = capturer.monitors().iter().map(|m| &m.name).collect();
    assert_eq!(names, ["lookout-part"], "it took the output from `screen`");
    assert_eq!(capturer.capture(0).unwrap().width, 320);

    randr.delete_monitor("lookout-part");
    randr.set_monitor("lookout-part", 400, 300);
    let changed = capturer.refresh_monitors(true).unwrap().expect("a change");
    assert_eq!((changed[0].id, changed[0].width), (0, 400), "same id");
    let image = capturer.capture(0).unwrap();
    assert_eq!((image.width, image.height), (400, 300));
    // The segment was made for 320x240; a bigger one replaced it.
    assert_eq!(capturer.transport(), ImageTransport::SharedMemory);
    let m = &capturer.monitors()[0];
    assert_eq!((m.width, m.height), (400, 300));

    // The automatic `screen` monitor comes back, as a new id: id 0 is gone.
    randr.delete_monitor("lookout-part");
    let changed = capturer.refresh_monitors(true).unwrap().expect("a change");
    let ids: Vec<_> = changed.iter().map(|m| (m.id, m.name.as_str())).collect();
    assert_eq!(ids, [(1, "screen")]);
    assert_eq!(capturer.capture(1).unwrap().width, 640);
    assert!(
        capturer.refresh_monitors(true).unwrap().is_none(),
        "no change"
    );
    assert!(matches!(
        capturer.capture(0),
        Err(CaptureError::NoSuchMonitor(0))
    ));
}

/// Edits the RandR monitors of an Xvfb, as `xrandr --setmonitor` and
/// `--delmonitor` would (xrandr itself is not needed).
struct RandrClient {
    conn: x11rb::rust_connection::RustConnection,
    root: u32,
    output: u32,
}

impl RandrClient {
    fn new(xvfb: &Xvfb) -> Self {
        use x11rb::connection::Connection as _;
        use x11rb::protocol::randr::ConnectionExt as _;
        let (conn, screen) = x11rb::connect(Some(xvfb.display())).unwrap();
        let root = conn.setup().roots[screen].root;
        let listed = conn
            .randr_get_monitors(root, true)
            .unwrap()
            .reply()
            .unwrap();
        let output = listed.monitors[0].outputs[0];
        Self { conn, root, output }
    }

    fn atom(&self, name: &str) -> u32 {
        use x11rb::protocol::xproto::ConnectionExt as _;
        let cookie = self.conn.intern_atom(false, name.as_bytes()).unwrap();
        cookie.reply().unwrap().atom
    }

    /// A monitor at the top left on Xvfb's only output.
    fn set_monitor(&self, name: &str, width: u16, height: u16) {
        self.set(name, width, height, vec![self.output]);
    }

    /// A monitor at the top left on no output, as people define them to
    /// split a wide screen.
    fn set_virtual_monitor(&self, name: &str, width: u16, height: u16) {
        self.set(name, width, height, Vec::new());
    }

    fn set(&self, name: &str, width: u16, height: u16, outputs: Vec<u32>) {
        use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
        let monitor = MonitorInfo {
            name: self.atom(name),
            primary: false,
            automatic: false,
            x: 0,
            y: 0,
            width,
            height,
            width_in_millimeters: 0,
            height_in_millimeters: 0,
            outputs,
        };
        let cookie = self.conn.randr_set_monitor(self.root, monitor).unwrap();
        cookie.check().unwrap();
    }

    fn delete_monitor(&self, name: &str) {
        use x11rb::protocol::randr::ConnectionExt as _;
        let atom = self.atom(name);
        let cookie = self.conn.randr_delete_monitor(self.root, atom).unwrap();
        cookie.check().unwrap();
    }
}

#[test]
fn damage_reports_tell_a_still_screen_from_a_changed_one() {
    let xvfb = Xvfb::start(320, 240);
    xvfb.set_root_image(&test_card(320, 240));
    let mut x11 = X11Capturer::new(Some(xvfb.display())).unwrap();
    assert!(!x11.unchanged(0), "never captured: must count as changed");
    let first = x11.capture(0).unwrap();
    // Nothing draws: after the damage of painting has drained, still.
    let settled = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        x11.unchanged(0)
    });
    assert!(settled, "a still screen never reported as unchanged");
    assert_eq!(x11.capture(0).unwrap(), first);
    assert!(
        x11.unchanged(0),
        "a capture of a still screen made it changed"
    );
    // A change anywhere on the monitor is reported.
    xvfb.set_root_image(&stripes(320, 240));
    let noticed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !x11.unchanged(0)
    });
    assert!(noticed, "a change was not reported");
    assert_ne!(x11.capture(0).unwrap(), first);
}
