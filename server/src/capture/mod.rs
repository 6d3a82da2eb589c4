//! Where frames come from: the [`Capturer`] trait and its sources.
//!
//! A capturer is created and used on the capture thread only, so it need not
//! be `Send` (xcap's X11 handles are not guaranteed to be).

mod pattern;
mod screen;
#[cfg(target_os = "linux")]
mod x11;

pub use pattern::TestPattern;
pub use screen::ScreenCapturer;
#[cfg(target_os = "linux")]
pub use x11::{BgrxImage, ImageTransport, X11Capturer, bgrx_to_rgba_in_place};

use lookout_protocol::MonitorInfo;

/// One captured image, tightly packed, 4 bytes per pixel, rows top to
/// bottom, in the order the source produces (the encoder takes either, so
/// no source converts for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub pixels: Vec<u8>,
    /// What the four bytes of a pixel are.
    pub order: PixelOrder,
}

/// The byte order of a 4-byte pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelOrder {
    /// Red, green, blue, alpha (opaque).
    Rgba,
    /// Blue, green, red, padding: an X server's own layout.
    Bgrx,
}

impl CapturedImage {
    /// An RGBA image.
    pub fn rgba(width: u32, height: u32, pixels: Vec<u8>) -> Self {
        Self {
            width,
            height,
            pixels,
            order: PixelOrder::Rgba,
        }
    }

    /// The pixels as opaque RGBA: a copy, converted if need be (for tests
    /// and comparisons, not for the frame path).
    pub fn to_rgba(&self) -> Vec<u8> {
        match self.order {
            PixelOrder::Rgba => self.pixels.clone(),
            PixelOrder::Bgrx => self
                .pixels
                .chunks_exact(4)
                .flat_map(|p| [p[2], p[1], p[0], 255])
                .collect(),
        }
    }
}

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The monitor id is not one this capturer offers.
    #[error("no monitor with id {0}")]
    NoSuchMonitor(u32),
    /// The platform capture call failed.
    #[error("screen capture failed")]
    Screen(#[from] xcap::XCapError),
    /// The capture thread could not be started.
    #[error("cannot start the capture thread")]
    Thread(#[source] std::io::Error),
    /// The capture thread ended before reporting its monitors.
    #[error("the capture thread died while starting")]
    ThreadDied,
    /// The chosen capture backend cannot run here.
    #[error("{0}")]
    Unavailable(String),
    /// The platform offers no monitor at all.
    #[error("no monitor found (is there a display? try --source test-pattern)")]
    NoMonitors,
    /// The platform returned an image whose buffer does not match its size.
    #[error("capture returned {got} bytes for a {width}x{height} image")]
    BadImage {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Buffer length.
        got: usize,
    },
    /// An image would not fit in a shared memory segment (over 4 GiB).
    #[cfg(target_os = "linux")]
    #[error("a {0}-byte image does not fit in a shared memory segment")]
    X11TooLarge(u64),
    /// No connection to the X server.
    #[cfg(target_os = "linux")]
    #[error("cannot connect to the X server")]
    X11Connect(#[source] x11rb::errors::ConnectError),
    /// An X request failed, or the connection broke.
    #[cfg(target_os = "linux")]
    #[error("X11 request failed")]
    X11(#[source] x11rb::errors::ReplyOrIdError),
    /// The X server's pixel format is not one the X11 capturer reads.
    #[cfg(target_os = "linux")]
    #[error("unsupported X11 pixel format: depth {depth}, {bits_per_pixel} bits per pixel")]
    X11Format {
        /// Image depth.
        depth: u8,
        /// Bits per pixel of that depth.
        bits_per_pixel: u8,
    },
    /// The MIT-SHM segment could not be read.
    #[cfg(target_os = "linux")]
    #[error("cannot read the X11 shared memory segment")]
    X11ShmRead(#[source] std::io::Error),
}

/// A source of screen images, one monitor at a time.
pub trait Capturer {
    /// The monitors this source offers, as announced in `welcome`.
    fn monitors(&self) -> &[MonitorInfo];

    /// Captures the current image of monitor `id`.
    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError>;

    /// Whether monitor `id` is known not to have changed since its last
    /// capture, so capturing it again would only return the same image.
    /// `false` means "changed, or no way to know" (the default): the
    /// caller captures and compares.
    fn unchanged(&mut self, _id: u32) -> bool {
        false
    }
}

/// Builds a capturer on the capture thread.
pub type CapturerFactory =
    Box<dyn FnOnce() -> Result<Box<dyn Capturer>, CaptureError> + Send + 'static>;
