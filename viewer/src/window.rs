//! The window, on the main thread (minifb wants it there on some
//! platforms): presents the newest decoded frame letterboxed into a buffer
//! of the window's current size, turns local keys into actions and the rest
//! of the input into commands, and keeps the title current.
//!
//! The loop never waits on the network: frames come from a latest-value
//! slot, status from a watch channel, and commands leave through a bounded
//! channel with `try_send`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant, SystemTime};

use lookout_protocol::ClientMessage;
use minifb::{
    InputCallback, Key as WinKey, MouseButton, MouseMode, ScaleMode, Window, WindowOptions,
};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

use crate::RunError;
use crate::cli::Config;
use crate::client::{COMMAND_QUEUE, Command, Link, NetThread, Status};
use crate::decode::{DecodedFrame, spawn_decoder};
use crate::keys::{LocalAction, local_action};
use crate::layout::{Placement, Scaler, initial_window_size, window_to_frame};
use crate::slot::Latest;
use crate::snapshot::{SaveError, screenshot_name, write_png};
use crate::stats::{Figures, Stats, latency_ms};
use crate::steering::{InputState, Steering, WheelConvention};
use crate::title::{TitleParts, compose};

/// The initial window is the frame's size, shrunk to fit within this.
const MAX_INITIAL_SIZE: (usize, usize) = (1600, 1000);
/// The initial size when no frame arrived in time to size the window.
const FALLBACK_SIZE: (usize, usize) = (960, 540);
/// Window loop rate: input is sampled and the newest frame shown this often.
const UI_FPS: usize = 60;
/// How long a message stays in the title.
const FLASH_FOR: Duration = Duration::from_secs(4);
/// How often the wait for the first frame checks for a fatal error.
const FIRST_FRAME_POLL: Duration = Duration::from_millis(50);
/// Key transitions held between two iterations. The queue is drained every
/// iteration (1/60 s), far more than anyone types in that time; beyond it
/// events are dropped and the per-iteration key state check catches up.
const KEY_EVENT_QUEUE: usize = 256;

/// Key transitions as minifb reports them, in order. Polling key state once
/// per iteration would miss a tap shorter than an iteration.
type KeyEvents = Rc<RefCell<Vec<(WinKey, bool)>>>;

/// Collects key transitions from minifb's callback into [`KeyEvents`].
struct KeyRecorder(KeyEvents);

impl InputCallback for KeyRecorder {
    fn add_char(&mut self, _: u32) {}

    fn set_key_state(&mut self, key: WinKey, pressed: bool) {
        let mut events = self.0.borrow_mut();
        if events.len() < KEY_EVENT_QUEUE {
            events.push((key, pressed));
        }
    }
}

/// Runs the window mode to the end: until the window is closed (`Ok`) or
/// the agent refuses us for good.
pub(crate) fn run(config: &Config) -> Result<(), RunError> {
    let jpegs = Arc::new(Latest::new());
    let frames = Arc::new(Latest::new());
    let received = Arc::new(AtomicU64::new(0));
    let (status_tx, status_rx) = watch::channel(Status::default());
    // Bounded: see COMMAND_QUEUE for the size.
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);

    let decoder =
        spawn_decoder(Arc::clone(&jpegs), Arc::clone(&frames)).map_err(RunError::Runtime)?;
    let net = match NetThread::spawn(
        config.clone(),
        Arc::clone(&jpegs),
        Arc::clone(&received),
        status_tx,
        command_rx,
    ) {
        Ok(net) => net,
        Err(err) => {
            jpegs.close();
            let _ = decoder.join();
            return Err(RunError::Runtime(err));
        }
    };

    let shown = present(config, status_rx, command_tx, &frames, &received);

    // Network first: it feeds the decoder.
    let fatal = net.stop();
    jpegs.close();
    if decoder.join().is_err() {
        tracing::error!("the decode thread panicked");
    }
    match fatal {
        Ok(Some(err)) => Err(RunError::Session(err)),
        Ok(None) => shown,
        Err(_) => Err(RunError::Panicked("network")),
    }
}

/// Opens the window and runs its loop. Returns `Ok` when the window was
/// closed or the network side gave up (the caller reports why).
fn present(
    config: &Config,
    status: watch::Receiver<Status>,
    commands: mpsc::Sender<Command>,
    frames: &Latest<Arc<DecodedFrame>>,
    received: &AtomicU64,
) -> Result<(), RunError> {
    let first = wait_for_first_frame(frames, &status, config.timeout);
    if status.borrow().link == Link::Failed {
        return Ok(());
    }
    let size = first.as_ref().map_or(FALLBACK_SIZE, |f| {
        initial_window_size(
            f.width as usize,
            f.height as usize,
            MAX_INITIAL_SIZE.0,
            MAX_INITIAL_SIZE.1,
        )
    });
    let target = config.target.to_string();
    let title = format!("lookout · {target} · connecting");
    let mut window = Window::new(
        &title,
        size.0,
        size.1,
        WindowOptions {
            resize: true,
            // We scale ourselves into a buffer of the window's size, so the
            // pointer maps to frame pixels exactly.
            scale_mode: ScaleMode::UpperLeft,
            ..WindowOptions::default()
        },
    )
    .map_err(RunError::Window)?;
    window.set_target_fps(UI_FPS);
    let key_events = KeyEvents::default();
    window.set_input_callback(Box::new(KeyRecorder(Rc::clone(&key_events))));

    let (saved_tx, saved_rx) = sync_channel(1);
    let mut ui = Ui {
        window,
        host: config.target.host.clone(),
        target,
        status_rx: status,
        status: Status::default(),
        commands,
        frames,
        received,
        frame: None,
        buffer: Vec::new(),
        size: (0, 0),
        placement: None,
        dirty: true,
        scaler: Scaler::new(),
        steering: Steering::new(WheelConvention::for_this_platform()),
        paused: false,
        view_only: false,
        stats: Stats::new(Instant::now(), received.load(Ordering::Relaxed)),
        figures: None,
        flash: None,
        title,
        saving: false,
        saved_tx,
        saved_rx,
        key_events,
        local_held: Vec::new(),
        outgoing: Vec::new(),
    };
    if let Some(first) = first {
        ui.show(first);
    }
    ui.run()
}

/// Waits up to `timeout` for a frame to size the window by. Gives up early
/// when the first attempt fails (the window then opens at a default size
/// and says it is reconnecting) or the network side gives up for good.
fn wait_for_first_frame(
    frames: &Latest<Arc<DecodedFrame>>,
    status: &watch::Receiver<Status>,
    timeout: Duration,
) -> Option<Arc<DecodedFrame>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(frame) = frames.take_timeout(FIRST_FRAME_POLL) {
            return Some(frame);
        }
        if matches!(
            status.borrow().link,
            Link::Reconnecting | Link::Busy | Link::Failed
        ) {
            return None;
        }
    }
    None
}

/// The result of a PNG save, from the saving thread.
type Saved = Result<std::path::PathBuf, SaveError>;

struct Ui<'a> {
    window: Window,
    host: String,
    target: String,
    status_rx: watch::Receiver<Status>,
    status: Status,
    commands: mpsc::Sender<Command>,
    frames: &'a Latest<Arc<DecodedFrame>>,
    received: &'a AtomicU64,
    /// The frame on screen.
    frame: Option<Arc<DecodedFrame>>,
    /// `size.0 * size.1` pixels, what minifb shows.
    buffer: Vec<u32>,
    size: (usize, usize),
    /// Where `frame` sits in `buffer`.
    placement: Option<Placement>,
    /// `buffer` must be redrawn.
    dirty: bool,
    scaler: Scaler,
    steering: Steering,
    paused: bool,
    view_only: bool,
    stats: Stats,
    figures: Option<Figures>,
    flash: Option<(String, Instant)>,
    title: String,
    /// A PNG save is running; one at a time keeps threads bounded.
    saving: bool,
    /// Bounded (1): at most one save runs, so its result never waits.
    saved_tx: SyncSender<Saved>,
    saved_rx: Receiver<Saved>,
    /// Filled by minifb during `update_with_buffer`, drained by `steer`.
    key_events: KeyEvents,
    /// Local keys (F7-F10) being held, to ignore their auto-repeat.
    local_held: Vec<WinKey>,
    /// Reused buffer of input commands for one iteration.
    outgoing: Vec<ClientMessage>,
}

impl Ui<'_> {
    fn run(&mut self) -> Result<(), RunError> {
        while self.window.is_open() {
            if !self.follow_status() {
                return Ok(());
            }
            if let Some(frame) = self.frames.take() {
                self.show(frame);
            }
            self.draw();
            self.steer();
            self.collect_saves();
            self.refresh_title();
            let (w, h) = self.size;
            self.window
                .update_with_buffer(&self.buffer, w, h)
                .map_err(RunError::Window)?;
        }
        Ok(())
    }

    /// Takes in status changes; `false` once the network side is gone.
    fn follow_status(&mut self) -> bool {
        match self.status_rx.has_changed() {
            Ok(false) => return true,
            Ok(true) => {}
            // The network thread ended; the caller finds out why.
            Err(_) => return false,
        }
        let new = self.status_rx.borrow_and_update().clone();
        if new.session != self.status.session {
            // A new agent session: the old one released all our keys.
            self.steering.forget();
        } else if new.monitor != self.status.monitor
            && let Some(monitor) = new.monitors.iter().find(|m| Some(m.id) == new.monitor)
        {
            self.flash_message(format!(
                "monitor {}: {} ({}x{})",
                monitor.id, monitor.name, monitor.width, monitor.height
            ));
        }
        self.status = new;
        self.status.link != Link::Failed
    }

    fn show(&mut self, frame: Arc<DecodedFrame>) {
        self.stats
            .presented(latency_ms(frame.captured_at_us, SystemTime::now()));
        self.frame = Some(frame);
        self.dirty = true;
    }

    /// Redraws the buffer when the frame or the window size changed.
    fn draw(&mut self) {
        let (w, h) = self.window.get_size();
        let size = (w.max(1), h.max(1));
        if size != self.size {
            let Some(len) = size.0.checked_mul(size.1) else {
                return;
            };
            self.size = size;
            self.buffer.resize(len, 0);
            self.dirty = true;
        }
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        self.placement = match &self.frame {
            Some(f) => self.scaler.render(
                &f.pixels,
                (f.width as usize, f.height as usize),
                &mut self.buffer,
                self.size,
            ),
            None => {
                self.buffer.fill(0);
                None
            }
        };
    }

    /// Runs a local key's action once per press: auto-repeat reports more
    /// presses of a held key, and holding F8 must not flicker the stream.
    fn local_key(&mut self, key: WinKey, action: LocalAction, pressed: bool) {
        if !pressed {
            self.local_held.retain(|&k| k != key);
        } else if !self.local_held.contains(&key) {
            self.local_held.push(key);
            self.local(action);
        }
    }

    fn local(&mut self, action: LocalAction) {
        match action {
            LocalAction::NextMonitor => {
                if self.status.link != Link::Live {
                    self.flash_message("not connected".into());
                } else if self.status.monitors.len() < 2 {
                    self.flash_message("the agent has only one monitor".into());
                } else {
                    self.send(Command::NextMonitor);
                }
            }
            LocalAction::TogglePause => {
                if self.send(Command::SetPaused(!self.paused)) {
                    self.paused = !self.paused;
                }
            }
            LocalAction::SaveFrame => self.save(),
            LocalAction::ToggleViewOnly => {
                self.view_only = !self.view_only;
                let message = if self.view_only {
                    "view-only: input stays here (F10 to steer again)"
                } else {
                    "steering the agent again"
                };
                self.flash_message(message.into());
            }
        }
    }

    /// Runs local keys (F7-F10), then forwards input while steering is
    /// possible and wanted; otherwise releases whatever the agent still
    /// holds for us.
    fn steer(&mut self) {
        let steering = self.status.link == Link::Live
            && self.status.control
            && !self.view_only
            && !self.paused;
        // The pointer is forwarded whenever it is over the image, focused or
        // not (X delivers motion to any window; without a window manager
        // nothing ever focuses ours). Keys only come with focus, and losing
        // focus releases the ones the agent holds for us.
        let focused = self.window.is_active();
        let mut out = std::mem::take(&mut self.outgoing);
        let events = std::mem::take(&mut *self.key_events.borrow_mut());
        for (key, pressed) in events {
            match local_action(key) {
                Some(action) => self.local_key(key, action, pressed),
                None if steering => self.steering.key_event(key, pressed, &mut out),
                None => {}
            }
        }
        if steering {
            let pointer = match (&self.frame, self.placement) {
                (Some(frame), Some(placement)) => self
                    .window
                    .get_mouse_pos(MouseMode::Discard)
                    .and_then(|pos| {
                        window_to_frame(placement, frame.width as usize, frame.height as usize, pos)
                    }),
                _ => None,
            };
            let keys = if focused {
                self.window.get_keys()
            } else {
                Vec::new()
            };
            let input = InputState {
                pointer,
                buttons: [MouseButton::Left, MouseButton::Right, MouseButton::Middle]
                    .map(|b| self.window.get_mouse_down(b)),
                wheel: self.window.get_scroll_wheel(),
                keys: &keys,
            };
            self.steering.update(&input, &mut out);
        } else {
            self.steering.release_all(&mut out);
        }
        for msg in out.drain(..) {
            self.send(Command::Input(msg));
        }
        self.outgoing = out;
    }

    /// Queues a command without blocking; `false` if it was dropped.
    fn send(&mut self, command: Command) -> bool {
        match self.commands.try_send(command) {
            Ok(()) => true,
            Err(TrySendError::Full(command)) => {
                // Pointer moves are superseded by the next one anyway.
                if !matches!(command, Command::Input(ClientMessage::MouseMove { .. })) {
                    tracing::warn!(?command, "the connection is stalled: command dropped");
                }
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// F9: writes the frame on screen to a PNG on a short-lived thread.
    fn save(&mut self) {
        if self.saving {
            self.flash_message("still saving the previous image".into());
            return;
        }
        let Some(frame) = self.frame.clone() else {
            self.flash_message("no image to save yet".into());
            return;
        };
        let path = screenshot_name(&self.host, SystemTime::now(), frame.seq);
        let done = self.saved_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("lookout-save".into())
            .spawn(move || {
                let result = write_png(&path, &frame).map(|()| path);
                // Only one save runs at a time, so the slot is free.
                let _ = done.try_send(result);
            });
        match spawned {
            Ok(_) => self.saving = true,
            Err(err) => self.flash_message(format!("cannot save: {err}")),
        }
    }

    fn collect_saves(&mut self) {
        let result = match self.saved_rx.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
        };
        self.saving = false;
        match result {
            Ok(path) => {
                let shown = std::env::current_dir()
                    .map(|dir| dir.join(&path))
                    .unwrap_or(path);
                eprintln!("lookout-viewer: saved {}", shown.display());
                self.flash_message(format!("saved {}", shown.display()));
            }
            Err(err) => {
                eprintln!("lookout-viewer: {err}");
                self.flash_message(format!("save failed: {}", err.source));
            }
        }
    }

    fn flash_message(&mut self, message: String) {
        self.flash = Some((message, Instant::now() + FLASH_FOR));
    }

    fn refresh_title(&mut self) {
        let now = Instant::now();
        if let Some(figures) = self.stats.tick(now, self.received.load(Ordering::Relaxed)) {
            self.figures = Some(figures);
        }
        if self.flash.as_ref().is_some_and(|(_, until)| now >= *until) {
            self.flash = None;
        }
        let title = compose(&TitleParts {
            target: &self.target,
            link: &self.status.link,
            paused: self.paused,
            agent_view_only: !self.status.control,
            local_view_only: self.view_only,
            figures: self.figures.as_ref(),
            flash: self.flash.as_ref().map(|(m, _)| m.as_str()),
        });
        if title != self.title {
            self.window.set_title(&title);
            self.title = title;
        }
    }
}
