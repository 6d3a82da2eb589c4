//! What a PipeWire video buffer means, as pure functions: which pixel
//! formats are taken and how their bytes map to a [`PixelOrder`], the
//! visible part of the buffer (`SPA_META_VideoCrop`), copying rows out of
//! a buffer whose stride is wider than its rows, and the producer's damage
//! (`SPA_META_VideoDamage`) as the change hint. Tested on recorded buffers
//! without PipeWire.

use crate::capture::{CapturedImage, PixelOrder};
use crate::regions::Rect;

/// The raw video formats the capturer offers, in the byte order of one
/// pixel in memory (PipeWire's names: `BGRx` is blue, green, red, pad).
/// Alpha, where there is one, is ignored: a screen is opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SourceFormat {
    /// Blue, green, red, pad: what compositors usually send.
    Bgrx,
    /// Blue, green, red, alpha.
    Bgra,
    /// Red, green, blue, pad.
    Rgbx,
    /// Red, green, blue, alpha.
    Rgba,
    /// Pad, red, green, blue.
    Xrgb,
    /// Alpha, red, green, blue.
    Argb,
    /// Pad, blue, green, red.
    Xbgr,
    /// Alpha, blue, green, red.
    Abgr,
}

impl SourceFormat {
    /// The order of the image made from it. Pad-first formats are
    /// reversed per pixel: `xRGB` read backwards is `BGRx`.
    pub(super) fn order(self) -> PixelOrder {
        match self {
            Self::Bgrx | Self::Bgra | Self::Xrgb | Self::Argb => PixelOrder::Bgrx,
            Self::Rgbx | Self::Rgba | Self::Xbgr | Self::Abgr => PixelOrder::Rgba,
        }
    }

    fn reversed(self) -> bool {
        matches!(self, Self::Xrgb | Self::Argb | Self::Xbgr | Self::Abgr)
    }
}

/// How many damage rectangles a frame's hint keeps; more are merged into
/// their bounding box (a few rectangles is what encoders gain from, and
/// this bounds the work a producer can cause per frame).
pub(super) const MAX_DAMAGE_RECTS: usize = 16;

/// Why a buffer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FrameError {
    /// Its rows are narrower than the picture.
    #[error("stride {stride} is too small for {width} pixels")]
    Stride {
        /// Bytes per row in the buffer.
        stride: usize,
        /// Picture width.
        width: u32,
    },
    /// The producer flagged it (corrupted, or empty).
    #[error("the buffer is flagged {0:#x} (corrupted or empty)")]
    Flags(i32),
    /// Its rows run bottom up.
    #[error("negative stride")]
    NegativeStride,
    /// It ends before the last row.
    #[error("buffer of {got} bytes, {needed} needed")]
    Short {
        /// Bytes needed.
        needed: usize,
        /// Bytes there.
        got: usize,
    },
}

/// One buffer's chunk as PipeWire describes it: where the picture is in
/// the mapped data, and the producer's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunk {
    /// The first byte of the picture in the mapped data.
    pub(super) offset: u32,
    /// How many bytes of picture there are.
    pub(super) size: u32,
    /// Bytes per row (negative: rows bottom up, which is not taken).
    pub(super) stride: i32,
    /// `SPA_CHUNK_FLAG_*`: corrupted, empty...
    pub(super) flags: i32,
}

/// The chunk flag of a buffer whose data is corrupted.
pub(super) const CHUNK_CORRUPTED: i32 = 1;

/// Checks `chunk` against the `mapped` bytes of its buffer, before any
/// byte is read: no flags (corrupted, empty), a stride that is not
/// negative, and the picture within the mapped data. Returns the range of
/// the picture in the mapped data and its stride.
pub(super) fn chunk_region(
    chunk: Chunk,
    mapped: usize,
) -> Result<(std::ops::Range<usize>, usize), FrameError> {
    if chunk.flags != 0 {
        return Err(FrameError::Flags(chunk.flags));
    }
    let stride = usize::try_from(chunk.stride).map_err(|_| FrameError::NegativeStride)?;
    let (offset, size) = (chunk.offset as usize, chunk.size as usize);
    match offset.checked_add(size) {
        Some(end) if end <= mapped => Ok((offset..end, stride)),
        _ => Err(FrameError::Short {
            needed: offset.saturating_add(size),
            got: mapped,
        }),
    }
}

/// Where the picture is in a buffer: its first byte, bytes per row, and
/// the buffer's full size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BufferLayout {
    /// The chunk's offset into the mapped data.
    pub(super) offset: usize,
    /// Bytes from one row to the next (the chunk's stride; 0 means
    /// tightly packed).
    pub(super) stride: usize,
    /// The negotiated size.
    pub(super) width: u32,
    /// The negotiated size.
    pub(super) height: u32,
}

impl BufferLayout {
    fn stride(&self) -> usize {
        if self.stride == 0 {
            self.width as usize * 4
        } else {
            self.stride
        }
    }
}

/// The visible part of a `width`x`height` buffer: the producer's crop
/// region when it is valid and inside the buffer, else all of it.
pub(super) fn visible(crop: Option<(i32, i32, u32, u32)>, width: u32, height: u32) -> Rect {
    let whole = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    let Some((x, y, w, h)) = crop else {
        return whole;
    };
    let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
        return whole;
    };
    let rect = Rect {
        x,
        y,
        width: w,
        height: h,
    }
    .clip(width, height);
    if rect.width == 0 || rect.height == 0 {
        whole
    } else {
        rect
    }
}

/// The producer's damage, in the coordinates of the `visible` picture:
/// moved to its origin, cut to it, empty ones dropped, and merged into one
/// box beyond [`MAX_DAMAGE_RECTS`]. `None` (may differ anywhere) when the
/// producer sent no damage.
pub(super) fn damage(regions: &[(i32, i32, u32, u32)], visible: Rect) -> Option<Vec<Rect>> {
    if regions.is_empty() {
        return None;
    }
    let mut rects: Vec<Rect> = Vec::new();
    for &(x, y, w, h) in regions {
        // In visible coordinates; a region starting left of or above the
        // visible part is cut at its edge.
        let left = i64::from(x) - i64::from(visible.x);
        let top = i64::from(y) - i64::from(visible.y);
        let right = (left + i64::from(w)).clamp(0, i64::from(visible.width));
        let bottom = (top + i64::from(h)).clamp(0, i64::from(visible.height));
        let (left, top) = (
            left.clamp(0, i64::from(visible.width)),
            top.clamp(0, i64::from(visible.height)),
        );
        if right <= left || bottom <= top {
            continue;
        }
        // In range: all four are clamped to the u32 size.
        let rect = Rect {
            x: left as u32,
            y: top as u32,
            width: (right - left) as u32,
            height: (bottom - top) as u32,
        };
        rects.push(rect);
    }
    if rects.len() > MAX_DAMAGE_RECTS {
        let all = rects.iter().skip(1).fold(rects[0], |a, r| a.union(r));
        rects = vec![all];
    }
    Some(rects)
}

/// Adds a frame's `change` to what changed since the last take: unknown
/// stays unknown, and the list stays within [`MAX_DAMAGE_RECTS`].
pub(super) fn accumulate(since: Option<Vec<Rect>>, change: Option<Vec<Rect>>) -> Option<Vec<Rect>> {
    let (mut since, change) = (since?, change?);
    since.extend(change);
    if since.len() > MAX_DAMAGE_RECTS {
        let all = since.iter().skip(1).fold(since[0], |a, r| a.union(r));
        since = vec![all];
    }
    Some(since)
}

/// Copies the `visible` part of a buffer (`data`, laid out as `layout`, in
/// `format`) into `into`, tightly packed. With `into` already of that size
/// and order, only the rows of `only` are copied (the others are
/// unchanged); otherwise a new image is made and all of it copied.
pub(super) fn copy(
    data: &[u8],
    layout: BufferLayout,
    format: SourceFormat,
    visible: Rect,
    only: Option<&[Rect]>,
    into: Option<CapturedImage>,
) -> Result<CapturedImage, FrameError> {
    let stride = layout.stride();
    if stride < layout.width as usize * 4 {
        return Err(FrameError::Stride {
            stride,
            width: layout.width,
        });
    }
    let visible = visible.clip(layout.width, layout.height);
    let needed = layout.offset
        + stride * (layout.height as usize).saturating_sub(1)
        + layout.width as usize * 4;
    if layout.height > 0 && data.len() < needed {
        return Err(FrameError::Short {
            needed,
            got: data.len(),
        });
    }
    let (width, height, order) = (visible.width, visible.height, format.order());
    let row = width as usize * 4;
    let fits = |c: &CapturedImage| {
        (c.width, c.height, c.order) == (width, height, order)
            && c.pixels.len() == row * height as usize
    };
    let (mut pixels, rows): (Vec<u8>, Vec<(u32, u32)>) = match (into.filter(fits), only) {
        (Some(image), Some(rects)) => {
            let rows = rects
                .iter()
                .map(|r| r.clip(width, height))
                .map(|r| (r.y, r.y + r.height))
                .collect();
            (image.pixels, rows)
        }
        (Some(image), None) => (image.pixels, vec![(0, height)]),
        (None, _) => (vec![0; row * height as usize], vec![(0, height)]),
    };
    for (top, bottom) in rows {
        for y in top..bottom {
            let source = layout.offset + (visible.y + y) as usize * stride + visible.x as usize * 4;
            let target = &mut pixels[y as usize * row..(y as usize + 1) * row];
            target.copy_from_slice(&data[source..source + row]);
            if format.reversed() {
                target.chunks_exact_mut(4).for_each(<[u8]>::reverse);
            }
        }
    }
    Ok(CapturedImage {
        width,
        height,
        pixels,
        order,
    })
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
