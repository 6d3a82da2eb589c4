//! What one 1920x1080 frame costs to capture: xcap against the X11
//! capturer through shared memory and through `GetImage`, plus a BGRX to
//! RGBA converted copy of a captured frame (which the agent no longer makes:
//! libjpeg-turbo takes BGRX).
//!
//! ```text
//! cargo bench -p lookout-server --bench capture
//! ```
//!
//! Needs `Xvfb` and ImageMagick (`./dev.sh deps`), not a display: the bench
//! starts its own 1920x1080x24 Xvfb and paints the test-pattern desktop on
//! it. xcap takes its display from `DISPLAY` only, and setting that inside
//! this process would be `unsafe` (edition 2024), so the bench runs itself a
//! second time as a child process with `DISPLAY` set to that Xvfb (and
//! `LOOKOUT_BENCH_CHILD` marking it); the child measures, the parent passes
//! it its arguments, waits, kills Xvfb and exits with the child's status.

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the capture bench needs Linux and Xvfb");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::process::Command;
    use std::time::Duration;

    use criterion::Criterion;
    use image::RgbImage;
    use lookout_server::capture::{
        Capturer, ImageTransport, PixelOrder, ScreenCapturer, TestPattern, X11Capturer,
    };
    use lookout_tests::x11::Xvfb;

    const CHILD: &str = "LOOKOUT_BENCH_CHILD";
    const WIDTH: u32 = 1920;
    const HEIGHT: u32 = 1080;

    pub(super) fn main() {
        if std::env::var_os(CHILD).is_some() {
            measure();
            return;
        }
        let xvfb = Xvfb::start(WIDTH, HEIGHT);
        xvfb.set_root_image(&desktop());
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args_os().skip(1))
            .env("DISPLAY", xvfb.display())
            .env(CHILD, "1")
            .status()
            .expect("run the bench under DISPLAY");
        drop(xvfb);
        std::process::exit(status.code().unwrap_or(1));
    }

    /// The test pattern's desktop-like scene (windows, text lines, taskbar):
    /// what the screen holds makes no difference to capture cost, but it
    /// makes a mix-up of pixels visible in the checks below.
    fn desktop() -> RgbImage {
        let scene = TestPattern::still(WIDTH, HEIGHT).render(0.0);
        let rgb = scene
            .pixels
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        RgbImage::from_raw(WIDTH, HEIGHT, rgb).expect("scene size")
    }

    fn measure() {
        let mut xcap = ScreenCapturer::new().expect("xcap sees the Xvfb");
        let mut shm = X11Capturer::new(None).expect("X11 capturer");
        let mut plain =
            X11Capturer::with_transport(None, ImageTransport::GetImage).expect("X11 capturer");
        assert_eq!(shm.transport(), ImageTransport::SharedMemory);
        // Same monitors, same pixels: otherwise the race is not fair.
        assert_eq!(shm.monitors(), xcap.monitors());
        let reference = xcap.capture(0).expect("xcap capture");
        let reference = reference.to_rgba();
        assert_eq!(shm.capture(0).expect("shm").to_rgba(), reference);
        assert_eq!(plain.capture(0).expect("GetImage").to_rgba(), reference);

        // xcap takes ~0.1 s a frame: few samples, or this takes minutes.
        let mut c = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5))
            .configure_from_args();
        let mut group = c.benchmark_group("capture_1920x1080");
        group.bench_function("xcap", |b| b.iter(|| xcap.capture(0).expect("capture")));
        group.bench_function("x11_shm", |b| b.iter(|| shm.capture(0).expect("capture")));
        group.bench_function("x11_get_image", |b| {
            b.iter(|| plain.capture(0).expect("capture"))
        });
        // The conversion alone, through the product's own converting copy
        // (the agent makes none: libjpeg-turbo takes BGRX). A copy, so this
        // includes an allocation and the copy itself.
        let frame = shm.capture(0).expect("capture");
        assert_eq!(frame.order, PixelOrder::Bgrx);
        group.bench_function("bgrx_to_rgba_copy", |b| {
            b.iter(|| black_box(&frame).to_rgba())
        });
        group.finish();
        c.final_summary();
    }
}
