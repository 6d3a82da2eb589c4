//! Reading a finished copy out of its shared-memory buffer into an image:
//! the whole of it, or only the rows of the damage box into the image
//! before (whose other rows are unchanged), so a typed key costs a few
//! rows, not the screen. A rotated or mirrored output's buffer is turned
//! upright on the way ([`Transform`]).

use std::os::unix::fs::FileExt as _;

use crate::capture::CapturedImage;
use crate::regions::Rect;
use crate::wayland::screencopy::ShmBuffer;
use crate::wayland::transform::Transform;

/// The image in `buffer`, upside down when `y_invert`, turned upright by
/// `transform`. With a `canvas` of the same size and order (the capture
/// before) and a damage box `only` (in the buffer's coordinates), only the
/// rows of that box are read into the canvas.
pub(super) fn image(
    buffer: &ShmBuffer,
    y_invert: bool,
    transform: Transform,
    canvas: Option<CapturedImage>,
    only: Option<Rect>,
) -> std::io::Result<CapturedImage> {
    if !transform.is_normal() {
        return turned(buffer, y_invert, transform, canvas, only);
    }
    let layout = buffer.layout;
    let (width, height) = (layout.width, layout.height);
    let row = width as usize * 4;
    let fits = |c: &CapturedImage| {
        (c.width, c.height, c.order) == (width, height, layout.order())
            && c.pixels.len() == row * height as usize
    };
    let (mut pixels, rows) = match (canvas.filter(fits), only) {
        (Some(canvas), Some(rect)) => {
            let rect = rect.clip(width, height);
            (canvas.pixels, rect.y..rect.y + rect.height)
        }
        (Some(canvas), None) => (canvas.pixels, 0..height),
        (None, _) => (vec![0; row * height as usize], 0..height),
    };
    let stride = layout.stride as u64;
    if !y_invert && stride == row as u64 {
        // Rows are contiguous on both sides: one read.
        let start = rows.start as usize * row;
        let end = rows.end as usize * row;
        buffer
            .file
            .read_exact_at(&mut pixels[start..end], rows.start as u64 * stride)?;
    } else {
        for y in rows {
            let source = if y_invert { height - 1 - y } else { y };
            let start = y as usize * row;
            buffer
                .file
                .read_exact_at(&mut pixels[start..start + row], u64::from(source) * stride)?;
        }
    }
    Ok(CapturedImage {
        width,
        height,
        pixels,
        order: layout.order(),
    })
}

/// [`image`] of a rotated or mirrored output: the buffer's rows of the box
/// are read as they are, then each pixel is put where it is upright.
fn turned(
    buffer: &ShmBuffer,
    y_invert: bool,
    transform: Transform,
    canvas: Option<CapturedImage>,
    only: Option<Rect>,
) -> std::io::Result<CapturedImage> {
    let layout = buffer.layout;
    let (width, height) = (layout.width, layout.height);
    let (up_w, up_h) = transform.upright_size(width, height);
    let row = width as usize * 4;
    let fits = |c: &CapturedImage| {
        (c.width, c.height, c.order) == (up_w, up_h, layout.order())
            && c.pixels.len() == row * height as usize
    };
    let (mut pixels, rect) = match (canvas.filter(fits), only) {
        (Some(canvas), Some(rect)) => (canvas.pixels, rect.clip(width, height)),
        (Some(canvas), None) => (canvas.pixels, whole(width, height)),
        (None, _) => (vec![0; row * height as usize], whole(width, height)),
    };
    let stride = layout.stride as u64;
    let mut line = vec![0; row];
    let up_row = up_w as usize * 4;
    for y in rect.y..rect.y + rect.height {
        let source = if y_invert { height - 1 - y } else { y };
        buffer
            .file
            .read_exact_at(&mut line, u64::from(source) * stride)?;
        for x in rect.x..rect.x + rect.width {
            let (u, v) = transform.to_upright(x, y, width, height);
            let at = v as usize * up_row + u as usize * 4;
            let from = x as usize * 4;
            pixels[at..at + 4].copy_from_slice(&line[from..from + 4]);
        }
    }
    Ok(CapturedImage {
        width: up_w,
        height: up_h,
        pixels,
        order: layout.order(),
    })
}

fn whole(width: u32, height: u32) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width,
        height,
    }
}
