//! Which monitors the X server has, numbered as xcap numbers them, and
//! their geometry kept current.
//!
//! Ids are xcap's: RandR's monitors in RandR's order, one id per output of
//! each, monitors without an output left out (see [`discover`]), so that an
//! id names the same monitor whichever capturer the agent ends up with. The
//! list is fixed when the capturer is built (viewers were told it); the
//! geometry of each monitor is re-read before every frame.

use lookout_protocol::MonitorInfo;
use x11rb::connection::RequestConnection as _;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::{X11Error, request};

/// What a monitor id stands for: a RandR monitor (its name atom) shown on
/// one of its outputs, or the whole root window when RandR lists none.
type Identity = Option<(xproto::Atom, randr::Output)>;

/// A rectangle of the root window, in the X protocol's own types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rect {
    pub(super) x: i16,
    pub(super) y: i16,
    pub(super) width: u16,
    pub(super) height: u16,
}

impl Rect {
    /// Bytes of one 4-byte-per-pixel image of this rectangle.
    pub(super) fn image_len(self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * 4
    }

    /// Whether the two rectangles share at least one pixel.
    pub(super) fn intersects(self, other: Rect) -> bool {
        let span = |start: i16, len: u16| (i32::from(start), i32::from(start) + i32::from(len));
        let (ax0, ax1) = span(self.x, self.width);
        let (ay0, ay1) = span(self.y, self.height);
        let (bx0, bx1) = span(other.x, other.width);
        let (by0, by1) = span(other.y, other.height);
        ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1
    }
}

/// A monitor as RandR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Monitor {
    identity: Identity,
    name: String,
    rect: Rect,
    primary: bool,
    /// False while RandR no longer lists it.
    present: bool,
}

impl Monitor {
    fn info(&self, id: u32) -> MonitorInfo {
        MonitorInfo {
            id,
            name: self.name.clone(),
            x: self.rect.x.into(),
            y: self.rect.y.into(),
            width: self.rect.width.into(),
            height: self.rect.height.into(),
            primary: self.primary,
            all: false,
        }
    }
}

/// The monitors by id, as first found, with their geometry kept current.
#[derive(Debug)]
pub(super) struct Monitors {
    list: Vec<Monitor>,
    /// The same monitors as announced to viewers.
    infos: Vec<MonitorInfo>,
    /// Whether the server has RandR 1.5 (monitors).
    randr: bool,
}

impl Monitors {
    /// Asks the server for its monitors.
    pub(super) fn discover(conn: &RustConnection, root: xproto::Window) -> Result<Self, X11Error> {
        let randr = has_randr_monitors(conn)?;
        let list = discover(conn, root, randr)?;
        let infos = list.iter().zip(0u32..).map(|(m, id)| m.info(id)).collect();
        Ok(Self { list, infos, randr })
    }

    /// The monitors as viewers see them.
    pub(super) fn infos(&self) -> &[MonitorInfo] {
        &self.infos
    }

    /// How many ids there are, present or not.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Where monitor `id` is now; `None` for an unknown id or a monitor
    /// RandR no longer lists.
    pub(super) fn rect(&self, id: u32) -> Option<Rect> {
        let monitor = self.list.get(usize::try_from(id).ok()?)?;
        monitor.present.then_some(monitor.rect)
    }

    /// Every monitor's rectangle, by id.
    pub(super) fn rects(&self) -> impl Iterator<Item = Rect> + '_ {
        self.list.iter().map(|m| m.rect)
    }

    /// Bytes of an image of the largest monitor.
    pub(super) fn largest_image_len(&self) -> u64 {
        self.rects().map(Rect::image_len).max().unwrap_or(0)
    }

    /// Brings the monitors' geometry up to date. RandR is asked before
    /// every frame (one small round trip) rather than trusted to send
    /// events: the X server sends none when a monitor is redefined (`xrandr
    /// --setmonitor`), and a stale rectangle would capture the wrong part of
    /// the screen. A monitor keeps its id; one that is gone makes its id
    /// fail until it comes back.
    pub(super) fn follow_changes(
        &mut self,
        conn: &RustConnection,
        root: xproto::Window,
    ) -> Result<(), X11Error> {
        if !self.randr {
            return Ok(());
        }
        let listed = randr_monitors(conn, root)?;
        let slots = self.list.iter_mut().zip(&mut self.infos);
        for (id, (monitor, info)) in (0u32..).zip(slots) {
            if monitor.identity.is_none() {
                // The whole root window, there because RandR listed nothing.
                continue;
            }
            let now = listed.iter().find(|l| l.identity == monitor.identity);
            let (present, rect, primary) = match now {
                Some(l) => (true, l.rect, l.primary),
                None => (false, monitor.rect, monitor.primary),
            };
            if (present, rect, primary) == (monitor.present, monitor.rect, monitor.primary) {
                continue;
            }
            (monitor.present, monitor.rect, monitor.primary) = (present, rect, primary);
            *info = monitor.info(id);
            tracing::info!(monitor = ?info, present, "an X11 monitor changed");
        }
        Ok(())
    }
}

/// Whether the server has RandR 1.5, which lists monitors.
fn has_randr_monitors(conn: &RustConnection) -> Result<bool, X11Error> {
    if conn
        .extension_information(randr::X11_EXTENSION_NAME)
        .map_err(request)?
        .is_none()
    {
        return Ok(false);
    }
    let version = conn
        .randr_query_version(1, 5)
        .map_err(request)?
        .reply()
        .map_err(request)?;
    Ok((version.major_version, version.minor_version) >= (1, 5))
}

/// One RandR monitor on one of its outputs, without its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    identity: Identity,
    /// The monitor's name atom.
    name: xproto::Atom,
    rect: Rect,
    primary: bool,
}

/// RandR's monitors in RandR's order, one entry per output of each (see
/// [`discover`] for why).
fn randr_monitors(conn: &RustConnection, root: xproto::Window) -> Result<Vec<Listed>, X11Error> {
    let reply = conn
        .randr_get_monitors(root, true)
        .map_err(request)?
        .reply()
        .map_err(request)?;
    Ok(reply
        .monitors
        .iter()
        .flat_map(|m| {
            m.outputs.iter().map(|&output| Listed {
                identity: Some((m.name, output)),
                name: m.name,
                rect: Rect {
                    x: m.x,
                    y: m.y,
                    width: m.width,
                    height: m.height,
                },
                primary: m.primary,
            })
        })
        .collect())
}

/// The monitors as xcap numbers them, so that an id means the same monitor
/// to both capturers: RandR's monitors in RandR's order, one entry per
/// output of each (a monitor without outputs, such as one made with
/// `xrandr --setmonitor NAME GEOMETRY none`, is left out; one spanning two
/// outputs is listed twice). When RandR lists nothing, the whole root
/// window is monitor 0.
fn discover(
    conn: &RustConnection,
    root: xproto::Window,
    randr: bool,
) -> Result<Vec<Monitor>, X11Error> {
    let listed = if randr {
        randr_monitors(conn, root)?
    } else {
        Vec::new()
    };
    // Ask for every name before waiting for any: one round trip, not n.
    let names = listed
        .iter()
        .map(|l| conn.get_atom_name(l.name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(request)?;
    let mut monitors = Vec::with_capacity(listed.len());
    for (l, name) in listed.iter().zip(names) {
        monitors.push(Monitor {
            identity: l.identity,
            name: String::from_utf8_lossy(&name.reply().map_err(request)?.name).into_owned(),
            rect: l.rect,
            primary: l.primary,
            present: true,
        });
    }
    if monitors.is_empty() {
        // Asked, not taken from the connection setup: the root may have
        // been resized since.
        let root = conn
            .get_geometry(root)
            .map_err(request)?
            .reply()
            .map_err(request)?;
        monitors.push(Monitor {
            identity: None,
            name: "screen".into(),
            rect: Rect {
                x: 0,
                y: 0,
                width: root.width,
                height: root.height,
            },
            primary: true,
            present: true,
        });
    }
    Ok(monitors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_intersect_only_when_they_share_a_pixel() {
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let screen = r(1920, 0, 1280, 1024);
        assert!(screen.intersects(r(1920, 0, 1, 1)));
        assert!(screen.intersects(r(3000, 1000, 500, 500)));
        assert!(!screen.intersects(r(0, 0, 1920, 1080)), "touching edges");
        assert!(!screen.intersects(r(3200, 0, 10, 10)));
        assert!(!screen.intersects(r(1920, 1024, 10, 10)));
        assert!(r(-5, -5, 10, 10).intersects(r(0, 0, 1, 1)));
    }
}
