//! The compositor's outputs as monitors: `wl_output` for the size in
//! pixels (the current mode), xdg-output for the name and the place in the
//! layout. Ids are given by name in the order outputs are first seen and
//! kept for as long as the connection lives, so an output that goes away
//! and comes back keeps its id; the first one seen is the primary.
//!
//! The layout is in logical units, the sizes in pixels: on a scaled
//! output (`scale 2`: 1920x1080 pixels, 960x540 logical) the two differ,
//! and a monitor placed at its logical position with its pixel size would
//! overlap its neighbour. Monitors are placed at their logical position
//! times the largest pixels-per-logical-unit of all outputs ([`Outputs::
//! factor`]): with every output at scale 1 that is the layout as it is,
//! and otherwise no two monitors overlap (each one's pixel size is at most
//! its logical size times that factor), so a desktop point names one
//! output and the pointer goes there. A rotated output's size is its
//! upright one ([`super::transform`]).

use std::collections::HashMap;

use lookout_protocol::MonitorInfo;
use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, Proxy as _, QueueHandle};
use wayland_protocols::xdg::xdg_output::zv1::client::{zxdg_output_manager_v1, zxdg_output_v1};

use super::State;
use super::transform::Transform;

/// What is known of one output.
#[derive(Debug)]
pub(crate) struct Output {
    /// The registry's name of its global.
    global: u32,
    pub(crate) wl: wl_output::WlOutput,
    xdg: Option<zxdg_output_v1::ZxdgOutputV1>,
    name: Option<String>,
    /// Place in the layout (xdg-output's logical position).
    pub(crate) x: i32,
    pub(crate) y: i32,
    /// Size in the layout (xdg-output's logical size); 0 while unknown.
    logical_width: u32,
    logical_height: u32,
    /// Size in pixels, upright ([`Transform::upright_size`] of the current
    /// mode): what a viewer sees and the pointer's extent.
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// The current mode's size, as the compositor's buffers have it.
    mode: (u32, u32),
    /// How the output's buffers are turned from the upright picture.
    pub(crate) transform: Transform,
}

/// The outputs, in the order they were bound.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    list: Vec<Output>,
    ids: HashMap<String, u32>,
    /// Something changed since [`Outputs::take_changed`].
    changed: bool,
}

impl Output {
    /// The registry's name of its global: stable while it exists.
    pub(crate) fn global(&self) -> u32 {
        self.global
    }

    /// The upright size from the mode and the transform.
    fn set_size(&mut self) {
        (self.width, self.height) = self.transform.upright_size(self.mode.0, self.mode.1);
    }
}

impl Outputs {
    /// Binds the output global `global` (and its xdg-output).
    pub(crate) fn bind(
        &mut self,
        registry: &wl_registry::WlRegistry,
        global: u32,
        version: u32,
        xdg: Option<&zxdg_output_manager_v1::ZxdgOutputManagerV1>,
        qh: &QueueHandle<State>,
    ) {
        let wl: wl_output::WlOutput = registry.bind(global, version.min(3), qh, global);
        let xdg = xdg.map(|m| m.get_xdg_output(&wl, qh, global));
        self.list.push(Output {
            global,
            wl,
            xdg,
            name: None,
            x: 0,
            y: 0,
            logical_width: 0,
            logical_height: 0,
            width: 0,
            height: 0,
            mode: (0, 0),
            transform: Transform::default(),
        });
        self.changed = true;
    }

    /// Forgets the output of global `global`, if it was one.
    pub(crate) fn remove(&mut self, global: u32) {
        if let Some(i) = self.list.iter().position(|o| o.global == global) {
            let out = self.list.remove(i);
            if let Some(xdg) = out.xdg {
                xdg.destroy();
            }
            if out.wl.version() >= 3 {
                out.wl.release();
            }
            self.changed = true;
        }
    }

    fn by_global(&mut self, global: u32) -> Option<&mut Output> {
        self.list.iter_mut().find(|o| o.global == global)
    }

    /// Whether anything changed since the last call.
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The outputs that are fully described (named, with a size), with
    /// their ids.
    pub(crate) fn ready(&mut self) -> Vec<(u32, &Output)> {
        for out in &self.list {
            if let Some(name) = &out.name
                && !self.ids.contains_key(name)
            {
                let next = self.ids.len() as u32;
                self.ids.insert(name.clone(), next);
            }
        }
        let ids = &self.ids;
        let mut ready: Vec<(u32, &Output)> = self
            .list
            .iter()
            .filter(|o| o.width > 0 && o.height > 0)
            .filter_map(|o| Some((*ids.get(o.name.as_ref()?)?, o)))
            .collect();
        ready.sort_by_key(|(id, _)| *id);
        ready
    }

    /// Pixels per logical unit of the most scaled output (1 when none is,
    /// or while logical sizes are unknown): what logical positions are
    /// multiplied by to place the monitors.
    pub(crate) fn factor(&mut self) -> f64 {
        self.ready()
            .into_iter()
            .map(|(_, o)| pixels_per_unit(o))
            .fold(1.0, f64::max)
    }

    /// The outputs as monitors; the one with the lowest id is primary.
    pub(crate) fn infos(&mut self) -> Vec<MonitorInfo> {
        let factor = self.factor();
        let ready = self.ready();
        let first = ready.first().map(|(id, _)| *id);
        ready
            .into_iter()
            .map(|(id, o)| MonitorInfo {
                id,
                name: o.name.clone().unwrap_or_default(),
                x: place(o.x, factor),
                y: place(o.y, factor),
                width: o.width,
                height: o.height,
                primary: Some(id) == first,
                all: false,
            })
            .collect()
    }

    /// The output of monitor `id`.
    pub(crate) fn output(&mut self, id: u32) -> Option<&Output> {
        self.ready()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, o)| o)
    }

    /// The output whose monitor holds the desktop point (`x`, `y`) of
    /// [`Outputs::infos`]' layout, or the nearest one, with that monitor's
    /// top left corner.
    pub(crate) fn at(&mut self, x: i32, y: i32) -> Option<(&Output, (i32, i32))> {
        let factor = self.factor();
        let distance = |(o, (ox, oy)): &(&Output, (i32, i32))| {
            let dx = (ox - x).max(x - (ox + o.width as i32 - 1)).max(0);
            let dy = (oy - y).max(y - (oy + o.height as i32 - 1)).max(0);
            i64::from(dx) * i64::from(dx) + i64::from(dy) * i64::from(dy)
        };
        self.ready()
            .into_iter()
            .map(|(_, o)| (o, (place(o.x, factor), place(o.y, factor))))
            .min_by_key(distance)
    }
}

/// Pixels per logical unit of `o` (2 at `scale 2`), 1 while unknown.
fn pixels_per_unit(o: &Output) -> f64 {
    if o.logical_width == 0 || o.logical_height == 0 {
        return 1.0;
    }
    let across = f64::from(o.width) / f64::from(o.logical_width);
    let down = f64::from(o.height) / f64::from(o.logical_height);
    across.max(down)
}

/// A logical coordinate of the layout as a coordinate of the monitors'.
fn place(logical: i32, factor: f64) -> i32 {
    (f64::from(logical) * factor).round() as i32
}

impl Dispatch<wl_output::WlOutput, u32> for State {
    fn event(
        state: &mut Self,
        _: &wl_output::WlOutput,
        event: wl_output::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(out) = state.outputs.by_global(*global) else {
            return;
        };
        match event {
            wl_output::Event::Mode {
                flags,
                width,
                height,
                ..
            } if flags
                .into_result()
                .is_ok_and(|f| f.contains(wl_output::Mode::Current)) =>
            {
                // From the compositor: an absurd size is no size.
                let side = |v: i32| {
                    u32::try_from(v)
                        .ok()
                        .filter(|v| *v <= super::screencopy::MAX_SIDE)
                        .unwrap_or(0)
                };
                out.mode = (side(width), side(height));
            }
            wl_output::Event::Geometry { transform, .. } => {
                out.transform = Transform::from(transform);
            }
            _ => return,
        }
        out.set_size();
        state.outputs.changed = true;
    }
}

impl Dispatch<zxdg_output_v1::ZxdgOutputV1, u32> for State {
    fn event(
        state: &mut Self,
        _: &zxdg_output_v1::ZxdgOutputV1,
        event: zxdg_output_v1::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(out) = state.outputs.by_global(*global) else {
            return;
        };
        match event {
            zxdg_output_v1::Event::LogicalPosition { x, y } => {
                (out.x, out.y) = (x, y);
            }
            zxdg_output_v1::Event::LogicalSize { width, height } => {
                out.logical_width = u32::try_from(width).unwrap_or(0);
                out.logical_height = u32::try_from(height).unwrap_or(0);
            }
            // A name from the network: kept within a sane length, shown
            // escaped wherever it is logged (`MonitorInfo` names are).
            zxdg_output_v1::Event::Name { name } => {
                out.name = Some(name.chars().take(64).collect());
            }
            _ => return,
        }
        state.outputs.changed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn a_scale_2_output_and_its_scale_1_neighbour_do_not_overlap() {
        // HEADLESS-1: 1280x720 pixels at scale 2, 640x360 logical at 0;
        // HEADLESS-2: 800x600 at scale 1, logical x 640. Factor 2.
        let factor = 1280.0 / 640.0;
        let first = (place(0, factor), 1280);
        let second = place(640, factor);
        assert!(first.0 + first.1 <= second, "{first:?} then {second}");
        assert_eq!(second, 1280);
    }

    #[test]
    fn an_unscaled_layout_is_placed_as_it_is() {
        for v in [-1920, 0, 1280, 3840] {
            assert_eq!(place(v, 1.0), v);
        }
        // A fractional scale (1.5) rounds to whole pixels.
        assert_eq!(place(1281, 1.5), 1922);
    }
}
