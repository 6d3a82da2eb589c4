//! The screen of a wlroots compositor (sway, Wayfire, river, ...) through
//! its screencopy protocol, one output per monitor, into shared memory
//! (see [`crate::wayland::screencopy`]).
//!
//! Event-driven: after each capture of a monitor, the next copy is asked
//! for at once with `copy_with_damage`, which the compositor holds until
//! something on that output changes. [`Capturer::unchanged`] only looks
//! whether it arrived (no waiting), so a still screen costs one `poll` per
//! tick; when it arrives, its damage box is the capture's change hint.
//! Between ticks the capture thread waits on the connection
//! ([`Capturer::wait_change`]), so a copy is read as soon as it arrives.
//!
//! Other capture protocols (`ext-image-copy-capture-v1`, which newer
//! compositors offer) fit beside this one: a module of their own next to
//! `wayland::screencopy`, chosen in [`WlrCapturer::new`] from the globals.

mod read;

use std::time::{Duration, Instant};

use lookout_protocol::MonitorInfo;
use wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1;

use super::{CaptureError, Captured, CapturedImage, Capturer};
use crate::regions::Rect;
use crate::wayland::screencopy::{CopyMode, Phase, ShmBuffer};
use crate::wayland::transform::Transform;
use crate::wayland::{Client, WlrError};

/// How long a whole-output copy may take: the compositor copies on its
/// next frame (16.7 ms at 60 Hz), so this is only reached when it is stuck.
const WHOLE_COPY: Duration = Duration::from_secs(2);

/// Captures a wlroots compositor's outputs.
#[derive(Debug)]
pub struct WlrCapturer {
    client: Client,
    manager: ZwlrScreencopyManagerV1,
    monitors: Vec<MonitorInfo>,
}

impl WlrCapturer {
    /// Connects to the compositor of `WAYLAND_DISPLAY` and lists its outputs.
    pub fn new() -> Result<Self, CaptureError> {
        Self::connect(None)
    }

    /// Connects to the compositor listening at `socket` (a path, as
    /// `WAYLAND_DISPLAY` may be), for tests and tools that hold several
    /// sessions.
    pub fn with_socket(socket: &std::path::Path) -> Result<Self, CaptureError> {
        Self::connect(Some(socket))
    }

    fn connect(socket: Option<&std::path::Path>) -> Result<Self, CaptureError> {
        let client = Client::connect(socket)?;
        let manager: ZwlrScreencopyManagerV1 = client.bind(1..=3, "zwlr_screencopy_manager_v1")?;
        let mut client = client;
        client.state.shm = Some(client.bind(1..=1, "wl_shm")?);
        let monitors = client.state.outputs.infos();
        client.state.outputs.take_changed();
        if monitors.is_empty() {
            return Err(CaptureError::NoMonitors);
        }
        Ok(Self {
            client,
            manager,
            monitors,
        })
    }

    /// A capturer for this session, or `None` when this is not a Wayland
    /// session (no `WAYLAND_DISPLAY`).
    pub fn from_session() -> Option<Result<Self, CaptureError>> {
        std::env::var_os("WAYLAND_DISPLAY")
            .is_some_and(|v| !v.is_empty())
            .then(Self::new)
    }

    /// Starts a copy of monitor `id`.
    fn start(&mut self, id: u32, mode: CopyMode) -> Result<(), CaptureError> {
        let client = &mut self.client;
        let output = client
            .state
            .outputs
            .output(id)
            .map(|o| o.wl.clone())
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        client
            .state
            .frames
            .start(&self.manager, &output, id, mode, &client.qh);
        client.queue.flush().map_err(WlrError::from)?;
        Ok(())
    }

    /// Reads what the compositor sent so far, without waiting.
    fn poll(&mut self) -> Result<(), CaptureError> {
        self.client.read_events(Duration::ZERO)?;
        if let Some(err) = self.client.state.frames.memory_error.take() {
            return Err(WlrError::Memory(err).into());
        }
        Ok(())
    }

    fn phase(&self, id: u32) -> Option<(CopyMode, Phase)> {
        let slot = self.client.state.frames.slot(id)?;
        Some((slot.mode, slot.phase))
    }

    /// A whole copy of monitor `id`, now.
    fn whole(&mut self, id: u32, canvas: Option<CapturedImage>) -> Result<Captured, CaptureError> {
        self.start(id, CopyMode::Whole)?;
        let done = self.client.wait_until(WHOLE_COPY, |state| {
            state
                .frames
                .slot(id)
                .is_none_or(|s| matches!(s.phase, Phase::Ready | Phase::Failed))
        })?;
        if let Some(err) = self.client.state.frames.memory_error.take() {
            return Err(WlrError::Memory(err).into());
        }
        if !done {
            return Err(WlrError::Timeout(WHOLE_COPY).into());
        }
        let (image, _) = self.read(id, canvas, None)?;
        Ok(Captured {
            image,
            changed: None,
        })
    }

    /// The finished copy of monitor `id` upright, read into `canvas` (only
    /// the rows of the damage box `only`, when given), with that box
    /// upright.
    fn read(
        &mut self,
        id: u32,
        canvas: Option<CapturedImage>,
        only: Option<Rect>,
    ) -> Result<(CapturedImage, Option<Rect>), CaptureError> {
        let transform = self.transform(id);
        let slot = self
            .client
            .state
            .frames
            .slot(id)
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        if slot.phase != Phase::Ready {
            return Err(WlrError::CopyFailed(id).into());
        }
        let buffer = slot.buffer.as_ref().ok_or(WlrError::Format(id))?;
        upright(buffer, slot.y_invert, transform, canvas, only)
    }
}

/// The copy in `buffer` upright, read into `canvas` (only the rows of the
/// damage box `only`, when given), with that box upright.
fn upright(
    buffer: &ShmBuffer,
    y_invert: bool,
    transform: Transform,
    canvas: Option<CapturedImage>,
    only: Option<Rect>,
) -> Result<(CapturedImage, Option<Rect>), CaptureError> {
    let (width, height) = (buffer.layout.width, buffer.layout.height);
    let image = read::image(buffer, y_invert, transform, canvas, only).map_err(WlrError::Memory)?;
    let only = only.map(|rect| transform.rect_to_upright(rect, width, height));
    Ok((image, only))
}

impl WlrCapturer {
    /// Reads the copy that finished into monitor `id`'s buffer, after the
    /// next copy was asked for (which keeps the buffer and leaves it
    /// alone until its description is answered).
    fn read_kept(
        &self,
        id: u32,
        y_invert: bool,
        transform: Transform,
        canvas: CapturedImage,
        only: Option<Rect>,
    ) -> Result<(CapturedImage, Option<Rect>), CaptureError> {
        let slot = self
            .client
            .state
            .frames
            .slot(id)
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        let buffer = slot.buffer.as_ref().ok_or(WlrError::Format(id))?;
        upright(buffer, y_invert, transform, Some(canvas), only)
    }

    /// How monitor `id`'s output is turned.
    fn transform(&mut self, id: u32) -> Transform {
        self.client
            .state
            .outputs
            .output(id)
            .map(|o| o.transform)
            .unwrap_or_default()
    }
}

impl Capturer for WlrCapturer {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    fn refresh_monitors(&mut self, force: bool) -> Result<Option<Vec<MonitorInfo>>, CaptureError> {
        self.poll()?;
        if !(self.client.state.outputs.take_changed() || force) {
            return Ok(None);
        }
        if force {
            self.client.roundtrip()?;
        }
        let monitors = self.client.state.outputs.infos();
        if monitors == self.monitors {
            return Ok(None);
        }
        let ids: Vec<u32> = monitors.iter().map(|m| m.id).collect();
        self.client.state.frames.keep_only(&ids);
        self.monitors = monitors.clone();
        Ok(Some(monitors))
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        Ok(self.whole(id, None)?.image)
    }

    fn capture_changes(
        &mut self,
        id: u32,
        previous: Option<CapturedImage>,
    ) -> Result<Captured, CaptureError> {
        self.poll()?;
        let captured = match (previous, self.phase(id)) {
            (Some(previous), Some((CopyMode::Damage, Phase::Ready))) => {
                let slot = self.client.state.frames.slot(id);
                let damage = slot.and_then(|s| s.damage);
                let y_invert = slot.is_some_and(|s| s.y_invert);
                let size = (previous.width, previous.height);
                // The next change is asked for before this one is read:
                // the compositor describes the next copy while the agent
                // reads, and writes the buffer only once the agent answers
                // that description (at its next read of events, after
                // this), so a frame that follows at once is not missed.
                let transform = self.transform(id);
                self.start(id, CopyMode::Damage)?;
                let (image, damage) = self.read_kept(id, y_invert, transform, previous, damage)?;
                let changed = match damage {
                    Some(rect) if (image.width, image.height) == size => {
                        Some(vec![rect.clip(image.width, image.height)])
                    }
                    _ => None,
                };
                return Ok(Captured { image, changed });
            }
            // Asked before the change arrived: the screen is as it was.
            (Some(previous), Some((CopyMode::Damage, Phase::Describing | Phase::Copying))) => {
                return Ok(Captured {
                    image: previous,
                    changed: Some(Vec::new()),
                });
            }
            (previous, _) => self.whole(id, previous)?,
        };
        // The next change of this monitor is on its way from now on.
        self.start(id, CopyMode::Damage)?;
        Ok(captured)
    }

    fn reports_damage(&self) -> bool {
        true
    }

    fn unchanged(&mut self, id: u32) -> bool {
        if self.poll().is_err() {
            return false;
        }
        matches!(
            self.phase(id),
            Some((CopyMode::Damage, Phase::Describing | Phase::Copying))
        )
    }

    fn wait_change(&mut self, ids: &[u32], until: Instant) -> Option<Result<bool, CaptureError>> {
        let within = until.saturating_duration_since(Instant::now());
        // A damage copy that finished (or failed) is news; one still held
        // by the compositor, or none asked for yet, is not.
        let news = |state: &crate::wayland::State| {
            ids.iter().any(|&id| {
                state.frames.slot(id).is_some_and(|s| {
                    s.mode == CopyMode::Damage && matches!(s.phase, Phase::Ready | Phase::Failed)
                })
            })
        };
        let waited = self.client.wait_until(within, news);
        Some(
            match (waited, self.client.state.frames.memory_error.take()) {
                (Err(err), _) => Err(err.into()),
                (Ok(_), Some(err)) => Err(WlrError::Memory(err).into()),
                (Ok(changed), None) => Ok(changed),
            },
        )
    }
}

impl From<WlrError> for CaptureError {
    fn from(err: WlrError) -> Self {
        CaptureError::Wlr(err)
    }
}
