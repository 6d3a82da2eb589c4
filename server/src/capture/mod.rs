//! Where frames come from: the [`Capturer`] trait, its sources (the X11
//! capturer, xcap, the test pattern), and [`open`], which picks one.
//!
//! A capturer is created and used on the capture thread only, so it need not
//! be `Send` (xcap's X11 handles are not guaranteed to be): [`open`] returns
//! a factory that the capture thread calls, at start and again whenever the
//! display went away and may be back.

mod image;
mod pattern;
#[cfg(target_os = "linux")]
mod portal;
mod screen;
#[cfg(target_os = "linux")]
mod wlr;
#[cfg(target_os = "linux")]
mod x11;

#[cfg(target_os = "linux")]
pub use crate::wayland::WlrError;
pub use image::{Captured, CapturedImage, PixelOrder};
pub use pattern::TestPattern;
#[cfg(target_os = "linux")]
pub use portal::params as pipewire_params;
#[cfg(target_os = "linux")]
pub use portal::{PortalCaptureError, PortalCapturer, Remote as PipeWireRemote};
pub use screen::ScreenCapturer;
#[cfg(target_os = "linux")]
pub use wlr::WlrCapturer;
#[cfg(target_os = "linux")]
pub use x11::{ImageTransport, X11Capturer, X11Error};

use lookout_protocol::MonitorInfo;

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The monitor id is not one this capturer offers.
    #[error("no monitor with id {0}")]
    NoSuchMonitor(u32),
    /// xcap failed.
    #[error("screen capture (xcap) failed")]
    Xcap(#[from] xcap::XCapError),
    /// The X11 capturer was asked for, but this is not an X11 session.
    #[error("no X11 session (DISPLAY is not set, or this is a Wayland session)")]
    NoX11Session,
    /// The X11 capturer failed.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    X11(#[from] X11Error),
    /// The wlroots capturer was asked for, but this is not a Wayland
    /// session.
    #[error("no Wayland session (WAYLAND_DISPLAY is not set)")]
    NoWaylandSession,
    /// The wlroots capturer failed.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Wlr(WlrError),
    /// The portal (GNOME/KDE) capturer failed.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Portal(PortalCaptureError),
    /// No backend works in this session; each one's reason is logged.
    #[error("no screen capture backend works here ({0}); try --capture or --source test-pattern")]
    NoBackend(String),
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

impl CaptureError {
    /// Whether this error means the source itself is gone (the connection
    /// to the display broke, or a new one cannot be made): a new capturer
    /// is needed, not another try of this one.
    pub fn is_disconnected(&self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            CaptureError::X11(err) => err.is_disconnected(),
            #[cfg(target_os = "linux")]
            CaptureError::Wlr(err) => err.is_disconnected(),
            // A portal session that failed is gone: a new one is needed.
            #[cfg(target_os = "linux")]
            CaptureError::Portal(_) => true,
            CaptureError::NoX11Session
            | CaptureError::NoWaylandSession
            | CaptureError::NoBackend(_)
            | CaptureError::NoMonitors => true,
            _ => false,
        }
    }
}

/// A source of screen images, one monitor at a time.
pub trait Capturer {
    /// The monitors this source offers now, as announced in `welcome`.
    fn monitors(&self) -> &[MonitorInfo];

    /// Re-reads the monitors if they may have changed (a change was
    /// reported, a re-check is due, or `force`), and returns the new list
    /// when it differs. Cheap when nothing is due; the default, for a
    /// source whose monitors never change, does nothing.
    fn refresh_monitors(&mut self, _force: bool) -> Result<Option<Vec<MonitorInfo>>, CaptureError> {
        Ok(None)
    }

    /// Whether this source lists an "all" entry (`all: true`, the whole
    /// desktop as one picture) when it has more than one monitor: the
    /// `all-monitors` feature. `false` by default.
    fn offers_all_monitors(&self) -> bool {
        false
    }

    /// Captures the current image of monitor `id`.
    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError>;

    /// Captures monitor `id` like [`Capturer::capture`], with where it
    /// changed. `previous`, when given, must equal this source's last
    /// capture of `id`: a source that reports damage reads only the damaged
    /// part of the screen into it and says which part that was. The
    /// default captures everything and cannot tell.
    fn capture_changes(
        &mut self,
        id: u32,
        previous: Option<CapturedImage>,
    ) -> Result<Captured, CaptureError> {
        drop(previous);
        Ok(Captured {
            image: self.capture(id)?,
            changed: None,
        })
    }

    /// Whether [`Capturer::capture_changes`] can use a `previous` image
    /// (the source reports damage); `false` by default, and then making
    /// one would be wasted work.
    fn reports_damage(&self) -> bool {
        false
    }

    /// Whether monitor `id` is known not to have changed since its last
    /// capture, so capturing it again would only return the same image.
    /// `false` means "changed, or no way to know" (the default): the
    /// caller captures and compares.
    fn unchanged(&mut self, _id: u32) -> bool {
        false
    }

    /// For a source that is told when a monitor changed (a compositor
    /// that hands over a copy once it has one): blocks until one of `ids`
    /// may have changed since its last capture, or `until`, and says
    /// whether one did, so the capture thread takes a change when it
    /// arrives, not at its next tick. `None` (the default): this source
    /// cannot tell, the capture thread paces itself by its clock.
    fn wait_change(
        &mut self,
        _ids: &[u32],
        _until: std::time::Instant,
    ) -> Option<Result<bool, CaptureError>> {
        None
    }
}

/// Builds a capturer on the capture thread: once at start, and again each
/// time the display comes back after it went away.
pub type CapturerFactory =
    Box<dyn FnMut() -> Result<Box<dyn Capturer>, CaptureError> + Send + 'static>;

/// Where frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The real screen, through this capture backend.
    Screen(CaptureBackend),
    /// The synthetic test scene.
    TestPattern {
        /// Scene width.
        width: u32,
        /// Scene height.
        height: u32,
        /// Which variant of the scene (`--pattern-seed`).
        seed: u32,
    },
}

/// How the real screen is captured (and input injected: input follows
/// the capture backend, see [`crate::input::desktop_input`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureBackend {
    /// Chosen from the session: wlroots in a Wayland session whose
    /// compositor offers screencopy, X11 (one connection, shared memory)
    /// in an X11 session, else xcap.
    #[default]
    Auto,
    /// The X11 capturer only.
    X11,
    /// wlroots screencopy only (sway, Wayfire, river, Hyprland...).
    Wlr,
    /// The ScreenCast and RemoteDesktop portals with PipeWire (GNOME,
    /// KDE): the consent dialog once, then its restore token.
    Portal,
    /// xcap only: the portable path (Wayland, macOS, Windows), and the
    /// straightforward baseline the benchmarks compare against.
    Xcap,
}

/// The screen backend the capturer settled on, shared with the input
/// factory ([`crate::input::desktop_input`]) so that input follows it.
/// Cheap to clone; empty until a screen capturer opened.
#[derive(Debug, Clone, Default)]
pub struct ChosenBackend(std::sync::Arc<std::sync::Mutex<Option<CaptureBackend>>>);

impl ChosenBackend {
    /// The backend chosen, once one is.
    pub fn get(&self) -> Option<CaptureBackend> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, backend: CaptureBackend) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(backend);
    }
}

/// The capturer factory for `source`. The capturer itself is built when
/// the capture thread calls the factory, and that is when a backend that
/// cannot run here is found out.
///
/// With [`CaptureBackend::Auto`], the backend that worked first is kept
/// for every later call: when the X server is restarting, X11 fails for a
/// moment, and falling back to xcap then would keep the slow path for good.
/// The backend used is told to `chosen`, which input follows.
pub fn open(source: Source, chosen: ChosenBackend) -> CapturerFactory {
    match source {
        Source::Screen(mut backend) => Box::new(move || {
            let (capturer, used) = open_screen(backend)?;
            backend = used;
            chosen.set(used);
            Ok(capturer)
        }),
        Source::TestPattern {
            width,
            height,
            seed,
        } => Box::new(move || {
            Ok(Box::new(TestPattern::new(width, height).seeded(seed)) as Box<dyn Capturer>)
        }),
    }
}

/// The screen through `backend`, and the backend used. In a Wayland
/// session wlroots screencopy is tried first (X11 there is Xwayland, whose
/// root window shows no Wayland window); on X11 the direct capturer (one
/// connection, shared memory) costs a fraction of xcap per frame; xcap
/// covers the rest, and `Auto` falls back to it when the others fail. What
/// was chosen, and why, is logged.
fn open_screen(
    backend: CaptureBackend,
) -> Result<(Box<dyn Capturer>, CaptureBackend), CaptureError> {
    #[cfg(target_os = "linux")]
    if matches!(backend, CaptureBackend::Auto | CaptureBackend::Wlr) {
        match WlrCapturer::from_session() {
            Some(Ok(wlr)) => {
                tracing::info!(
                    reason = "WAYLAND_DISPLAY is set and the compositor offers screencopy",
                    "screen capture: wlroots"
                );
                return Ok((Box::new(wlr), CaptureBackend::Wlr));
            }
            Some(Err(err)) if backend == CaptureBackend::Wlr => return Err(err),
            Some(Err(err)) => {
                let error = &err as &dyn std::error::Error;
                tracing::info!(
                    error,
                    "Wayland session without wlroots capture; trying the others"
                );
            }
            None if backend == CaptureBackend::Wlr => {
                return Err(CaptureError::NoWaylandSession);
            }
            None => {}
        }
    }
    #[cfg(target_os = "linux")]
    if backend == CaptureBackend::Portal
        || (backend == CaptureBackend::Auto
            && portal::suits(
                std::env::var_os("WAYLAND_DISPLAY").as_deref(),
                std::env::var("XDG_CURRENT_DESKTOP").ok().as_deref(),
            ))
    {
        match PortalCapturer::from_portal() {
            Ok(portal) => {
                tracing::info!(
                    reason = if backend == CaptureBackend::Portal {
                        "asked for (--capture portal)"
                    } else {
                        "XDG_CURRENT_DESKTOP names GNOME or KDE, whose screen only the portals share"
                    },
                    "screen capture: ScreenCast portal and PipeWire"
                );
                return Ok((Box::new(portal), CaptureBackend::Portal));
            }
            Err(err) if backend == CaptureBackend::Portal => return Err(err),
            Err(err) => {
                let error = &err as &dyn std::error::Error;
                tracing::warn!(error, "the screencast portal failed; trying the others");
            }
        }
    }
    #[cfg(target_os = "linux")]
    if !matches!(backend, CaptureBackend::Xcap | CaptureBackend::Portal) {
        match X11Capturer::from_session() {
            Some(Ok(x11)) => {
                tracing::info!(transport = ?x11.transport(), "screen capture: X11");
                return Ok((Box::new(x11), CaptureBackend::X11));
            }
            Some(Err(err)) if backend == CaptureBackend::X11 => return Err(err),
            Some(Err(err)) => {
                let error = &err as &dyn std::error::Error;
                tracing::info!(error, "X11 capture unavailable; falling back to xcap");
            }
            None if backend == CaptureBackend::X11 => return Err(CaptureError::NoX11Session),
            None => {}
        }
    }
    // Elsewhere xcap is the only screen backend, whichever was asked for.
    #[cfg(not(target_os = "linux"))]
    let _ = backend;
    let xcap = match ScreenCapturer::new() {
        Ok(xcap) => xcap,
        Err(err) if backend == CaptureBackend::Auto => {
            let error = &err as &dyn std::error::Error;
            tracing::warn!(error, "xcap cannot capture either");
            return Err(CaptureError::NoBackend(
                "no wlroots compositor, no X11 session, and xcap failed".into(),
            ));
        }
        Err(err) => return Err(err),
    };
    tracing::info!("screen capture: xcap");
    Ok((Box::new(xcap), CaptureBackend::Xcap))
}
