//! The size of the screen the window is about to open on, so the first
//! window fits it ([`crate::layout::window_bounds`]). minifb cannot tell,
//! so on X11 the viewer asks the X server itself: the RandR monitor under
//! the pointer (where window managers usually place a new window), else the
//! primary monitor, else the whole root window. Anywhere else, or when the
//! X server cannot be reached, the size is unknown and the caller falls
//! back to a fixed bound.

/// One monitor's rectangle in root-window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Monitor {
    /// Left edge.
    pub(crate) x: i32,
    /// Top edge.
    pub(crate) y: i32,
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// The desktop's primary monitor.
    pub(crate) primary: bool,
}

impl Monitor {
    fn contains(&self, (px, py): (i32, i32)) -> bool {
        let (x, y) = (i64::from(self.x), i64::from(self.y));
        let (px, py) = (i64::from(px), i64::from(py));
        px >= x && py >= y && px < x + i64::from(self.width) && py < y + i64::from(self.height)
    }

    fn size(&self) -> Option<(usize, usize)> {
        let w = usize::try_from(self.width).ok()?;
        let h = usize::try_from(self.height).ok()?;
        (w > 0 && h > 0).then_some((w, h))
    }
}

/// The monitor a new window most likely opens on: the one under the
/// pointer, else the primary, else the first.
pub(crate) fn pick(monitors: &[Monitor], pointer: Option<(i32, i32)>) -> Option<(usize, usize)> {
    let under_pointer = pointer.and_then(|p| monitors.iter().find(|m| m.contains(p)));
    under_pointer
        .or_else(|| monitors.iter().find(|m| m.primary))
        .or_else(|| monitors.first())
        .and_then(Monitor::size)
}

/// The size of the screen a new window opens on, if it can be found.
pub(crate) fn size() -> Option<(usize, usize)> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        // Under Wayland minifb opens a Wayland window, and an X server (if
        // any, XWayland) may not see the same layout.
        if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            return None;
        }
        match x11::size() {
            Ok(size) => size,
            Err(err) => {
                tracing::debug!("cannot ask the X server for the screen size: {err}");
                None
            }
        }
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        None
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
mod x11 {
    use x11rb::connection::Connection;
    use x11rb::protocol::randr::ConnectionExt as _;
    use x11rb::protocol::xproto::ConnectionExt as _;

    use super::{Monitor, pick};

    /// Any failure talking to the X server; the caller only logs it.
    type Error = Box<dyn std::error::Error + Send + Sync>;

    /// Asks the X server named by `DISPLAY`.
    pub(super) fn size() -> Result<Option<(usize, usize)>, Error> {
        let (conn, screen_num) = x11rb::connect(None)?;
        let screen = conn
            .setup()
            .roots
            .get(screen_num)
            .ok_or("no such X screen")?;
        let root = screen.root;
        let whole = Monitor {
            x: 0,
            y: 0,
            width: u32::from(screen.width_in_pixels),
            height: u32::from(screen.height_in_pixels),
            primary: true,
        };
        let pointer = conn
            .query_pointer(root)?
            .reply()
            .ok()
            .map(|p| (i32::from(p.root_x), i32::from(p.root_y)));
        // RandR 1.5 monitors (a server without RandR has one screen: the
        // root window).
        let monitors: Vec<Monitor> = match conn.randr_get_monitors(root, true) {
            Ok(cookie) => cookie
                .reply()
                .map(|reply| {
                    reply
                        .monitors
                        .iter()
                        .map(|m| Monitor {
                            x: i32::from(m.x),
                            y: i32::from(m.y),
                            width: u32::from(m.width),
                            height: u32::from(m.height),
                            primary: m.primary,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Ok(pick(&monitors, pointer).or_else(|| whole.size()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEFT: Monitor = Monitor {
        x: 0,
        y: 0,
        width: 1920,
        height: 1080,
        primary: false,
    };
    const RIGHT: Monitor = Monitor {
        x: 1920,
        y: 0,
        width: 1280,
        height: 1024,
        primary: true,
    };

    #[test]
    fn the_monitor_under_the_pointer_wins() {
        assert_eq!(pick(&[LEFT, RIGHT], Some((100, 100))), Some((1920, 1080)));
        assert_eq!(pick(&[LEFT, RIGHT], Some((1920, 0))), Some((1280, 1024)));
    }

    #[test]
    fn without_a_pointer_the_primary_then_the_first_wins() {
        assert_eq!(pick(&[LEFT, RIGHT], None), Some((1280, 1024)));
        // Below both monitors (a dead corner of a ragged layout).
        assert_eq!(pick(&[LEFT, RIGHT], Some((10, 2000))), Some((1280, 1024)));
        let no_primary = Monitor {
            primary: false,
            ..RIGHT
        };
        assert_eq!(pick(&[LEFT, no_primary], None), Some((1920, 1080)));
    }

    #[test]
    fn no_monitors_or_empty_ones_mean_unknown() {
        assert_eq!(pick(&[], Some((0, 0))), None);
        let empty = Monitor { width: 0, ..LEFT };
        assert_eq!(pick(&[empty], Some((0, 0))), None);
    }
}
