//! The largest frame a session may send, known before any image arrives:
//! the decoder refuses a bigger one before it allocates a byte for it.

use lookout_protocol::MonitorInfo;

/// Largest frame side we ever decode, whatever the agent announced: far
/// beyond any screen.
pub const MAX_SIDE: u32 = 16_384;

/// Most pixels in one frame (256 MiB of window buffer), whatever the agent
/// announced: a 16K-by-4K wall of monitors fits, a 16K-by-16K one does not.
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// The largest width and height a frame of this session may have.
///
/// It is computed from `welcome` (the largest monitor the agent offers), so
/// an agent cannot make the viewer allocate more than it said it would show;
/// a stream-settings box asked of the agent narrows it further
/// ([`FrameBound::within`]). [`MAX_SIDE`] and [`MAX_PIXELS`] cap it whatever
/// the agent announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBound {
    max_width: u32,
    max_height: u32,
}

impl FrameBound {
    /// Admits no frame at all: what a session that announced no monitor
    /// gets (it has nothing to stream).
    pub const NONE: FrameBound = FrameBound {
        max_width: 0,
        max_height: 0,
    };

    /// Frames up to `max_width` by `max_height`, capped at [`MAX_SIDE`].
    pub const fn new(max_width: u32, max_height: u32) -> Self {
        // `Ord::min` is not const.
        Self {
            max_width: if max_width < MAX_SIDE {
                max_width
            } else {
                MAX_SIDE
            },
            max_height: if max_height < MAX_SIDE {
                max_height
            } else {
                MAX_SIDE
            },
        }
    }

    /// The bound of a session whose `welcome` listed `monitors`: as wide as
    /// the widest and as tall as the tallest, so every monitor (rotated ones
    /// included) fits, and nothing larger than the agent's own screens.
    pub fn of_monitors(monitors: &[MonitorInfo]) -> Self {
        monitors.iter().fold(Self::NONE, |bound, m| Self {
            max_width: bound.max_width.max(m.width.min(MAX_SIDE)),
            max_height: bound.max_height.max(m.height.min(MAX_SIDE)),
        })
    }

    /// This bound narrowed to a box (a stream-settings `max_width`,
    /// `max_height` the viewer asked for).
    #[must_use]
    pub fn within(self, max_width: u32, max_height: u32) -> Self {
        Self {
            max_width: self.max_width.min(max_width),
            max_height: self.max_height.min(max_height),
        }
    }

    /// The widest frame admitted.
    pub fn max_width(self) -> u32 {
        self.max_width
    }

    /// The tallest frame admitted.
    pub fn max_height(self) -> u32 {
        self.max_height
    }

    /// Whether a `width` by `height` frame may be decoded: not empty,
    /// inside the bound, and not more than [`MAX_PIXELS`].
    pub fn admits(self, width: u32, height: u32) -> bool {
        width > 0
            && height > 0
            && width <= self.max_width
            && height <= self.max_height
            && u64::from(width) * u64::from(height) <= MAX_PIXELS
    }
}

impl std::fmt::Display for FrameBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.max_width, self.max_height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(id: u32, width: u32, height: u32) -> MonitorInfo {
        MonitorInfo {
            id,
            name: String::new(),
            x: 0,
            y: 0,
            width,
            height,
            primary: id == 0,
            all: false,
        }
    }

    #[test]
    fn every_announced_monitor_fits_and_nothing_larger() {
        let bound = FrameBound::of_monitors(&[monitor(0, 1920, 1080), monitor(1, 1080, 1920)]);
        assert!(bound.admits(1920, 1080));
        assert!(bound.admits(1080, 1920));
        assert!(bound.admits(960, 540));
        assert!(!bound.admits(1921, 1080));
        assert!(!bound.admits(1920, 1921));
        assert!(!bound.admits(0, 10));
    }

    #[test]
    fn an_agent_announcing_a_giant_monitor_is_still_capped() {
        let bound = FrameBound::of_monitors(&[monitor(0, u32::MAX, u32::MAX)]);
        assert_eq!(
            (bound.max_width(), bound.max_height()),
            (MAX_SIDE, MAX_SIDE)
        );
        assert!(bound.admits(MAX_SIDE, 4096));
        assert!(!bound.admits(MAX_SIDE, MAX_SIDE), "over MAX_PIXELS");
    }

    #[test]
    fn a_session_without_monitors_admits_no_frame() {
        assert_eq!(FrameBound::of_monitors(&[]), FrameBound::NONE);
        assert!(!FrameBound::NONE.admits(1, 1));
    }

    #[test]
    fn a_settings_box_narrows_the_bound() {
        let bound = FrameBound::new(3840, 2160).within(1280, 4000);
        assert_eq!(bound.to_string(), "1280x2160");
        assert!(!bound.admits(1281, 720));
    }
}
