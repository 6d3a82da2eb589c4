//! Which monitors the X server has, and their geometry kept current.
//!
//! Every RandR 1.5 monitor is listed, in RandR's order, whether it shows
//! an output or not (`xrandr --setmonitor NAME GEOMETRY none` splits a wide
//! screen into such virtual monitors). A monitor's id is tied to its name
//! atom: it stays while the monitor exists, a monitor that comes back gets
//! its old id again, and a new one gets an id never used before. A monitor
//! is cut to the root window (a virtual one keeps its geometry when the
//! screen shrinks under it), and left out when nothing of it is inside.
//! When RandR lists nothing (no RandR 1.5), the whole root window is
//! monitor 0.
//!
//! With more than one monitor, one more entry is listed last: "all", id
//! [`ALL_ID`] (never given to a real monitor), the bounding box of every
//! monitor within the root window, `all: true`. Capturing it captures that
//! rectangle of the root window: the whole desktop as one picture.
//!
//! The list is re-read by [`Monitors::refresh`], which the capturer calls
//! when RandR reports a change and, because the X server reports none when
//! a monitor is defined or deleted (`--setmonitor`, `--delmonitor`), every
//! [`RECHECK`] as well: a few small round trips a second, never one per
//! frame.

use std::collections::HashMap;
use std::time::Duration;

use lookout_protocol::MonitorInfo;
use x11rb::connection::RequestConnection as _;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::{X11Error, request};

/// How often the monitors are re-read when no RandR event said they changed.
pub(super) const RECHECK: Duration = Duration::from_millis(250);

/// The id of the "all" entry; real monitors count up from 0 and never get
/// this far.
pub(super) const ALL_ID: u32 = u32::MAX;

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

    /// The smallest rectangle holding every one of `rects` and within
    /// `bounds`; `None` when that is empty.
    pub(super) fn bounding(rects: impl Iterator<Item = Rect>, bounds: Rect) -> Option<Rect> {
        let mut edges: Option<(i32, i32, i32, i32)> = None;
        for r in rects {
            let (x0, y0) = (i32::from(r.x), i32::from(r.y));
            let (x1, y1) = (x0 + i32::from(r.width), y0 + i32::from(r.height));
            edges = Some(match edges {
                None => (x0, y0, x1, y1),
                Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
            });
        }
        let (x0, y0, x1, y1) = edges?;
        let x0 = x0.max(i32::from(bounds.x));
        let y0 = y0.max(i32::from(bounds.y));
        let x1 = x1.min(i32::from(bounds.x) + i32::from(bounds.width));
        let y1 = y1.min(i32::from(bounds.y) + i32::from(bounds.height));
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        Some(Rect {
            x: i16::try_from(x0).ok()?,
            y: i16::try_from(y0).ok()?,
            width: u16::try_from(x1 - x0).ok()?,
            height: u16::try_from(y1 - y0).ok()?,
        })
    }
}

/// A monitor as RandR lists it: its name atom (`None` for the whole root
/// window, when RandR lists nothing), where it is, whether it is primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    atom: Option<xproto::Atom>,
    rect: Rect,
    primary: bool,
}

/// The monitors by id, as the X server has them now.
#[derive(Debug)]
pub(super) struct Monitors {
    /// Ids and rectangles, in the same order as `infos`.
    rects: Vec<(u32, Rect)>,
    /// The same monitors as announced to viewers.
    infos: Vec<MonitorInfo>,
    /// Ids given out so far, by name atom (the root window's is `None`).
    ids: HashMap<Option<xproto::Atom>, u32>,
    /// Names read so far, by atom: atoms are never freed, so a name read
    /// once needs no second round trip.
    names: HashMap<xproto::Atom, String>,
    next_id: u32,
    /// Whether the server has RandR 1.5 (monitors).
    randr: bool,
}

impl Monitors {
    /// Asks the server for its monitors.
    pub(super) fn discover(conn: &RustConnection, root: xproto::Window) -> Result<Self, X11Error> {
        let randr = has_randr_monitors(conn)?;
        let mut monitors = Self {
            rects: Vec::new(),
            infos: Vec::new(),
            ids: HashMap::new(),
            names: HashMap::new(),
            next_id: 0,
            randr,
        };
        monitors.refresh(conn, root)?;
        Ok(monitors)
    }

    /// Whether the server has RandR 1.5, and with it change events.
    pub(super) fn has_randr(&self) -> bool {
        self.randr
    }

    /// The monitors as viewers see them.
    pub(super) fn infos(&self) -> &[MonitorInfo] {
        &self.infos
    }

    /// Where monitor `id` is now; `None` for an id not listed now.
    pub(super) fn rect(&self, id: u32) -> Option<Rect> {
        self.rects.iter().find(|(i, _)| *i == id).map(|&(_, r)| r)
    }

    /// Every monitor's id and rectangle.
    pub(super) fn rects(&self) -> impl Iterator<Item = (u32, Rect)> + '_ {
        self.rects.iter().copied()
    }

    /// Bytes of an image of the largest monitor.
    pub(super) fn largest_image_len(&self) -> u64 {
        self.rects
            .iter()
            .map(|(_, r)| r.image_len())
            .max()
            .unwrap_or(0)
    }

    /// Re-reads the monitors; returns whether the list changed (a monitor
    /// added, removed, moved, resized or made primary).
    pub(super) fn refresh(
        &mut self,
        conn: &RustConnection,
        root: xproto::Window,
    ) -> Result<bool, X11Error> {
        // Both requests out before either reply: one round trip.
        let geometry = conn.get_geometry(root).map_err(request)?;
        let monitors = if self.randr {
            Some(conn.randr_get_monitors(root, true).map_err(request)?)
        } else {
            None
        };
        let root_rect = whole_root(geometry.reply().map_err(request)?);
        let mut listed = match monitors {
            Some(cookie) => randr_monitors(&cookie.reply().map_err(request)?, root_rect.rect),
            None => Vec::new(),
        };
        if listed.is_empty() {
            listed.push(root_rect);
        }
        self.read_names(conn, &listed)?;
        let mut rects = Vec::with_capacity(listed.len());
        let mut infos = Vec::with_capacity(listed.len());
        for l in &listed {
            let id = *self.ids.entry(l.atom).or_insert_with(|| {
                self.next_id += 1;
                self.next_id - 1
            });
            let name = l.atom.and_then(|a| self.names.get(&a));
            rects.push((id, l.rect));
            infos.push(MonitorInfo {
                id,
                name: name.map_or_else(|| "screen".to_owned(), Clone::clone),
                x: l.rect.x.into(),
                y: l.rect.y.into(),
                width: l.rect.width.into(),
                height: l.rect.height.into(),
                primary: l.primary,
                all: false,
            });
        }
        if rects.len() > 1
            && let Some(all) = Rect::bounding(rects.iter().map(|&(_, r)| r), root_rect.rect)
        {
            rects.push((ALL_ID, all));
            infos.push(MonitorInfo {
                id: ALL_ID,
                name: "all".to_owned(),
                x: all.x.into(),
                y: all.y.into(),
                width: all.width.into(),
                height: all.height.into(),
                primary: false,
                all: true,
            });
        }
        if infos == self.infos {
            return Ok(false);
        }
        tracing::info!(monitors = ?infos, "the X11 monitors changed");
        self.rects = rects;
        self.infos = infos;
        Ok(true)
    }

    /// Reads the names not read before: all requests first, then the
    /// replies, so one round trip however many there are.
    fn read_names(&mut self, conn: &RustConnection, listed: &[Listed]) -> Result<(), X11Error> {
        let mut atoms: Vec<xproto::Atom> = listed
            .iter()
            .filter_map(|l| l.atom)
            .filter(|a| !self.names.contains_key(a))
            .collect();
        atoms.dedup();
        let cookies = atoms
            .iter()
            .map(|&a| conn.get_atom_name(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(request)?;
        for (atom, cookie) in atoms.into_iter().zip(cookies) {
            let name = cookie.reply().map_err(request)?.name;
            self.names
                .insert(atom, String::from_utf8_lossy(&name).into_owned());
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

/// RandR's monitors in RandR's order, with or without outputs, each cut to
/// the part inside `root`: a virtual monitor keeps its geometry when the
/// screen shrinks under it (`--setmonitor` then a smaller mode), and only
/// what is inside the root window can be captured. One wholly outside is
/// left out, like one whose outputs are all off (it has no size).
fn randr_monitors(reply: &randr::GetMonitorsReply, root: Rect) -> Vec<Listed> {
    reply
        .monitors
        .iter()
        .filter_map(|m| {
            let rect = Rect {
                x: m.x,
                y: m.y,
                width: m.width,
                height: m.height,
            };
            let inside = Rect::bounding(std::iter::once(rect), root)?;
            Some(Listed {
                atom: Some(m.name),
                rect: inside,
                primary: m.primary,
            })
        })
        .collect()
}

/// The whole root window, from its geometry asked at this refresh rather
/// than taken from the connection setup: the root may have been resized.
fn whole_root(geometry: xproto::GetGeometryReply) -> Listed {
    Listed {
        atom: None,
        rect: Rect {
            x: 0,
            y: 0,
            width: geometry.width,
            height: geometry.height,
        },
        primary: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounding_box_holds_every_monitor_within_the_root() {
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let root = r(0, 0, 1920, 1080);
        let halves = [r(0, 0, 960, 1080), r(960, 0, 960, 1080)];
        assert_eq!(Rect::bounding(halves.into_iter(), root), Some(root));
        let spill = [r(100, 50, 10, 10), r(1900, 1000, 500, 500)];
        assert_eq!(
            Rect::bounding(spill.into_iter(), root),
            Some(r(100, 50, 1820, 1030))
        );
        assert_eq!(Rect::bounding([r(2000, 0, 5, 5)].into_iter(), root), None);
        assert_eq!(Rect::bounding(std::iter::empty(), root), None);
    }
}
