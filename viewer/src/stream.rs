//! What the viewer asks of its stream (protocol §2.2, feature `profiles`):
//! the user's overrides ([`StreamAsk`]: `--fps`, `--quality`,
//! `--max-size`), and the one rule that turns them, the window's size and
//! what the agent offers into the settings of a `start_monitor`
//! ([`settings`]).
//!
//! A small window costs less: the box asked for is the window's drawable
//! area in physical pixels, capped by `--max-size`. Before the window
//! exists the box is the window it will open as ([`first_window`]), so the
//! first frame already fits it.

use std::fmt;
use std::str::FromStr;

use lookout_protocol::{MonitorInfo, STREAM_SIZE_RANGE, StreamSettings};

use crate::layout::initial_window_size;

/// The feature name of per-viewer stream settings (protocol §2.2).
pub const PROFILES: &str = "profiles";

/// A width and a height in pixels.
pub type Size = (u32, u32);

/// `--max-size WxH`: the largest picture the viewer wants, each side in
/// [`STREAM_SIZE_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize {
    /// Widest picture asked for.
    pub width: u32,
    /// Tallest picture asked for.
    pub height: u32,
}

/// A `--max-size` that is not `WxH` with both sides in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected WIDTHxHEIGHT (such as 1280x720), each {min}..={max}, not {0:?}",
    min = STREAM_SIZE_RANGE.start(),
    max = STREAM_SIZE_RANGE.end()
)]
pub struct BadMaxSize(String);

impl FromStr for MaxSize {
    type Err = BadMaxSize;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadMaxSize(text.chars().take(40).collect());
        let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
        // Digits only: `u32::from_str` would take a leading `+`.
        let side = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<u32>().ok())
                .flatten()
                .filter(|v| STREAM_SIZE_RANGE.contains(v))
        };
        match (side(w), side(h)) {
            (Some(width), Some(height)) => Ok(Self { width, height }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for MaxSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// The user's overrides of the stream, each absent by default (the
/// agent's choice). Sent only to an agent that offers [`PROFILES`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamAsk {
    /// `--fps`, in [`lookout_protocol::STREAM_FPS_RANGE`].
    pub fps: Option<u32>,
    /// `--quality`, in [`lookout_protocol::STREAM_QUALITY_RANGE`].
    pub quality: Option<u32>,
    /// `--max-size`: caps the window's size; without a window, the box.
    pub max_size: Option<MaxSize>,
}

impl StreamAsk {
    /// Whether any override is set.
    pub fn is_set(&self) -> bool {
        *self != Self::default()
    }
}

/// What the agent of the current session offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    /// `welcome.features` lists [`PROFILES`].
    pub profiles: bool,
    /// `welcome.features` lists `regions`.
    pub regions: bool,
}

/// The settings of a `start_monitor`: region updates when offered; with
/// [`PROFILES`], the overrides and the box: `view` (the window's drawable
/// size, when there is a window) capped by `--max-size`, else `--max-size`
/// alone. Without `profiles`, nothing but `regions`: an agent that does not
/// know the fields would ignore them, and the user would be misled.
pub fn settings(ask: &StreamAsk, view: Option<Size>, offers: Offers) -> StreamSettings {
    let mut settings = StreamSettings {
        regions: offers.regions,
        ..StreamSettings::DEFAULT
    };
    if !offers.profiles {
        return settings;
    }
    settings.fps = ask.fps;
    settings.quality = ask.quality;
    let cap = ask.max_size.map(|m| (m.width, m.height));
    let size = match (view, cap) {
        (Some((w, h)), Some((cw, ch))) => Some((w.min(cw), h.min(ch))),
        (view, cap) => view.or(cap),
    };
    if let Some((w, h)) = size {
        // A window smaller than the protocol's least box still asks for
        // the least; the window scales it down.
        let clamp = |v: u32| v.clamp(*STREAM_SIZE_RANGE.start(), *STREAM_SIZE_RANGE.end());
        settings.max_width = Some(clamp(w));
        settings.max_height = Some(clamp(h));
    }
    settings
}

/// The drawable size the first window will have when it shows `monitor`
/// on a screen that allows windows up to `bounds`: the monitor's shape,
/// fitted (never enlarged) into `bounds` and `--max-size`, as the window
/// opens at the size of its first frame
/// ([`initial_window_size`]).
pub fn first_window(monitor: &MonitorInfo, bounds: Size, max_size: Option<MaxSize>) -> Size {
    let (mut bw, mut bh) = bounds;
    if let Some(cap) = max_size {
        bw = bw.min(cap.width);
        bh = bh.min(cap.height);
    }
    let (w, h) = initial_window_size(
        monitor.width as usize,
        monitor.height as usize,
        bw as usize,
        bh as usize,
    );
    // At most the monitor's sides, which are `u32`.
    (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Offers = Offers {
        profiles: true,
        regions: true,
    };

    fn max(width: u32, height: u32) -> Option<MaxSize> {
        Some(MaxSize { width, height })
    }

    #[test]
    fn max_size_takes_width_x_height_each_within_the_protocols_range() {
        assert_eq!(
            "1280x720".parse(),
            Ok(MaxSize {
                width: 1280,
                height: 720
            })
        );
        assert_eq!(
            "16X16384".parse(),
            Ok(MaxSize {
                width: 16,
                height: 16384
            })
        );
        for bad in [
            "",
            "1280",
            "x720",
            "1280x",
            "15x720",
            "1280x16385",
            "+1280x720",
            "1280x720x3",
            " 1280x720",
            "-16x16",
            "1e3x720",
            "99999999999x720",
        ] {
            assert!(bad.parse::<MaxSize>().is_err(), "{bad:?}");
        }
        assert_eq!(max(640, 360).unwrap().to_string(), "640x360");
    }

    #[test]
    fn without_profiles_only_regions_are_asked_whatever_the_user_set() {
        let ask = StreamAsk {
            fps: Some(5),
            quality: Some(40),
            max_size: max(640, 360),
        };
        let offers = Offers {
            profiles: false,
            regions: true,
        };
        let settings = settings(&ask, Some((800, 600)), offers);
        assert_eq!(
            settings,
            StreamSettings {
                regions: true,
                ..StreamSettings::DEFAULT
            }
        );
    }

    #[test]
    fn the_window_is_the_box_capped_side_by_side_by_max_size() {
        let none = StreamAsk::default();
        let s = settings(&none, Some((921, 518)), BOTH);
        assert_eq!((s.max_width, s.max_height), (Some(921), Some(518)));
        assert_eq!((s.fps, s.quality, s.regions), (None, None, true));

        let capped = StreamAsk {
            max_size: max(640, 600),
            ..none
        };
        let s = settings(&capped, Some((921, 518)), BOTH);
        assert_eq!((s.max_width, s.max_height), (Some(640), Some(518)));
        // No window: --max-size is the box; neither: no box.
        let s = settings(&capped, None, BOTH);
        assert_eq!((s.max_width, s.max_height), (Some(640), Some(600)));
        let s = settings(&none, None, BOTH);
        assert_eq!((s.max_width, s.max_height), (None, None));
    }

    #[test]
    fn a_tiny_window_asks_for_the_least_box_the_protocol_allows() {
        let s = settings(&StreamAsk::default(), Some((1, 9)), BOTH);
        assert_eq!((s.max_width, s.max_height), (Some(16), Some(16)));
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn fps_and_quality_are_passed_on() {
        let ask = StreamAsk {
            fps: Some(2),
            quality: Some(100),
            max_size: None,
        };
        let s = settings(&ask, None, BOTH);
        assert_eq!((s.fps, s.quality), (Some(2), Some(100)));
        assert!(ask.is_set());
        assert!(!StreamAsk::default().is_set());
    }

    #[test]
    fn the_first_window_keeps_the_monitors_shape_inside_the_screen_and_max_size() {
        let monitor = MonitorInfo {
            id: 0,
            name: "m".into(),
            x: 0,
            y: 0,
            width: 1920,
            height: 1080,
            primary: true,
            all: false,
        };
        assert_eq!(first_window(&monitor, (1728, 972), None), (1728, 972));
        assert_eq!(first_window(&monitor, (921, 691), None), (921, 518));
        assert_eq!(first_window(&monitor, (4000, 3000), None), (1920, 1080));
        assert_eq!(
            first_window(&monitor, (1728, 972), max(640, 640)),
            (640, 360)
        );
    }
}
