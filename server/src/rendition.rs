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

    /// Whether this ask is no more than `other` in every respect, so that
    /// a viewer asking `other` can be given it.
    fn within(&self, other: &Self) -> bool {
        self.max_width <= other.max_width
            && self.max_height <= other.max_height
            && self.quality <= other.quality
    }

    /// A rough size for ordering: the box's area, then the quality.
    fn weight(&self) -> (u64, u8) {
        (
            u64::from(self.max_width) * u64::from(self.max_height),
            self.quality,
        )
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

/// The ask a viewer asking `ask` is given, when the monitor's renditions
/// are asked for by `registered` (distinct asks, in any order):
///
/// 1. an ask already registered is shared as it is;
/// 2. while fewer than [`MAX_RENDITIONS`] are registered, it gets its own;
/// 3. past the bound, it shares the largest registered ask that is within
///    its own in every respect (box and quality), so that it never gets
///    more than it asked for;
/// 4. failing that, the smallest registered ask: a viewer past the bound
///    may get less than it asked for, never more bytes than the most
///    modest viewer.
pub fn assign(registered: &[Ask], ask: Ask) -> Ask {
    if registered.contains(&ask) || registered.len() < MAX_RENDITIONS {
        return ask;
    }
    registered
        .iter()
        .filter(|r| r.within(&ask))
        .max_by_key(|r| r.weight())
        .or_else(|| registered.iter().min_by_key(|r| r.weight()))
        .copied()
        .unwrap_or(ask)
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
        let registered = [
            Ask::native(75),
            ask(1280, 720, 75),
            ask(640, 360, 50),
            ask(320, 180, 30),
        ];
        // Below the bound, or already registered: its own.
        assert_eq!(
            assign(&registered[..3], ask(800, 600, 75)),
            ask(800, 600, 75)
        );
        assert_eq!(assign(&registered, registered[2]), registered[2]);
        // Past it: the largest one no bigger in any way.
        assert_eq!(assign(&registered, ask(1000, 1000, 75)), ask(640, 360, 50));
        assert_eq!(assign(&registered, ask(1600, 900, 75)), ask(1280, 720, 75));
        assert_eq!(assign(&registered, ask(1600, 900, 60)), ask(640, 360, 50));
        // Nothing within (it asks for less quality than all): the smallest.
        assert_eq!(assign(&registered, ask(1600, 900, 10)), ask(320, 180, 30));
    }
}
