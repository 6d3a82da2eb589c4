//! Per-viewer stream settings (protocol §2.2, feature `profiles`): what a
//! viewer asks for ([`Ask`]), the rendition of a picture that answers it
//! ([`Profile`]), and the bound on how many renditions of one monitor the
//! agent makes ([`MAX_RENDITIONS`], [`assign`]).
//!
//! A rendition is one size and one JPEG quality of a monitor's pictures.
//! Viewers that ask alike share it: it is scaled and encoded once per
//! picture however many of them there are. The picture as captured, at
//! the agent's quality, is the **native** rendition; the others are scaled
//! down ([`crate::scale`]) and encoded when a viewer first needs them.

use lookout_protocol::StreamSettings;

/// Renditions of one monitor at a time, the native one included. A viewer
/// whose ask would make one more shares an existing one ([`assign`]).
pub const MAX_RENDITIONS: usize = 4;

/// What a viewer asks for: the box its pictures must fit in and the JPEG
/// quality, the agent's own at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ask {
    /// Largest width; `u32::MAX` for no limit.
    pub max_width: u32,
    /// Largest height; `u32::MAX` for no limit.
    pub max_height: u32,
    /// JPEG quality: what the viewer asked for, the agent's at most.
    pub quality: u8,
}

impl Ask {
    /// No limit, at the agent's `quality`: the native rendition.
    pub fn native(quality: u8) -> Self {
        Self {
            max_width: u32::MAX,
            max_height: u32::MAX,
            quality,
        }
    }

    /// What `settings` ask for (checked already: see
    /// [`StreamSettings::check`]) of an agent encoding at `quality`.
    pub fn from_settings(settings: &StreamSettings, quality: u8) -> Self {
        Self {
            max_width: settings.max_width.unwrap_or(u32::MAX).max(1),
            max_height: settings.max_height.unwrap_or(u32::MAX).max(1),
            quality: settings
                .quality
                .map_or(quality, |q| u8::try_from(q).unwrap_or(u8::MAX).min(quality))
                .max(1),
        }
    }

    /// The rendition that answers this ask for pictures of `source` size:
    /// scaled down to fit the box with the aspect ratio kept (never up).
    pub fn profile(&self, source: (u32, u32)) -> Profile {
        let (width, height) = fit(source, (self.max_width, self.max_height));
        Profile {
            width,
            height,
            quality: self.quality,
        }
    }
}

/// One rendition: the pictures' size and JPEG quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Profile {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// JPEG quality.
    pub quality: u8,
}

/// `source` scaled down to fit inside `max`, aspect ratio kept, never up,
/// each side at least 1 pixel.
pub fn fit((width, height): (u32, u32), (max_width, max_height): (u32, u32)) -> (u32, u32) {
    if width <= max_width && height <= max_height {
        return (width, height);
    }
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let (mw, mh) = (u64::from(max_width.max(1)), u64::from(max_height.max(1)));
    // The side that binds: compare the ratios mw/w and mh/h without floats.
    let (out_w, out_h) = if mw * h <= mh * w {
        (mw, (h * mw + w / 2) / w)
    } else {
        ((w * mh + h / 2) / h, mh)
    };
    let clamp = |v: u64, limit: u32| u32::try_from(v).unwrap_or(limit).clamp(1, limit);
    (clamp(out_w, width), clamp(out_h, height))
}

/// Renditions of one monitor at most, whatever viewers ask: past
/// [`MAX_RENDITIONS`], a viewer that asks for less than every existing
/// rendition in some respect still gets its own, up to this many.
pub const HARD_MAX_RENDITIONS: usize = 2 * MAX_RENDITIONS;

/// The ask a viewer asking `ask` is given, for pictures of `source` size,
/// when the monitor's viewers were given `registered` (in any order,
/// repeats allowed). Asks are compared by the rendition they select for
/// `source` ([`Ask::profile`]), so two windows of different sizes that
/// both get the whole picture share it.
///
/// 1. An ask selecting a rendition some viewer has shares it.
/// 2. While the monitor has fewer than [`MAX_RENDITIONS`], it gets its own.
/// 3. Past that, it shares the largest existing rendition that is no
///    bigger than its own in width, height and quality (never more than
///    it asked for).
/// 4. Failing that (it asks for less than every one in some respect), it
///    gets its own while the monitor has fewer than
///    [`HARD_MAX_RENDITIONS`].
/// 5. Past that too, the smallest existing one: the only case where a
///    viewer gets more than it asked for, and it takes nine viewers asking
///    for nine different things of one monitor.
pub fn assign(registered: &[Ask], ask: Ask, source: (u32, u32)) -> Ask {
    let own = ask.profile(source);
    if let Some(same) = registered.iter().find(|r| r.profile(source) == own) {
        return *same;
    }
    let mut distinct: Vec<(Profile, Ask)> =
        registered.iter().map(|r| (r.profile(source), *r)).collect();
    distinct.sort_unstable_by_key(|(p, _)| (p.width, p.height, p.quality));
    distinct.dedup_by_key(|(p, _)| *p);
    if distinct.len() < MAX_RENDITIONS {
        return ask;
    }
    let area = |p: &Profile| (u64::from(p.width) * u64::from(p.height), p.quality);
    let within = distinct
        .iter()
        .filter(|(p, _)| p.width <= own.width && p.height <= own.height && p.quality <= own.quality)
        .max_by_key(|(p, _)| area(p));
    match within {
        Some((_, given)) => *given,
        None if distinct.len() < HARD_MAX_RENDITIONS => ask,
        None => distinct
            .iter()
            .min_by_key(|(p, _)| area(p))
            .map_or(ask, |(_, given)| *given),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(w: u32, h: u32, quality: u8) -> Ask {
        Ask {
            max_width: w,
            max_height: h,
            quality,
        }
    }

    #[test]
    fn pictures_fit_the_box_with_their_aspect_kept_and_are_never_scaled_up() {
        assert_eq!(fit((1920, 1080), (320, 180)), (320, 180));
        assert_eq!(fit((1920, 1080), (320, 1000)), (320, 180));
        assert_eq!(fit((1920, 1080), (4000, 540)), (960, 540));
        assert_eq!(fit((1920, 1080), (1000, 1000)), (1000, 563));
        assert_eq!(fit((1920, 1080), (4000, 4000)), (1920, 1080));
        assert_eq!(fit((1920, 1080), (1920, 1080)), (1920, 1080));
        assert_eq!(fit((1000, 10), (16, 16)), (16, 1), "never below one pixel");
        assert_eq!(fit((0, 0), (16, 16)), (0, 0), "nothing to scale");
    }

    #[test]
    fn the_quality_asked_is_a_ceiling_under_the_agents_own() {
        let with = |quality| StreamSettings {
            quality,
            ..StreamSettings::default()
        };
        assert_eq!(Ask::from_settings(&with(Some(40)), 75).quality, 40);
        assert_eq!(Ask::from_settings(&with(Some(95)), 75).quality, 75);
        assert_eq!(Ask::from_settings(&with(None), 75), Ask::native(75));
        assert_eq!(
            Ask::native(75).profile((1920, 1080)),
            Profile {
                width: 1920,
                height: 1080,
                quality: 75
            }
        );
    }

    #[test]
    fn past_the_bound_a_viewer_shares_the_largest_rendition_within_its_ask() {
        let source = (1920, 1080);
        let registered = [
            Ask::native(75),
            ask(1280, 720, 75),
            ask(640, 360, 50),
            ask(320, 180, 30),
        ];
        // Below the bound, or already registered: its own.
        assert_eq!(
            assign(&registered[..3], ask(800, 600, 75), source),
            ask(800, 600, 75)
        );
        assert_eq!(assign(&registered, registered[2], source), registered[2]);
        // Past it: the largest one no bigger in any way.
        assert_eq!(
            assign(&registered, ask(1000, 1000, 75), source),
            ask(640, 360, 50)
        );
        assert_eq!(
            assign(&registered, ask(1600, 900, 75), source),
            ask(1280, 720, 75)
        );
        assert_eq!(
            assign(&registered, ask(1600, 900, 60), source),
            ask(640, 360, 50)
        );
        // Less than all in some respect: its own, up to the hard bound...
        assert_eq!(
            assign(&registered, ask(1600, 900, 10), source),
            ask(1600, 900, 10)
        );
        let many: Vec<Ask> = (0..8).map(|i| ask(100 + i, 100, 40)).collect();
        // ...past which the smallest existing one.
        assert_eq!(
            assign(&many, ask(50, 50, 10), (1920, 1080)),
            ask(100, 100, 40)
        );
    }

    #[test]
    fn asks_that_select_the_same_picture_share_it_and_count_once() {
        let source = (1920, 1080);
        // A window bigger than the screen and no box at all: both native.
        assert_eq!(
            assign(&[Ask::native(75)], ask(2560, 1440, 75), source),
            Ask::native(75)
        );
        // Four windows, two of which select one rendition: three
        // renditions, so a fifth ask still gets its own.
        let registered = [
            Ask::native(75),
            ask(4000, 4000, 75),
            ask(960, 540, 75),
            ask(320, 180, 75),
        ];
        assert_eq!(
            assign(&registered, ask(640, 640, 75), source),
            ask(640, 640, 75)
        );
    }
}
