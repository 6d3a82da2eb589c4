//! Reading a finished copy out of its shared-memory buffer into an image:
//! the whole of it, or only the rows of the damage box into the image
//! before (whose other rows are unchanged), so a typed key costs a few
//! rows, not the screen.

use std::os::unix::fs::FileExt as _;

use crate::capture::CapturedImage;
use crate::regions::Rect;
use crate::wayland::screencopy::ShmBuffer;

/// The image in `buffer`, upside down when `y_invert`. With a `canvas`
/// of the same size and order (the capture before) and a damage box
/// `only`, only the rows of that box are read into the canvas.
pub(super) fn image(
    buffer: &ShmBuffer,
    y_invert: bool,
    canvas: Option<CapturedImage>,
    only: Option<Rect>,
) -> std::io::Result<CapturedImage> {
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
