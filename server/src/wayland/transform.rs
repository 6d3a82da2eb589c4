//! An output's transform (`swaymsg output X transform 90`): the compositor
//! draws a rotated or mirrored output into its buffer turned by the
//! transform, so a screencopy of it is sideways. The viewer is shown the
//! output upright, as its user sees it: the buffer's pixels (and the
//! damage box) are turned back with [`Transform::to_upright`], and the
//! monitor's size is the upright one ([`Transform::upright_size`]).
//!
//! `wl_output.transform` names how the buffer is turned from the upright
//! picture: `90` is a quarter turn counter-clockwise, `flipped` a mirror
//! about the vertical axis, `flipped-90` the mirror, then the quarter turn.

use wayland_client::WEnum;
use wayland_client::protocol::wl_output;

use crate::regions::Rect;

/// One of the eight transforms of `wl_output.transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Transform {
    /// Quarter turns counter-clockwise, 0..=3.
    turns: u8,
    /// Mirrored about the vertical axis before the turn.
    flipped: bool,
}

impl Transform {
    /// The upright picture's size for a buffer of `width`x`height`.
    pub(crate) fn upright_size(self, width: u32, height: u32) -> (u32, u32) {
        if self.turns % 2 == 1 {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// Whether the buffer is the upright picture as it is.
    pub(crate) fn is_normal(self) -> bool {
        self == Self::default()
    }

    /// Where the buffer pixel (`x`, `y`) of a `width`x`height` buffer is
    /// in the upright picture.
    pub(crate) fn to_upright(self, x: u32, y: u32, width: u32, height: u32) -> (u32, u32) {
        // Undo the quarter turns one by one (each a quarter turn
        // clockwise of the picture as it is then), then the mirror.
        let (mut x, mut y, mut w, mut h) = (x, y, width, height);
        for _ in 0..self.turns {
            // Clockwise: the left column becomes the top row.
            (x, y) = (h - 1 - y, x);
            (w, h) = (h, w);
        }
        if self.flipped {
            x = w - 1 - x;
        }
        (x, y)
    }

    /// Where the upright picture's pixel (`u`, `v`) of an `width`x`height`
    /// upright picture is in the buffer: the inverse of
    /// [`Transform::to_upright`].
    pub(crate) fn to_buffer(self, u: u32, v: u32, width: u32, height: u32) -> (u32, u32) {
        let (mut x, mut y, mut w, mut h) = (u, v, width, height);
        if self.flipped {
            x = w - 1 - x;
        }
        for _ in 0..self.turns {
            // Counter-clockwise: the top row becomes the left column.
            (x, y) = (y, w - 1 - x);
            (w, h) = (h, w);
        }
        (x, y)
    }

    /// An absolute pointer position for the upright pixel (`u`, `v`) of an
    /// output whose upright size is `width`x`height`, with its extent.
    ///
    /// wlroots maps a virtual pointer's absolute position onto a turned
    /// output as a touch panel's: in the buffer's orientation, not the
    /// upright one (found on sway 1.7, whose `transform 90` is the
    /// protocol's 270: (600, 1100) of 720x1280 sent as it is landed at
    /// (618, 213)). So the position is the buffer's pixel, with the
    /// buffer's size as extent. It is the pixel's centre, in half pixels:
    /// the compositor's mapping is continuous, and a pixel's left edge
    /// mirrored is the next pixel's left edge.
    pub(crate) fn pointer(self, u: u32, v: u32, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let (x, y) = self.to_buffer(u, v, width, height);
        let (w, h) = self.upright_size(width, height);
        (2 * x + 1, 2 * y + 1, 2 * w, 2 * h)
    }

    /// The upright box of the buffer's box `rect` (a `width`x`height`
    /// buffer), clipped to the buffer first.
    pub(crate) fn rect_to_upright(self, rect: Rect, width: u32, height: u32) -> Rect {
        let rect = rect.clip(width, height);
        if rect.width == 0 || rect.height == 0 {
            return Rect {
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            };
        }
        let a = self.to_upright(rect.x, rect.y, width, height);
        let b = self.to_upright(
            rect.x + rect.width - 1,
            rect.y + rect.height - 1,
            width,
            height,
        );
        let (x, y) = (a.0.min(b.0), a.1.min(b.1));
        Rect {
            x,
            y,
            width: a.0.max(b.0) - x + 1,
            height: a.1.max(b.1) - y + 1,
        }
    }
}

impl From<WEnum<wl_output::Transform>> for Transform {
    fn from(value: WEnum<wl_output::Transform>) -> Self {
        use wl_output::Transform as T;
        let (turns, flipped) = match value {
            WEnum::Value(T::_90) => (1, false),
            WEnum::Value(T::_180) => (2, false),
            WEnum::Value(T::_270) => (3, false),
            WEnum::Value(T::Flipped) => (0, true),
            WEnum::Value(T::Flipped90) => (1, true),
            WEnum::Value(T::Flipped180) => (2, true),
            WEnum::Value(T::Flipped270) => (3, true),
            // Normal, and values this version does not know.
            _ => (0, false),
        };
        Self { turns, flipped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Transform> {
        (0..8)
            .map(|i| Transform {
                turns: i % 4,
                flipped: i >= 4,
            })
            .collect()
    }

    #[test]
    fn every_transform_maps_the_buffer_one_to_one_onto_the_upright_picture() {
        let (w, h) = (5, 3);
        for t in all() {
            let (uw, uh) = t.upright_size(w, h);
            let mut seen = vec![false; (uw * uh) as usize];
            for y in 0..h {
                for x in 0..w {
                    let (u, v) = t.to_upright(x, y, w, h);
                    assert!(u < uw && v < uh, "{t:?}: ({x},{y}) -> ({u},{v})");
                    let i = (v * uw + u) as usize;
                    assert!(!seen[i], "{t:?}: ({u},{v}) twice");
                    seen[i] = true;
                }
            }
        }
    }

    #[test]
    fn to_buffer_undoes_to_upright_for_every_transform() {
        let (w, h) = (5, 3);
        for t in all() {
            let (uw, uh) = t.upright_size(w, h);
            for y in 0..h {
                for x in 0..w {
                    let (u, v) = t.to_upright(x, y, w, h);
                    assert_eq!(t.to_buffer(u, v, uw, uh), (x, y), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn the_pointer_on_a_turned_output_is_placed_in_the_buffers_orientation() {
        // What sway 1.7 did with `transform 90` (the protocol's 270), read
        // back in Xwayland: the centre of (179, 600) of 1280x720 lands at
        // (600, 1100) of the upright 720x1280.
        let t = Transform::from(WEnum::Value(wl_output::Transform::_270));
        assert_eq!(t.pointer(600, 1100, 720, 1280), (359, 1201, 2560, 1440));
        let normal = Transform::default();
        assert_eq!(normal.pointer(600, 100, 720, 1280), (1201, 201, 1440, 2560));
    }

    #[test]
    fn a_quarter_turn_puts_the_buffers_bottom_left_corner_at_the_top_left() {
        // "90": the buffer is the picture turned counter-clockwise, so the
        // picture's top left corner is the buffer's bottom left, and its
        // top right the buffer's top left.
        let t = Transform::from(WEnum::Value(wl_output::Transform::_90));
        assert_eq!(t.upright_size(1280, 720), (720, 1280));
        assert_eq!(t.to_upright(0, 719, 1280, 720), (0, 0));
        assert_eq!(t.to_upright(0, 0, 1280, 720), (719, 0));
        assert_eq!(t.to_upright(1279, 0, 1280, 720), (719, 1279));
        let flipped = Transform::from(WEnum::Value(wl_output::Transform::Flipped));
        assert_eq!(flipped.to_upright(0, 0, 1280, 720), (1279, 0));
        let normal = Transform::from(WEnum::Value(wl_output::Transform::Normal));
        assert!(normal.is_normal());
        assert_eq!(normal.to_upright(7, 3, 1280, 720), (7, 3));
    }

    #[test]
    fn a_damage_box_turns_with_the_picture() {
        let t = Transform::from(WEnum::Value(wl_output::Transform::_270));
        let (w, h) = (8, 4);
        let rect = Rect {
            x: 1,
            y: 0,
            width: 3,
            height: 2,
        };
        let got = t.rect_to_upright(rect, w, h);
        // Every pixel of the box lands inside the turned box, which has
        // the same area.
        for y in rect.y..rect.y + rect.height {
            for x in rect.x..rect.x + rect.width {
                let (u, v) = t.to_upright(x, y, w, h);
                assert!(u >= got.x && u < got.x + got.width, "{got:?} ({u},{v})");
                assert!(v >= got.y && v < got.y + got.height, "{got:?} ({u},{v})");
            }
        }
        assert_eq!(got.width * got.height, 6);
        assert_eq!((got.width, got.height), (2, 3));
    }
}
