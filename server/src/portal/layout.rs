//! Where each shared monitor is on the desktop the viewers see. A portal
//! may leave a stream's position or size out: the size then comes from
//! the picture PipeWire negotiated, and a monitor without a position is
//! placed right of the others, so that no two monitors overlap and each
//! desktop point names one stream (the one whose picture shows it).
//!
//! Positions from the portal are logical (GNOME places scaled monitors by
//! their logical size), the pictures physical: at scale 2 two monitors
//! side by side would overlap by half. Positions are multiplied by the
//! largest pixels-per-logical-unit of all streams (as the wlroots backend
//! places its outputs), which at scale 1 leaves them as they are.

use super::PortalStream;

/// One monitor of the session, placed: its stream, where it is, its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The PipeWire node of its stream.
    pub node: u32,
    /// Its top-left corner in the desktop.
    pub position: (i32, i32),
    /// Its size in pixels.
    pub size: (u32, u32),
}

/// Places `streams`, with `negotiated[i]` the picture size PipeWire
/// negotiated for stream `i` (preferred: it is the picture the viewers
/// see); a stream with neither size is left out (it has no picture yet).
pub fn place(streams: &[PortalStream], negotiated: &[Option<(u32, u32)>]) -> Vec<Placed> {
    let size = |i: usize, s: &PortalStream| negotiated.get(i).copied().flatten().or(s.size);
    let factor = pixels_per_unit(streams, negotiated);
    let scaled = |(x, y): (i32, i32)| {
        let at = |v: i32| (f64::from(v) * factor).round() as i32;
        (at(x), at(y))
    };
    // Right of every monitor the portal placed.
    let mut right = streams
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let (x, _) = scaled(s.position?);
            let (w, _) = size(i, s)?;
            Some(i64::from(x) + i64::from(w))
        })
        .max()
        .unwrap_or(0);
    let mut placed = Vec::with_capacity(streams.len());
    for (i, stream) in streams.iter().enumerate() {
        let Some(size) = size(i, stream) else {
            continue;
        };
        let position = match stream.position {
            Some(position) => scaled(position),
            None => {
                let x = i32::try_from(right).unwrap_or(i32::MAX);
                right += i64::from(size.0);
                (x, 0)
            }
        };
        placed.push(Placed {
            node: stream.node,
            position,
            size,
        });
    }
    placed
}

/// Picture pixels per logical unit of the most scaled stream whose
/// portal size and picture size are both known; 1 otherwise.
fn pixels_per_unit(streams: &[PortalStream], negotiated: &[Option<(u32, u32)>]) -> f64 {
    streams
        .iter()
        .zip(negotiated)
        .filter_map(|(s, picture)| {
            let (lw, lh) = s.size.filter(|(w, h)| *w > 0 && *h > 0)?;
            let (pw, ph) = (*picture)?;
            Some((f64::from(pw) / f64::from(lw)).max(f64::from(ph) / f64::from(lh)))
        })
        .fold(1.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_without_position_or_size_are_sized_by_pipewire_and_placed_apart() {
        let unplaced = |node| PortalStream {
            node,
            position: None,
            size: None,
        };
        let placed = place(
            &[unplaced(40), unplaced(41)],
            &[Some((1920, 1080)), Some((1280, 1024))],
        );
        assert_eq!(
            placed,
            vec![
                Placed {
                    node: 40,
                    position: (0, 0),
                    size: (1920, 1080)
                },
                Placed {
                    node: 41,
                    position: (1920, 0),
                    size: (1280, 1024)
                },
            ]
        );
    }

    #[test]
    fn the_portals_positions_are_kept_and_an_unplaced_monitor_goes_right_of_them() {
        let streams = [
            PortalStream {
                node: 1,
                position: Some((0, 0)),
                size: Some((800, 600)),
            },
            PortalStream {
                node: 2,
                position: None,
                size: Some((640, 480)),
            },
            PortalStream {
                node: 3,
                position: Some((800, 0)),
                size: None,
            },
        ];
        let placed = place(&streams, &[None, None, Some((1024, 768))]);
        let at: Vec<_> = placed.iter().map(|p| (p.node, p.position)).collect();
        assert_eq!(at, vec![(1, (0, 0)), (2, (1824, 0)), (3, (800, 0))]);
        assert!(
            place(&streams[2..], &[None]).is_empty(),
            "no size: no picture yet"
        );
    }

    #[test]
    fn scale_2_monitors_side_by_side_do_not_overlap() {
        // GNOME at scale 2: logical 1920x1080 at 0 and at 1920, pictures
        // of 3840x2160 each.
        let at = |node, x| PortalStream {
            node,
            position: Some((x, 0)),
            size: Some((1920, 1080)),
        };
        let placed = place(
            &[at(40, 0), at(41, 1920)],
            &[Some((3840, 2160)), Some((3840, 2160))],
        );
        assert_eq!(placed[0].position, (0, 0));
        assert_eq!(placed[1].position, (3840, 0));
        assert!(placed[0].position.0 + placed[0].size.0 as i32 <= placed[1].position.0);
    }
}
