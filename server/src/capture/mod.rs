//! Where frames come from: the [`Capturer`] trait and its sources.
//!
//! A capturer is created and used on the capture thread only, so it need not
//! be `Send` (xcap's X11 handles are not guaranteed to be).

mod pattern;
mod screen;

pub use pattern::TestPattern;
pub use screen::ScreenCapturer;

use lookout_protocol::MonitorInfo;

/// One captured image, tightly packed RGBA, 4 bytes per pixel, rows top to
/// bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
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
}

/// A source of screen images, one monitor at a time.
pub trait Capturer {
    /// The monitors this source offers, as announced in `welcome`.
    fn monitors(&self) -> &[MonitorInfo];

    /// Captures the current image of monitor `id`.
    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError>;
}

/// Builds a capturer on the capture thread.
pub type CapturerFactory =
    Box<dyn FnOnce() -> Result<Box<dyn Capturer>, CaptureError> + Send + 'static>;
