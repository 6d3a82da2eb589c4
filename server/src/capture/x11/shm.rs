//! MIT-SHM without `unsafe`: the X server writes each image into a shared
//! memory segment, which is read out with `pread`.
//!
//! The segment is made by the server (`CreateSegment`, MIT-SHM 1.2), which
//! hands it to us as a file descriptor. Mapping that file would mean holding
//! a slice that the server may write to behind the compiler's back, and the
//! workspace denies `unsafe`; instead each frame is read out of the segment
//! with `pread`, a cache-sized piece at a time, converted while the piece
//! is in cache, and appended to the frame's buffer. The kernel's copy out of
//! shared memory is the largest cost left (about 2 ms per 1920x1080 frame
//! here; a mapping would save most of it). The segment is sized for the
//! largest monitor when the capturer is built, reused for every frame, and
//! replaced by a bigger one if a monitor grows.

use std::fs::File;
use std::os::unix::fs::FileExt;

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ImageFormat};
use x11rb::rust_connection::RustConnection;

use super::format::{ByteLayout, PixelFormat, to_bgrx};
use super::monitors::Rect;
use super::{X11Error, request};
use crate::capture::CaptureError;

/// Bytes read out of the segment at a time: small enough to stay in the
/// CPU cache while they are converted, so every pixel crosses main memory
/// once on the way out; big enough that the syscalls do not count. A whole
/// number of pixels.
const CHUNK: usize = 128 * 1024;

/// A shared memory segment the server writes images into.
#[derive(Debug)]
pub(super) struct SharedMemory {
    id: shm::Seg,
    /// The segment's file, read with `pread` (see the module docs).
    file: File,
    len: u32,
    /// [`CHUNK`] bytes: where each piece of an image is converted.
    scratch: Vec<u8>,
}

impl SharedMemory {
    /// A segment of `len` bytes (the largest monitor's image), or `None`,
    /// with a log line saying why, when the server cannot make one: the
    /// capturer then uses `GetImage`.
    pub(super) fn start(conn: &RustConnection, len: u64) -> Option<Self> {
        let result = match version(conn) {
            Ok(Some((major, minor))) if (major, minor) < (1, 2) => {
                tracing::info!("MIT-SHM {major}.{minor} has no CreateSegment; using GetImage");
                return None;
            }
            Ok(Some(_)) => Self::create(conn, len),
            Ok(None) => {
                tracing::info!("the X server offers no MIT-SHM; using GetImage");
                return None;
            }
            Err(err) => Err(err),
        };
        match result {
            Ok(segment) => Some(segment),
            Err(err) => {
                let error = &err as &dyn std::error::Error;
                tracing::warn!(error, "cannot set up MIT-SHM; using GetImage");
                None
            }
        }
    }

    fn create(conn: &RustConnection, len: u64) -> Result<Self, X11Error> {
        let size = u32::try_from(len.max(4)).map_err(|_| X11Error::TooLarge(len))?;
        let id = conn.generate_id().map_err(request)?;
        let reply = conn
            .shm_create_segment(id, size, false)
            .map_err(request)?
            .reply()
            .map_err(request)?;
        Ok(Self {
            id,
            file: File::from(reply.shm_fd),
            len: size,
            scratch: vec![0; CHUNK],
        })
    }

    /// Replaces the segment with one of `len` bytes when its size differs
    /// (the monitors changed), detaching the old one: a shrunken desktop
    /// gives its memory back, a grown one needs no resize on first capture.
    pub(super) fn fit(&mut self, conn: &RustConnection, len: u64) -> Result<(), X11Error> {
        if u64::from(self.len) == len.max(4) {
            return Ok(());
        }
        let fitted = Self::create(conn, len)?;
        std::mem::replace(self, fitted).detach(conn);
        Ok(())
    }

    /// Lets the segment go. Best effort, errors not wanted: the server
    /// frees the segment with the connection anyway, and the file closes on
    /// drop here.
    pub(super) fn detach(self, conn: &RustConnection) {
        let _ = conn.shm_detach(self.id).map(|c| c.ignore_error());
    }

    /// The image of `rect` of `root` as BGRX, through the segment (replaced
    /// by a bigger one first if `rect` has outgrown it).
    pub(super) fn image(
        &mut self,
        conn: &RustConnection,
        root: xproto::Window,
        rect: Rect,
        format: &PixelFormat,
    ) -> Result<Vec<u8>, CaptureError> {
        let len = rect.image_len();
        if u64::from(self.len) < len {
            let bigger = Self::create(conn, len)?;
            std::mem::replace(self, bigger).detach(conn);
        }
        let reply = conn
            .shm_get_image(
                root,
                rect.x,
                rect.y,
                rect.width,
                rect.height,
                u32::MAX,
                ImageFormat::Z_PIXMAP.into(),
                self.id,
                0,
            )
            .map_err(request)?
            .reply()
            .map_err(request)?;
        format.check_depth(reply.depth)?;
        if u64::from(reply.size) != len {
            return Err(CaptureError::BadImage {
                width: rect.width.into(),
                height: rect.height.into(),
                got: usize::try_from(reply.size).unwrap_or(usize::MAX),
            });
        }
        let len = usize::try_from(len).map_err(|_| X11Error::TooLarge(len))?;
        self.read_converted(len, format.layout)
    }

    /// The first `len` bytes of the segment, converted from `from` to BGRX
    /// piece by piece on the way (no work for the usual BGRX server).
    fn read_converted(&mut self, len: usize, from: ByteLayout) -> Result<Vec<u8>, CaptureError> {
        let mut pixels = Vec::with_capacity(len);
        while pixels.len() < len {
            let chunk = &mut self.scratch[..CHUNK.min(len - pixels.len())];
            self.file
                .read_exact_at(chunk, pixels.len() as u64)
                .map_err(X11Error::ShmRead)?;
            to_bgrx(chunk, from);
            pixels.extend_from_slice(chunk);
        }
        Ok(pixels)
    }
}

/// The SHM version, or `None` when the server lacks the extension.
fn version(conn: &RustConnection) -> Result<Option<(u16, u16)>, X11Error> {
    if conn
        .extension_information(shm::X11_EXTENSION_NAME)
        .map_err(request)?
        .is_none()
    {
        return Ok(None);
    }
    let reply = conn
        .shm_query_version()
        .map_err(request)?
        .reply()
        .map_err(request)?;
    Ok(Some((reply.major_version, reply.minor_version)))
}
