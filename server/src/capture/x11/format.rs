//! The X server's pixel formats: which ones the X11 capturer reads, and the
//! reordering of the uncommon ones into BGRX.
//!
//! Supported: 32 bits per pixel with 8-bit red, green and blue channels at
//! byte boundaries, in either image byte order (depth 24 or 32 TrueColor,
//! which is what Xorg, Xvfb and Xwayland use today). The common case is BGRX
//! in memory, handed on without any work. Other byte layouts are reordered
//! to BGRX pixel by pixel. Anything else (16-bit, 8-bit palettes) is refused
//! when the capturer is built, so the caller can fall back to xcap.

use x11rb::protocol::xproto::{self, ImageOrder, VisualClass};

use super::X11Error;

/// How the root window's images are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PixelFormat {
    depth: u8,
    bits_per_pixel: u8,
    pub(super) layout: ByteLayout,
}

impl PixelFormat {
    /// The root window's pixel format, if the capturer can read it.
    pub(super) fn of_root(
        setup: &xproto::Setup,
        screen: &xproto::Screen,
    ) -> Result<Self, X11Error> {
        let depth = screen.root_depth;
        let bits_per_pixel = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .map_or(0, |f| f.bits_per_pixel);
        let unsupported = X11Error::Format {
            depth,
            bits_per_pixel,
        };
        let Some(visual) = screen
            .allowed_depths
            .iter()
            .filter(|d| d.depth == depth)
            .flat_map(|d| &d.visuals)
            .find(|v| v.visual_id == screen.root_visual)
        else {
            return Err(unsupported);
        };
        if visual.class != VisualClass::TRUE_COLOR && visual.class != VisualClass::DIRECT_COLOR {
            return Err(unsupported);
        }
        let masks = [visual.red_mask, visual.green_mask, visual.blue_mask];
        let layout =
            byte_layout(bits_per_pixel, masks, setup.image_byte_order).ok_or(unsupported)?;
        Ok(Self {
            depth,
            bits_per_pixel,
            layout,
        })
    }

    /// The layout was worked out for the root depth; an image of any other
    /// depth would be misread.
    pub(super) fn check_depth(&self, depth: u8) -> Result<(), X11Error> {
        if depth == self.depth {
            Ok(())
        } else {
            Err(X11Error::Format {
                depth,
                bits_per_pixel: self.bits_per_pixel,
            })
        }
    }
}

/// Byte positions of red, green and blue within a 4-byte pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ByteLayout {
    red: usize,
    green: usize,
    blue: usize,
}

/// Blue, green, red, unused: 32-bit `0x00RRGGBB` pixels, least significant
/// byte first. Xorg, Xvfb and Xwayland on little-endian machines.
const BGRX: ByteLayout = ByteLayout {
    red: 2,
    green: 1,
    blue: 0,
};

/// The byte layout of 32-bit pixels with these channel masks, or `None` for
/// anything but 8-bit channels on byte boundaries.
fn byte_layout(
    bits_per_pixel: u8,
    [red, green, blue]: [u32; 3],
    order: ImageOrder,
) -> Option<ByteLayout> {
    if bits_per_pixel != 32 {
        return None;
    }
    let byte = |mask: u32| -> Option<usize> {
        let shift = mask.trailing_zeros();
        if mask.checked_shr(shift) != Some(0xff) || !shift.is_multiple_of(8) {
            return None;
        }
        let lsb_index = (shift / 8) as usize;
        Some(if order == ImageOrder::MSB_FIRST {
            3 - lsb_index
        } else {
            lsb_index
        })
    };
    let layout = ByteLayout {
        red: byte(red)?,
        green: byte(green)?,
        blue: byte(blue)?,
    };
    let distinct =
        layout.red != layout.green && layout.green != layout.blue && layout.red != layout.blue;
    distinct.then_some(layout)
}

/// Rewrites 4-byte pixels of layout `from` as BGRX, in place: no work for
/// the common BGRX server, pixel by pixel for the others.
pub(super) fn to_bgrx(pixels: &mut [u8], from: ByteLayout) {
    if from == BGRX {
        return;
    }
    let to = BGRX;
    for px in pixels.as_chunks_mut::<4>().0 {
        let (red, green, blue) = (px[from.red], px[from.green], px[from.blue]);
        px[to.red] = red;
        px[to.green] = green;
        px[to.blue] = blue;
        px[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgrx_server_pixels_pass_through() {
        let bgrx = [1, 2, 3, 0, 4, 5, 6, 0];
        let mut px = bgrx.to_vec();
        to_bgrx(&mut px, BGRX);
        assert_eq!(px, bgrx, "BGRX to BGRX is free");
    }

    #[test]
    fn xvfb_depth_24_little_endian_is_bgrx() {
        let layout = byte_layout(32, [0xff_0000, 0xff00, 0xff], ImageOrder::LSB_FIRST);
        assert_eq!(layout, Some(BGRX));
    }

    #[test]
    fn big_endian_server_is_xrgb_and_converts_to_bgrx() {
        let layout = byte_layout(32, [0xff_0000, 0xff00, 0xff], ImageOrder::MSB_FIRST).unwrap();
        assert_eq!(
            layout,
            ByteLayout {
                red: 1,
                green: 2,
                blue: 3
            }
        );
        let xrgb = [0, 30, 20, 10];
        let mut px = xrgb.to_vec();
        to_bgrx(&mut px, layout);
        assert_eq!(px, [10, 20, 30, 255]);
    }

    #[test]
    fn rgbx_masks_convert_to_bgrx() {
        let layout = byte_layout(32, [0xff, 0xff00, 0xff_0000], ImageOrder::LSB_FIRST).unwrap();
        let mut px = vec![30, 20, 10, 0]; // r g b x
        to_bgrx(&mut px, layout);
        assert_eq!(px, [10, 20, 30, 255]);
    }

    #[test]
    fn sixteen_bit_and_odd_masks_are_refused() {
        let lsb = ImageOrder::LSB_FIRST;
        assert_eq!(byte_layout(16, [0xf800, 0x07e0, 0x001f], lsb), None);
        assert_eq!(byte_layout(32, [0x3ff0_0000, 0xffc00, 0x3ff], lsb), None);
        assert_eq!(byte_layout(32, [0xff, 0xff, 0xff00], lsb), None);
        assert_eq!(byte_layout(32, [0, 0xff00, 0xff], lsb), None);
    }
}
