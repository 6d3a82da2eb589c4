//! The X11 screen read straight from the X server: one persistent
//! connection, RandR for the monitor list ([`monitors`]), MIT-SHM for the
//! pixels ([`shm`]; core `GetImage` where shared memory is not offered or
//! stops working), the server's damage reports to know what changed
//! ([`damage`]) and read only that ([`partial`]), and the pixels in BGRX
//! order, which the encoder takes as they are ([`format`]).
//!
//! Why not xcap on X11: for every frame it opens a new connection, asks
//! RandR several times over and pulls the pixels through the socket. On
//! Xvfb a 1920x1080 frame costs about 20 ms that way, 13 ms with `GetImage`
//! on one connection, and under 4 ms here (`benches/capture.rs`).

mod damage;
mod format;
mod monitors;
mod partial;
mod shm;

use std::time::Instant;

use lookout_protocol::MonitorInfo;
use x11rb::connection::Connection as _;
use x11rb::errors::{ConnectError, ReplyOrIdError};
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat};
use x11rb::rust_connection::RustConnection;

use super::{CaptureError, Captured, CapturedImage, Capturer, PixelOrder};
use damage::DamageTracker;
use format::PixelFormat;
use monitors::{Monitors, RECHECK, Rect};
use shm::SharedMemory;

/// How pixels travel from the X server to the capturer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageTransport {
    /// MIT-SHM: the server writes the image into a shared segment.
    SharedMemory,
    /// Core `GetImage`: the image comes through the socket.
    GetImage,
}

/// Why the X11 capturer cannot start or capture.
#[derive(Debug, thiserror::Error)]
pub enum X11Error {
    /// No connection to the X server.
    #[error("cannot connect to the X server")]
    Connect(#[source] ConnectError),
    /// An X request failed, or the connection broke.
    #[error("X11 request failed")]
    Request(#[source] ReplyOrIdError),
    /// The X server's pixel format is not one the X11 capturer reads.
    #[error("unsupported X11 pixel format: depth {depth}, {bits_per_pixel} bits per pixel")]
    Format {
        /// Image depth.
        depth: u8,
        /// Bits per pixel of that depth.
        bits_per_pixel: u8,
    },
    /// An image would not fit in a shared memory segment (over 4 GiB).
    #[error("a {0}-byte image does not fit in a shared memory segment")]
    TooLarge(u64),
    /// The MIT-SHM segment could not be read.
    #[error("cannot read the X11 shared memory segment")]
    ShmRead(#[source] std::io::Error),
}

impl X11Error {
    /// Whether the connection to the X server is gone (or was never made):
    /// only a new connection can capture again.
    pub fn is_disconnected(&self) -> bool {
        matches!(
            self,
            X11Error::Connect(_) | X11Error::Request(ReplyOrIdError::ConnectionError(_))
        )
    }
}

/// An X request's error, whichever step of the request it came from.
fn request(err: impl Into<ReplyOrIdError>) -> X11Error {
    X11Error::Request(err.into())
}

/// Captures the X11 monitors RandR reports (see the `monitors` module for
/// their ids), over one persistent connection, following RandR's changes.
pub struct X11Capturer {
    conn: RustConnection,
    root: xproto::Window,
    format: PixelFormat,
    monitors: Monitors,
    /// `None` while images come through the socket (`GetImage`).
    shm: Option<SharedMemory>,
    /// Damage reports, when the server has the DAMAGE extension: which
    /// monitors changed since their last capture.
    damage: Option<DamageTracker>,
    /// A RandR event arrived since the monitors were last read.
    randr_changed: bool,
    /// When the monitors were last read.
    checked: Instant,
}

impl std::fmt::Debug for X11Capturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Capturer")
            .field("root", &self.root)
            .field("format", &self.format)
            .field("transport", &self.transport())
            .field("monitors", &self.monitors.infos())
            .finish_non_exhaustive()
    }
}

impl X11Capturer {
    /// Connects to `display` (such as `":0"`; `None` reads `DISPLAY`) and
    /// discovers its monitors, using shared memory when the server offers it.
    pub fn new(display: Option<&str>) -> Result<Self, CaptureError> {
        Self::with_transport(display, ImageTransport::SharedMemory)
    }

    /// Like [`X11Capturer::new`], with the transport to prefer: `GetImage`
    /// never tries shared memory (for tests and comparisons);
    /// `SharedMemory` falls back to `GetImage` when it must.
    pub fn with_transport(
        display: Option<&str>,
        preferred: ImageTransport,
    ) -> Result<Self, CaptureError> {
        let (conn, screen_num) = RustConnection::connect(display).map_err(X11Error::Connect)?;
        let screen = conn
            .setup()
            .roots
            .get(screen_num)
            .ok_or(CaptureError::NoMonitors)?;
        let root = screen.root;
        let format = PixelFormat::of_root(conn.setup(), screen)?;
        let monitors = Monitors::discover(&conn, root)?;
        let shm = match preferred {
            ImageTransport::SharedMemory => {
                SharedMemory::start(&conn, monitors.largest_image_len())
            }
            ImageTransport::GetImage => None,
        };
        let damage = DamageTracker::subscribe(&conn, root);
        if monitors.has_randr() {
            select_randr_events(&conn, root);
        }
        Ok(Self {
            conn,
            root,
            format,
            monitors,
            shm,
            damage,
            randr_changed: false,
            checked: Instant::now(),
        })
    }

    /// An X11 capturer for this session, or `None` when this is not an X11
    /// session: no `DISPLAY`, or a Wayland session, where `DISPLAY` is
    /// Xwayland and its root window does not show Wayland windows.
    pub fn from_session() -> Option<Result<Self, CaptureError>> {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let wayland = set("WAYLAND_DISPLAY")
            || std::env::var_os("XDG_SESSION_TYPE").is_some_and(|v| v == "wayland");
        if wayland || !set("DISPLAY") {
            return None;
        }
        Some(Self::new(None))
    }

    /// How images travel now.
    pub fn transport(&self) -> ImageTransport {
        if self.shm.is_some() {
            ImageTransport::SharedMemory
        } else {
            ImageTransport::GetImage
        }
    }

    /// `rect` of the root window as BGRX, through shared memory while it
    /// works.
    fn read_bgrx(&mut self, rect: Rect) -> Result<Vec<u8>, CaptureError> {
        let Some(shm) = &mut self.shm else {
            return self.get_image(rect);
        };
        match shm.image(&self.conn, self.root, rect, &self.format) {
            Ok(pixels) => Ok(pixels),
            Err(shm_err) => {
                // Only give shared memory up if the socket path works: a
                // failure of both is about the request, not SHM.
                let pixels = self.get_image(rect)?;
                let error = &shm_err as &dyn std::error::Error;
                tracing::warn!(error, "MIT-SHM capture failed; using GetImage from now on");
                if let Some(shm) = self.shm.take() {
                    shm.detach(&self.conn);
                }
                Ok(pixels)
            }
        }
    }

    /// The image of `rect` through the socket, as BGRX.
    fn get_image(&self, rect: Rect) -> Result<Vec<u8>, CaptureError> {
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                rect.x,
                rect.y,
                rect.width,
                rect.height,
                u32::MAX,
            )
            .map_err(request)?
            .reply()
            .map_err(request)?;
        self.format.check_depth(reply.depth)?;
        // 32 bits per pixel: rows need no padding, whatever the scanline pad.
        if reply.data.len() as u64 != rect.image_len() {
            return Err(CaptureError::BadImage {
                width: rect.width.into(),
                height: rect.height.into(),
                got: reply.data.len(),
            });
        }
        let mut pixels = reply.data;
        format::to_bgrx(&mut pixels, self.format.layout);
        Ok(pixels)
    }

    /// Reads the events that arrived so far: damage reports mark monitors
    /// changed, a RandR event asks for the monitors to be read again. A
    /// broken connection counts as both (the next request reports it).
    fn read_events(&mut self) {
        loop {
            match self.conn.poll_for_event() {
                Ok(Some(Event::DamageNotify(notify))) => {
                    if let Some(damage) = &mut self.damage {
                        damage.note(&notify, &self.monitors);
                    }
                }
                Ok(Some(Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_))) => {
                    self.randr_changed = true;
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    if let Some(damage) = &mut self.damage {
                        damage.forget();
                    }
                    self.randr_changed = true;
                    return;
                }
            }
        }
    }

    /// Makes the shared memory segment the size of the largest monitor
    /// now; gives shared memory up if a new segment cannot be made.
    fn fit_shared_memory(&mut self) {
        let Some(shm) = &mut self.shm else { return };
        if let Err(err) = shm.fit(&self.conn, self.monitors.largest_image_len()) {
            let error = &err as &dyn std::error::Error;
            tracing::warn!(error, "cannot resize the MIT-SHM segment; using GetImage");
            if let Some(shm) = self.shm.take() {
                shm.detach(&self.conn);
            }
        }
    }
}

/// Asks for RandR's change events on the root window: screen size, CRTC
/// and output changes. Without them the monitors are still re-read every
/// [`RECHECK`].
fn select_randr_events(conn: &RustConnection, root: xproto::Window) {
    let mask = randr::NotifyMask::SCREEN_CHANGE
        | randr::NotifyMask::CRTC_CHANGE
        | randr::NotifyMask::OUTPUT_CHANGE;
    let selected = conn
        .randr_select_input(root, mask)
        .map_err(ReplyOrIdError::from)
        .and_then(|cookie| cookie.check().map_err(ReplyOrIdError::from));
    if let Err(err) = selected {
        tracing::debug!(error = %err, "no RandR events; monitors are re-read on a timer");
    }
}

impl Capturer for X11Capturer {
    fn monitors(&self) -> &[MonitorInfo] {
        self.monitors.infos()
    }

    fn refresh_monitors(&mut self, force: bool) -> Result<Option<Vec<MonitorInfo>>, CaptureError> {
        self.read_events();
        if !(force || self.randr_changed || self.checked.elapsed() >= RECHECK) {
            return Ok(None);
        }
        self.randr_changed = false;
        self.checked = Instant::now();
        if !self.monitors.refresh(&self.conn, self.root)? {
            return Ok(None);
        }
        if let Some(damage) = &mut self.damage {
            damage.forget();
        }
        self.fit_shared_memory();
        Ok(Some(self.monitors.infos().to_vec()))
    }

    fn offers_all_monitors(&self) -> bool {
        self.monitors.has_randr()
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        Ok(self.capture_changes(id, None)?.image)
    }

    fn capture_changes(
        &mut self,
        id: u32,
        previous: Option<CapturedImage>,
    ) -> Result<Captured, CaptureError> {
        let captured = self.capture_damaged(id, previous);
        if captured.is_err() {
            // The damage taken for this capture is lost with it: the next
            // capture of every monitor reads it whole.
            if let Some(damage) = &mut self.damage {
                damage.forget();
            }
        }
        captured
    }

    fn reports_damage(&self) -> bool {
        self.damage.is_some()
    }

    fn unchanged(&mut self, id: u32) -> bool {
        self.read_events();
        self.damage.as_ref().is_some_and(|d| d.unchanged(id))
    }
}
