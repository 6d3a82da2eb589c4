//! What a viewer wants to see (`View`, written by its uplink, followed by
//! its downlink) and the size its pointer positions are in (`SentSize`,
//! written by its downlink, read by its uplink).

use std::time::Duration;

use crate::rendition::Ask;

/// What this viewer wants to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    /// Streaming on (`start_monitor`) or off.
    pub monitoring: bool,
    /// Which monitor.
    pub monitor: u32,
    /// Region updates accepted (`start_monitor` with `regions: true`).
    pub regions: bool,
    /// Counts `start_monitor`s: each asks for a full frame next.
    pub restarts: u64,
    /// The size and quality asked for (`start_monitor` settings).
    pub ask: Ask,
    /// At most this many frames a second (`start_monitor`'s `fps`).
    pub fps: Option<u32>,
}

/// The size of the frames a viewer was last sent, for its pointer
/// positions (which are in that pixel space): written by its downlink,
/// read by its uplink.
///
/// When the size changes for a new rendition of the same picture (the
/// viewer's settings, the adaptive rate), the viewer goes on pointing in the
/// old picture until the first frame of the new size has crossed its link
/// and been shown; for that long ([`SIZE_GRACE`] plus the frame's write
/// time) positions are still read in the old size. When the picture itself
/// changes size (a new screen mode), old positions mean nothing: the new
/// size applies at once.
#[derive(Debug, Default)]
pub(crate) struct SentSize(std::sync::Mutex<Sizes>);

/// How long a viewer is taken to need to show a frame once written: what
/// its socket may hold unsent on a slow link, a tenth of a second, and the
/// decode.
const SIZE_GRACE: Duration = Duration::from_millis(150);

#[derive(Debug, Default)]
struct Sizes {
    /// The size of the picture the frames are of (before any scaling).
    source: Option<(u32, u32)>,
    now: Option<(u32, u32)>,
    before: Option<(u32, u32)>,
    until: Option<std::time::Instant>,
}

impl SentSize {
    fn sizes(&self) -> std::sync::MutexGuard<'_, Sizes> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A frame of `size` of a picture of `source` size was written, which
    /// took `writing`.
    pub(super) fn set(&self, size: (u32, u32), source: (u32, u32), writing: Duration) {
        let mut sizes = self.sizes();
        if sizes.source.replace(source) != Some(source) {
            *sizes = Sizes {
                source: Some(source),
                now: Some(size),
                ..Sizes::default()
            };
        } else if sizes.now != Some(size) {
            sizes.before = sizes.now.replace(size);
            sizes.until =
                Some(std::time::Instant::now() + SIZE_GRACE + writing.min(Duration::from_secs(2)));
        }
    }

    /// Forgets the sizes (another monitor: its first frame sets them).
    pub(crate) fn clear(&self) {
        *self.sizes() = Sizes::default();
    }

    /// The size the viewer's pointer positions are in, if any frame was
    /// sent.
    pub(crate) fn get(&self) -> Option<(u32, u32)> {
        let sizes = self.sizes();
        match sizes.until {
            Some(until) if std::time::Instant::now() < until => sizes.before.or(sizes.now),
            _ => sizes.now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_positions_stay_in_the_old_size_until_the_new_one_can_be_shown() {
        let sizes = SentSize::default();
        assert_eq!(sizes.get(), None);
        let screen = (1920, 1080);
        sizes.set(screen, screen, Duration::ZERO);
        assert_eq!(sizes.get(), Some(screen), "the first size at once");
        // A smaller rendition was just written: the viewer still shows the
        // big picture.
        sizes.set((960, 540), screen, Duration::from_millis(10));
        assert_eq!(sizes.get(), Some(screen));
        // A new screen mode: the old positions mean nothing.
        sizes.set((800, 600), (800, 600), Duration::from_millis(10));
        assert_eq!(sizes.get(), Some((800, 600)));
        // Another monitor: nothing known until its first frame.
        sizes.clear();
        assert_eq!(sizes.get(), None);
        sizes.set((640, 360), screen, Duration::ZERO);
        assert_eq!(sizes.get(), Some((640, 360)));
    }
}
