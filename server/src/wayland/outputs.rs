//! The compositor's outputs as monitors: `wl_output` for the size in
//! pixels (the current mode), xdg-output for the name and the place in the
//! layout. Ids are given by name in the order outputs are first seen and
//! kept for as long as the connection lives, so an output that goes away
//! and comes back keeps its id; the first one seen is the primary.

use std::collections::HashMap;

use lookout_protocol::MonitorInfo;
use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, Proxy as _, QueueHandle};
use wayland_protocols::xdg::xdg_output::zv1::client::{zxdg_output_manager_v1, zxdg_output_v1};

use super::State;

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
    /// Size in pixels (the current mode).
    pub(crate) width: u32,
    pub(crate) height: u32,
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
            width: 0,
            height: 0,
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

    /// The outputs as monitors; the one with the lowest id is primary.
    pub(crate) fn infos(&mut self) -> Vec<MonitorInfo> {
        let ready = self.ready();
        let first = ready.first().map(|(id, _)| *id);
        ready
            .into_iter()
            .map(|(id, o)| MonitorInfo {
                id,
                name: o.name.clone().unwrap_or_default(),
                x: o.x,
                y: o.y,
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

    /// The output whose area holds the desktop point (`x`, `y`), or the
    /// nearest one.
    pub(crate) fn at(&mut self, x: i32, y: i32) -> Option<&Output> {
        let distance = |o: &Output| {
            let dx = (o.x - x).max(x - (o.x + o.width as i32 - 1)).max(0);
            let dy = (o.y - y).max(y - (o.y + o.height as i32 - 1)).max(0);
            i64::from(dx) * i64::from(dx) + i64::from(dy) * i64::from(dy)
        };
        self.ready()
            .into_iter()
            .map(|(_, o)| o)
            .min_by_key(|o| distance(o))
    }
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
        if let wl_output::Event::Mode {
            flags,
            width,
            height,
            ..
        } = event
            && flags
                .into_result()
                .is_ok_and(|f| f.contains(wl_output::Mode::Current))
        {
            out.width = u32::try_from(width).unwrap_or(0);
            out.height = u32::try_from(height).unwrap_or(0);
            state.outputs.changed = true;
        }
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
