//! wlroots screencopy (`zwlr_screencopy_manager_v1`): one copy in flight
//! per monitor, into a shared-memory buffer of the agent's (a memfd).
//!
//! A copy is asked for in two steps: `capture_output` makes a frame, whose
//! events describe the buffer it wants; once they are done (`buffer_done`,
//! or the one `buffer` event before version 3) the handler here makes or
//! reuses a buffer and asks for the copy, `copy` (now) or
//! `copy_with_damage` (once something changed: the compositor holds it
//! until then, which is what makes a still screen cost nothing). The
//! frame ends `ready`, with the damage box for a damage copy, or `failed`.

use std::collections::HashMap;
use std::fs::File;

use wayland_client::protocol::{wl_buffer, wl_shm, wl_shm_pool};
use wayland_client::{Connection, Dispatch, Proxy as _, QueueHandle, WEnum};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1 as frame_v1, zwlr_screencopy_manager_v1 as manager_v1,
};

use super::State;
use crate::capture::PixelOrder;
use crate::regions::Rect;

/// The largest output side accepted from the compositor, in pixels.
pub(crate) const MAX_SIDE: u32 = 16_384;

/// The bytes a row may have beyond its pixels (alignment padding).
const MAX_ROW_PADDING: u32 = 4096;

/// How a copy waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyMode {
    /// Copy the next frame.
    Whole,
    /// Copy once something changed since this client's last damage copy.
    Damage,
}

/// Where a copy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The frame describes the buffer it wants.
    Describing,
    /// The copy was asked for; the compositor fills the buffer.
    Copying,
    /// The buffer holds the copy.
    Ready,
    /// The compositor refused (or offered no format the agent reads).
    Failed,
}

/// A buffer the compositor offered to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) format: wl_shm::Format,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) stride: u32,
}

impl Layout {
    /// The offer if the agent reads it and its size is sane: a length from
    /// the network, bounded before anything is allocated for it.
    fn checked(
        format: WEnum<wl_shm::Format>,
        width: u32,
        height: u32,
        stride: u32,
    ) -> Option<Self> {
        let format = format.into_result().ok()?;
        pixel_order(format)?;
        let sane = (1..=MAX_SIDE).contains(&width)
            && (1..=MAX_SIDE).contains(&height)
            && stride >= width * 4
            && stride - width * 4 <= MAX_ROW_PADDING;
        sane.then_some(Layout {
            format,
            width,
            height,
            stride,
        })
    }

    /// The buffer's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        u64::from(self.stride) * u64::from(self.height)
    }

    /// The byte order of its pixels.
    pub(crate) fn order(&self) -> PixelOrder {
        pixel_order(self.format).unwrap_or(PixelOrder::Bgrx)
    }
}

/// The agent's byte order for a `wl_shm` format it reads: XRGB8888 is
/// B, G, R, X in memory (little-endian words), XBGR8888 is R, G, B, X; the
/// alpha of the A variants is not looked at.
pub(crate) fn pixel_order(format: wl_shm::Format) -> Option<PixelOrder> {
    match format {
        wl_shm::Format::Xrgb8888 | wl_shm::Format::Argb8888 => Some(PixelOrder::Bgrx),
        wl_shm::Format::Xbgr8888 | wl_shm::Format::Abgr8888 => Some(PixelOrder::Rgba),
        _ => None,
    }
}

/// A shared-memory buffer: a memfd the compositor writes and the agent
/// reads with `pread` (no mapping, so no `unsafe`).
#[derive(Debug)]
pub(crate) struct ShmBuffer {
    pub(crate) file: File,
    pool: wl_shm_pool::WlShmPool,
    pub(crate) buffer: wl_buffer::WlBuffer,
    pub(crate) layout: Layout,
}

impl ShmBuffer {
    fn new(shm: &wl_shm::WlShm, layout: Layout, qh: &QueueHandle<State>) -> std::io::Result<Self> {
        let fd = rustix::fs::memfd_create("lookout-screencopy", rustix::fs::MemfdFlags::CLOEXEC)?;
        let file = File::from(fd);
        file.set_len(layout.len())?;
        let len = i32::try_from(layout.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let pool = shm.create_pool(std::os::fd::AsFd::as_fd(&file), len, qh, ());
        let buffer = pool.create_buffer(
            0,
            layout.width as i32,
            layout.height as i32,
            layout.stride as i32,
            layout.format,
            qh,
            (),
        );
        Ok(ShmBuffer {
            file,
            pool,
            buffer,
            layout,
        })
    }

    fn destroy(self) {
        self.buffer.destroy();
        self.pool.destroy();
    }
}

/// One monitor's copy.
#[derive(Debug)]
pub(crate) struct Slot {
    frame: Option<frame_v1::ZwlrScreencopyFrameV1>,
    pub(crate) mode: CopyMode,
    pub(crate) phase: Phase,
    offer: Option<Layout>,
    /// The damage reported for this copy (a bounding box).
    pub(crate) damage: Option<Rect>,
    /// The image is upside down (`y_invert`).
    pub(crate) y_invert: bool,
    /// The buffer, kept from copy to copy while its layout holds.
    pub(crate) buffer: Option<ShmBuffer>,
}

/// The copies, by monitor id.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    slots: HashMap<u32, Slot>,
    /// Set when a copy was asked for or failed inside a handler and a
    /// buffer could not be made: the error, for the capturer to report.
    pub(crate) memory_error: Option<std::io::Error>,
}

impl Frames {
    /// Starts a copy of `output` as monitor `id`, ending any copy of it in
    /// flight (its buffer is kept).
    pub(crate) fn start(
        &mut self,
        manager: &manager_v1::ZwlrScreencopyManagerV1,
        output: &wayland_client::protocol::wl_output::WlOutput,
        id: u32,
        mode: CopyMode,
        qh: &QueueHandle<State>,
    ) {
        let buffer = self.slots.remove(&id).and_then(|slot| {
            if let Some(frame) = slot.frame {
                frame.destroy();
            }
            slot.buffer
        });
        let frame = manager.capture_output(0, output, qh, id);
        self.slots.insert(
            id,
            Slot {
                frame: Some(frame),
                mode,
                phase: Phase::Describing,
                offer: None,
                damage: None,
                y_invert: false,
                buffer,
            },
        );
    }

    /// The copy of monitor `id`, if one was started.
    pub(crate) fn slot(&self, id: u32) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// Ends every copy of monitors not in `ids` (gone outputs).
    pub(crate) fn keep_only(&mut self, ids: &[u32]) {
        let gone: Vec<u32> = self
            .slots
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(slot) = self.slots.remove(&id) {
                if let Some(frame) = slot.frame {
                    frame.destroy();
                }
                if let Some(buffer) = slot.buffer {
                    buffer.destroy();
                }
            }
        }
    }
}

/// The frame's buffer is described: make or reuse a buffer, ask for the copy.
fn copy(
    state: &mut State,
    frame: &frame_v1::ZwlrScreencopyFrameV1,
    id: u32,
    qh: &QueueHandle<State>,
) {
    let Some(slot) = state.frames.slots.get_mut(&id) else {
        return;
    };
    if slot.phase != Phase::Describing {
        return;
    }
    let (Some(layout), Some(shm)) = (slot.offer, state.shm.as_ref()) else {
        slot.phase = Phase::Failed;
        return;
    };
    if slot.buffer.as_ref().is_none_or(|b| b.layout != layout) {
        if let Some(old) = slot.buffer.take() {
            old.destroy();
        }
        match ShmBuffer::new(shm, layout, qh) {
            Ok(buffer) => slot.buffer = Some(buffer),
            Err(err) => {
                state.frames.memory_error = Some(err);
                slot.phase = Phase::Failed;
                return;
            }
        }
    }
    let Some(buffer) = &slot.buffer else { return };
    match slot.mode {
        CopyMode::Whole => frame.copy(&buffer.buffer),
        CopyMode::Damage => frame.copy_with_damage(&buffer.buffer),
    }
    slot.phase = Phase::Copying;
}

impl Dispatch<frame_v1::ZwlrScreencopyFrameV1, u32> for State {
    fn event(
        state: &mut Self,
        frame: &frame_v1::ZwlrScreencopyFrameV1,
        event: frame_v1::Event,
        id: &u32,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        // Events of a frame that was replaced are not this slot's.
        fn current<'a>(
            state: &'a mut State,
            id: &u32,
            frame: &frame_v1::ZwlrScreencopyFrameV1,
        ) -> Option<&'a mut Slot> {
            state
                .frames
                .slots
                .get_mut(id)
                .filter(|s| s.frame.as_ref() == Some(frame))
        }
        match event {
            frame_v1::Event::Buffer {
                format,
                width,
                height,
                stride,
            } => {
                let Some(slot) = current(state, id, frame) else {
                    return;
                };
                if slot.offer.is_none() {
                    slot.offer = Layout::checked(format, width, height, stride);
                }
                // Before version 3 this is the only description.
                if frame.version() < 3 {
                    copy(state, frame, *id, qh);
                }
            }
            frame_v1::Event::BufferDone if current(state, id, frame).is_some() => {
                copy(state, frame, *id, qh);
            }
            frame_v1::Event::Flags { flags } => {
                if let Some(slot) = current(state, id, frame) {
                    slot.y_invert = flags
                        .into_result()
                        .is_ok_and(|f| f.contains(frame_v1::Flags::YInvert));
                }
            }
            frame_v1::Event::Damage {
                x,
                y,
                width,
                height,
            } => {
                if let Some(slot) = current(state, id, frame) {
                    let rect = Rect {
                        x,
                        y,
                        width,
                        height,
                    };
                    slot.damage = Some(match slot.damage {
                        Some(d) => d.union(&rect),
                        None => rect,
                    });
                }
            }
            frame_v1::Event::Ready { .. } => {
                if let Some(slot) = current(state, id, frame) {
                    slot.phase = Phase::Ready;
                    if let Some(frame) = slot.frame.take() {
                        frame.destroy();
                    }
                }
            }
            frame_v1::Event::Failed => {
                if let Some(slot) = current(state, id, frame) {
                    slot.phase = Phase::Failed;
                    if let Some(frame) = slot.frame.take() {
                        frame.destroy();
                    }
                }
            }
            _ => {}
        }
    }
}

wayland_client::delegate_noop!(State: manager_v1::ZwlrScreencopyManagerV1);
wayland_client::delegate_noop!(State: wl_shm_pool::WlShmPool);
wayland_client::delegate_noop!(State: ignore wl_buffer::WlBuffer);
