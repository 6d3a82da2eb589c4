//! What the window shows: the frame on screen, drawn letterboxed into a
//! buffer of the window's size, and where it sits there (which is also how
//! a pointer position maps back to a frame pixel).

use std::sync::Arc;

use crate::decode::DecodedFrame;
use crate::layout::{Placement, window_to_frame};
use crate::scaler::Scaler;

/// The window's pixels and the frame they show.
#[derive(Debug, Default)]
pub(crate) struct Canvas {
    /// The frame on screen.
    frame: Option<Arc<DecodedFrame>>,
    /// `size.0 * size.1` pixels, what the window shows.
    buffer: Vec<u32>,
    size: (usize, usize),
    /// Where `frame` sits in `buffer`.
    placement: Option<Placement>,
    /// `buffer` must be redrawn.
    dirty: bool,
    /// The frame is drawn at half brightness: it is not live.
    dimmed: bool,
    scaler: Scaler,
}

impl Canvas {
    /// An empty canvas; the first [`Self::draw`] sizes it.
    pub(crate) fn new() -> Self {
        Self {
            dirty: true,
            ..Self::default()
        }
    }

    /// Puts `frame` on screen at the next [`Self::draw`].
    pub(crate) fn set_frame(&mut self, frame: Arc<DecodedFrame>) {
        self.frame = Some(frame);
        self.dirty = true;
    }

    /// Dims the picture (or brings it back to full brightness) at the next
    /// [`Self::draw`].
    pub(crate) fn set_dimmed(&mut self, dimmed: bool) {
        if dimmed != self.dimmed {
            self.dimmed = dimmed;
            self.dirty = true;
        }
    }

    /// The frame on screen, if any.
    pub(crate) fn frame(&self) -> Option<&Arc<DecodedFrame>> {
        self.frame.as_ref()
    }

    /// Redraws the buffer when the frame or the window size (`size`)
    /// changed since the last call.
    pub(crate) fn draw(&mut self, size: (usize, usize)) {
        let size = (size.0.max(1), size.1.max(1));
        if size != self.size {
            let Some(len) = size.0.checked_mul(size.1) else {
                return;
            };
            self.size = size;
            self.buffer.resize(len, 0);
            self.dirty = true;
        }
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        self.placement = match &self.frame {
            Some(f) => self.scaler.render(
                &f.pixels,
                (f.width as usize, f.height as usize),
                &mut self.buffer,
                self.size,
            ),
            None => {
                self.buffer.fill(0);
                None
            }
        };
        if self.dimmed {
            // Half of each channel: 0x00RRGGBB.
            for pixel in &mut self.buffer {
                *pixel = (*pixel >> 1) & 0x007f_7f7f;
            }
        }
    }

    /// The buffer and its size, as last drawn.
    pub(crate) fn pixels(&self) -> (&[u32], (usize, usize)) {
        (&self.buffer, self.size)
    }

    /// The frame pixel under window position `pos`; `None` on a black bar,
    /// outside the window, or with no frame on screen.
    pub(crate) fn frame_pixel(&self, pos: (f32, f32)) -> Option<(i32, i32)> {
        let frame = self.frame.as_ref()?;
        window_to_frame(
            self.placement?,
            frame.width as usize,
            frame.height as usize,
            pos,
        )
    }
}
