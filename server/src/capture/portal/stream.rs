//! The PipeWire side: one thread (PipeWire's main loop is not `Send`)
//! with one stream per shared monitor, negotiating raw video in shared
//! memory and keeping, per stream, only the newest frame ([`Latest`]):
//! a slow capture thread skips frames, it never queues them.
//!
//! The process callback copies the buffer's visible part (its crop) into
//! the newest frame, only the damaged rows when the producer says which
//! ([`frame`]), and adds that damage to what changed since the capture
//! thread last took a frame. A stream that fails or ends marks its slot,
//! and the capturer reports the display gone.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use pipewire as pw;
use pw::spa;
use spa::param::video::VideoInfoRaw;
use spa::pod::Pod;

use super::frame::SourceFormat;
use super::params::{buffers, enum_format, meta, serialize, source_format};
use crate::capture::CapturedImage;
// The same bound as the wlroots backend's: a picture side nobody has.
use crate::regions::Rect;
use crate::wayland::screencopy::MAX_SIDE;

/// Where the PipeWire streams are.
#[derive(Debug)]
pub enum Remote {
    /// A connected PipeWire socket: the remote the portal opened for this
    /// session (`OpenPipeWireRemote`), or, in tests, a daemon's socket.
    Fd(OwnedFd),
}

/// The newest frame of one stream, and what changed since it was last
/// taken.
#[derive(Debug, Default)]
pub(super) struct Latest {
    /// The newest frame (its visible part), if one arrived.
    pub image: Option<CapturedImage>,
    /// Where frames since the last take changed; `None` when unknown.
    pub changed: Option<Vec<Rect>>,
    /// Whether a frame arrived since the last take.
    pub fresh: bool,
    /// Why the stream ended, once it did.
    pub ended: Option<String>,
}

/// One stream's [`Latest`], and a signal for its arrivals.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub latest: Mutex<Latest>,
    pub arrived: Condvar,
}

impl Slot {
    fn end(&self, why: String) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.ended.get_or_insert(why);
        self.arrived.notify_all();
    }
}

/// The PipeWire thread; stopped when dropped.
pub(super) struct PipeWireThread {
    pub slots: Vec<Arc<Slot>>,
    quit: pw::channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PipeWireThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWireThread")
            .field("slots", &self.slots)
            .finish()
    }
}

impl Drop for PipeWireThread {
    fn drop(&mut self) {
        let _ = self.quit.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the thread and connects one stream to each of `nodes`.
pub(super) fn start(remote: Remote, nodes: &[u32]) -> Result<PipeWireThread, String> {
    let slots: Vec<Arc<Slot>> = nodes.iter().map(|_| Arc::default()).collect();
    let (quit, quit_rx) = pw::channel::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let thread_slots = slots.clone();
    let nodes = nodes.to_vec();
    let thread = std::thread::Builder::new()
        .name("lookout-pipewire".into())
        .spawn(move || {
            if let Err(err) = run(remote, &nodes, &thread_slots, quit_rx, &ready_tx) {
                let _ = ready_tx.send(Err(err.to_string()));
            }
            for slot in &thread_slots {
                slot.end("the PipeWire connection closed".into());
            }
        })
        .map_err(|e| e.to_string())?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(PipeWireThread {
            slots,
            quit,
            thread: Some(thread),
        }),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(err)
        }
        Err(_) => {
            let _ = thread.join();
            Err("the PipeWire thread died while starting".into())
        }
    }
}

/// The negotiated format of one stream.
pub(super) struct Negotiated {
    pub(super) format: SourceFormat,
    pub(super) width: u32,
    pub(super) height: u32,
}

pub(super) struct StreamState {
    pub(super) slot: Arc<Slot>,
    pub(super) negotiated: Option<Negotiated>,
    /// A buffer was passed over (an older one dequeued with a newer, or
    /// one that could not be read): its damage is unknown, so the next
    /// picture is copied whole and reported as all changed.
    pub(super) damage_lost: bool,
    /// An older picture to copy the next one into (so the copy is done
    /// outside the slot's lock), and where it differs from the newest
    /// (`None`: unknown, copied whole).
    pub(super) spare: Option<CapturedImage>,
    pub(super) spare_stale: Option<Vec<Rect>>,
}

fn run(
    remote: Remote,
    nodes: &[u32],
    slots: &[Arc<Slot>],
    quit: pw::channel::Receiver<()>,
    ready: &std::sync::mpsc::SyncSender<Result<(), String>>,
) -> Result<(), pw::Error> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = match remote {
        Remote::Fd(fd) => context.connect_fd_rc(fd, None)?,
    };
    let error_slots = slots.to_vec();
    let _core_listener = core
        .add_listener_local()
        .error(move |id, _seq, res, message| {
            // Id 0 is the core: the connection itself failed.
            if id == 0 {
                let why = format!("PipeWire error {res}: {}", message.escape_debug());
                error_slots.iter().for_each(|s| s.end(why.clone()));
            }
        })
        .register();
    let mut streams = Vec::new();
    for (&node, slot) in nodes.iter().zip(slots) {
        let stream = pw::stream::StreamRc::new(
            core.clone(),
            "lookout-screen",
            pw::properties::properties! {
                *pw::keys::MEDIA_TYPE => "Video",
                *pw::keys::MEDIA_CATEGORY => "Capture",
                *pw::keys::MEDIA_ROLE => "Screen",
                // When the cast stops, the session manager destroys this
                // stream (it becomes unconnected: ended) instead of leaving
                // it paused on a frozen picture, or linking it to another
                // source.
                *pw::keys::NODE_DONT_RECONNECT => "true",
            },
        )?;
        let state = StreamState {
            slot: Arc::clone(slot),
            negotiated: None,
            damage_lost: false,
            spare: None,
            spare_stale: None,
        };
        let listener = stream
            .add_local_listener_with_user_data(state)
            .state_changed(|_, state, _, new| {
                if let Some(why) = ended(&new) {
                    state.slot.end(why);
                }
            })
            .param_changed(param_changed)
            .process(super::buffer::process)
            .register()?;
        let format = serialize(enum_format())?;
        let mut params = [Pod::from_bytes(&format).ok_or(pw::Error::CreationFailed)?];
        stream.connect(
            spa::utils::Direction::Input,
            Some(node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )?;
        streams.push((stream, listener));
    }
    let weak = mainloop.downgrade();
    let _quit = quit.attach(mainloop.loop_(), move |()| {
        if let Some(mainloop) = weak.upgrade() {
            mainloop.quit();
        }
    });
    let _ = ready.send(Ok(()));
    mainloop.run();
    Ok(())
}

/// Why a stream in state `new` has ended, if it has: failed, or
/// disconnected (its source went: a cast stopped from the desktop, whose
/// stream may otherwise only pause and show its last picture for ever).
fn ended(new: &pw::stream::StreamState) -> Option<String> {
    match new {
        pw::stream::StreamState::Error(why) => {
            Some(format!("PipeWire stream failed: {}", why.escape_debug()))
        }
        pw::stream::StreamState::Unconnected => {
            Some("the PipeWire stream was disconnected (the cast stopped)".into())
        }
        _ => None,
    }
}

/// The format was chosen: remember it, and ask for buffers in memory we
/// can map, with the crop and damage metadata.
fn param_changed(
    stream: &pw::stream::Stream,
    state: &mut StreamState,
    id: u32,
    param: Option<&Pod>,
) {
    let Some(param) = param else { return };
    if id != spa::param::ParamType::Format.as_raw() {
        return;
    }
    let mut info = VideoInfoRaw::default();
    if info.parse(param).is_err() {
        return;
    }
    let Some(format) = source_format(info.format()) else {
        state.slot.end(format!(
            "PipeWire offered an unsupported format {:?}",
            info.format()
        ));
        return;
    };
    let (width, height) = (info.size().width, info.size().height);
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        state.slot.end(format!(
            "PipeWire offered a {width}x{height} picture (at most {MAX_SIDE} a side)"
        ));
        return;
    }
    state.negotiated = Some(Negotiated {
        format,
        width,
        height,
    });
    let pods: Result<Vec<Vec<u8>>, _> = [
        buffers(),
        meta(spa::sys::SPA_META_VideoCrop, 1),
        meta(spa::sys::SPA_META_VideoDamage, 16),
    ]
    .into_iter()
    .map(serialize)
    .collect();
    let Ok(pods) = pods else { return };
    let mut params: Vec<&Pod> = pods.iter().filter_map(|p| Pod::from_bytes(p)).collect();
    if let Err(err) = stream.update_params(&mut params) {
        tracing::debug!(error = %err, "PipeWire: cannot ask for buffer metadata");
    }
}
