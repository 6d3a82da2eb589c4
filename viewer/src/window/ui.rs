//! The window's core, without a window: it follows the network thread's
//! status, puts new frames on the canvas, runs the local keys (F7-F10),
//! forwards input while steering is allowed, and keeps the title current.
//! It talks to the screen only through a [`Presenter`], so its tests drive
//! it with a fake one.
//!
//! The loop never waits on the network: frames come from a latest-value
//! slot, status from a watch channel, and commands leave through a bounded
//! channel with `try_send`, with an [`Outbox`] for when it is full (which
//! never drops a release).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use lookout_protocol::ClientMessage;
use minifb::Key as WinKey;
use tokio::sync::{mpsc, watch};

use super::canvas::Canvas;
use super::presenter::{Input, Presenter};
use super::saver::Saver;
use super::settle::{SETTLE_FOR, SizeSettle};
use super::title::{self, Heading, Scaled, State};
use crate::decode::DecodedFrame;
use crate::error::RunError;
use crate::keys::{LocalAction, local_action};
use crate::network::{Command, Feed, Link, Outbox, Status};
use crate::record::Recording;
use crate::slot::Latest;
use crate::stats::latency_ms;
use crate::steering::{InputState, Steering, WheelConvention};
use crate::target::Target;

/// Whether the window loop goes on after an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// The network side is gone or gave up for good: close the window (the
    /// caller reports why).
    Stop,
}

/// The window's ends of the channels to the network and decode threads.
#[derive(Debug)]
pub(crate) struct Links<'a> {
    /// Connection state, from the network thread.
    pub(crate) status: watch::Receiver<Status>,
    /// Commands to the network thread (bounded; see `COMMAND_QUEUE`).
    pub(crate) commands: mpsc::Sender<Command>,
    /// Decoded frames, newest only.
    pub(crate) frames: &'a Latest<Arc<DecodedFrame>>,
    /// Running total of received image bytes, for the figures.
    pub(crate) received: &'a AtomicU64,
    /// The recording the decode thread feeds; F6 starts and stops it.
    pub(crate) recording: Arc<Recording>,
}

/// The window's state between iterations.
#[derive(Debug)]
pub(crate) struct Ui<'a> {
    links: Links<'a>,
    /// The newest status seen; the only copy of the pause state the window
    /// keeps (the network thread owns it).
    status: Status,
    canvas: Canvas,
    heading: Heading,
    saver: Saver,
    /// Goes into F6 recordings' names.
    host: String,
    /// Where F6 recordings go (empty: the working directory).
    save_dir: PathBuf,
    steering: Steering,
    /// Input switched off with F10.
    view_only: bool,
    /// What the title calls the monitor shown ([`title::monitor_label`]).
    monitor_label: Option<String>,
    /// Local keys (F7-F10) being held, to ignore their auto-repeat.
    local_held: Vec<WinKey>,
    /// This iteration's input, reused.
    input: Input,
    /// Reused buffer of input commands for one iteration.
    outgoing: Vec<ClientMessage>,
    /// Commands waiting for room in the queue to the network thread.
    outbox: Outbox,
    /// The window's size, told to the network thread once settled.
    settle: SizeSettle,
    /// A settled size not told while recording: the recording keeps the
    /// picture's size (one track, one size), and the window scales it;
    /// told when the recording stops.
    held_size: Option<(u32, u32)>,
}

impl<'a> Ui<'a> {
    /// A window for `target` that saves F9 images into `save_dir` (empty:
    /// the working directory).
    pub(crate) fn new(
        target: &Target,
        links: Links<'a>,
        wheel: WheelConvention,
        save_dir: PathBuf,
    ) -> Self {
        let received = links.received.load(Ordering::Relaxed);
        Self {
            heading: Heading::new(target.to_string(), Instant::now(), received),
            saver: Saver::new(target.host.clone(), save_dir.clone()),
            host: target.host.clone(),
            save_dir,
            links,
            status: Status::default(),
            canvas: Canvas::new(),
            steering: Steering::new(wheel),
            view_only: false,
            monitor_label: None,
            local_held: Vec::new(),
            input: Input::default(),
            outgoing: Vec::new(),
            outbox: Outbox::new(),
            settle: SizeSettle::new(SETTLE_FOR),
            held_size: None,
        }
    }

    /// The title the window opens with.
    pub(crate) fn title(&self) -> &str {
        self.heading.current()
    }

    /// Runs the loop until the window is closed or the network side stops.
    pub(crate) fn run(&mut self, window: &mut impl Presenter) -> Result<(), RunError> {
        while window.is_open() {
            if self.step(window, Instant::now()) == Flow::Stop {
                return Ok(());
            }
            let (buffer, size) = self.canvas.pixels();
            window.show(buffer, size)?;
        }
        Ok(())
    }

    /// One iteration at `now`, up to (not including) showing the buffer.
    pub(crate) fn step(&mut self, window: &mut impl Presenter, now: Instant) -> Flow {
        if self.follow_status(now) == Flow::Stop {
            return Flow::Stop;
        }
        // What waited for room goes first, also when there is no new input.
        self.outbox.flush(&self.links.commands);
        if let Some(frame) = self.links.frames.take() {
            self.show(frame);
        }
        // A picture the agent cannot update is dimmed, never shown as live.
        self.canvas
            .set_dimmed(self.status.link == Link::Live && self.status.feed != Feed::Live);
        let size = window.size();
        self.canvas.draw(size);
        self.follow_size(size, now);
        window.input(&mut self.input);
        self.steer(now);
        if let Some(message) = self.saver.finished() {
            self.heading.flash(message, now);
        }
        let received = self.links.received.load(Ordering::Relaxed);
        let state = State {
            link: &self.status.link,
            paused: self.status.paused,
            feed: &self.status.feed,
            agent_view_only: !self.status.control,
            local_view_only: self.view_only,
            monitor: self.monitor_label.as_deref(),
            scaled: self.scaled(),
            recording: self.links.recording.elapsed(),
        };
        if let Some(title) = self.heading.refresh(now, received, state) {
            window.set_title(title);
        }
        Flow::Continue
    }

    /// Puts a frame on screen (the first one may come before the loop).
    pub(crate) fn show(&mut self, frame: Arc<DecodedFrame>) {
        self.heading.presented(
            latency_ms(frame.captured_at_us, SystemTime::now()),
            frame.quality,
        );
        self.canvas.set_frame(frame);
    }

    /// Tells the network thread the window's size once it has settled: the
    /// agent is asked for pictures that fit it (with `profiles`).
    fn follow_size(&mut self, (w, h): (usize, usize), now: Instant) {
        let size = (
            u32::try_from(w).unwrap_or(u32::MAX),
            u32::try_from(h).unwrap_or(u32::MAX),
        );
        if let Some(size) = self.settle.observe(size, now) {
            if self.links.recording.elapsed().is_some() {
                self.held_size = Some(size);
            } else {
                self.send(Command::ViewSize(size));
            }
        }
    }

    /// The picture on screen beside the monitor it shows, when the agent
    /// scaled it down.
    fn scaled(&self) -> Option<Scaled> {
        let frame = self.canvas.frame()?;
        let id = self.status.monitor?;
        let monitor = self.status.monitors.iter().find(|m| m.id == id)?;
        Scaled::of((frame.width, frame.height), (monitor.width, monitor.height))
    }

    /// Takes in status changes; `Stop` once the network side is gone or has
    /// given up.
    fn follow_status(&mut self, now: Instant) -> Flow {
        match self.links.status.has_changed() {
            Ok(false) => return Flow::Continue,
            Ok(true) => {}
            // The network thread ended; the caller finds out why.
            Err(_) => return Flow::Stop,
        }
        let new = self.links.status.borrow_and_update().clone();
        if new.session != self.status.session {
            // A new agent session: the old one released all our keys.
            self.steering.forget();
        } else if let Some(message) = title::monitor_change(&self.status, &new) {
            // The agent's names: escaped where the title is composed.
            self.heading.flash(message, now);
        }
        self.monitor_label = title::monitor_label(&new);
        self.status = new;
        if self.status.link == Link::Failed {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Whether input goes to the agent now: connected, the agent accepts
    /// input, and neither F10 nor F8 stopped it.
    fn steering_allowed(&self) -> bool {
        self.status.link == Link::Live
            && self.status.control
            && !self.view_only
            && !self.status.paused
    }

    /// Runs local keys (F7-F10), then forwards input while steering is
    /// allowed; otherwise releases whatever the agent still holds for us.
    fn steer(&mut self, now: Instant) {
        let steering = self.steering_allowed();
        let mut out = std::mem::take(&mut self.outgoing);
        let mut events = std::mem::take(&mut self.input.key_events);
        for &(key, pressed) in &events {
            match local_action(key) {
                Some(action) => self.local_key(key, action, pressed, now),
                None if steering => self.steering.key_event(key, pressed, &mut out),
                None => {}
            }
        }
        events.clear();
        self.input.key_events = events;
        if steering {
            // The pointer is forwarded whenever it is over the image,
            // focused or not (X delivers motion to any window; without a
            // window manager nothing ever focuses ours). Keys only come with
            // focus, and losing focus releases the ones the agent holds.
            let keys: &[WinKey] = if self.input.focused {
                &self.input.keys_down
            } else {
                &[]
            };
            let input = InputState {
                pointer: self
                    .input
                    .pointer
                    .and_then(|pos| self.canvas.frame_pixel(pos)),
                buttons: self.input.buttons,
                wheel: self.input.wheel,
                keys,
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

    /// Runs a local key's action once per press: auto-repeat reports more
    /// presses of a held key, and holding F8 must not flicker the stream.
    fn local_key(&mut self, key: WinKey, action: LocalAction, pressed: bool, now: Instant) {
        if !pressed {
            self.local_held.retain(|&k| k != key);
        } else if !self.local_held.contains(&key) {
            self.local_held.push(key);
            self.local(action, now);
        }
    }

    fn local(&mut self, action: LocalAction, now: Instant) {
        let message = match action {
            LocalAction::NextMonitor if self.status.link != Link::Live => {
                Some("not connected".to_owned())
            }
            LocalAction::NextMonitor if self.status.monitors.len() < 2 => {
                Some("the agent has only one monitor".to_owned())
            }
            LocalAction::NextMonitor => {
                self.send(Command::NextMonitor);
                None
            }
            // The network thread owns the pause; the title follows its
            // status.
            LocalAction::TogglePause => {
                self.send(Command::TogglePause);
                None
            }
            LocalAction::SaveFrame => self.saver.start(self.canvas.frame()),
            LocalAction::ToggleRecording => Some(self.toggle_recording()),
            LocalAction::ToggleViewOnly => {
                self.view_only = !self.view_only;
                Some(if self.view_only {
                    "view-only: input stays here (F10 to steer again)".to_owned()
                } else {
                    "steering the agent again".to_owned()
                })
            }
        };
        if let Some(message) = message {
            self.heading.flash(message, now);
        }
    }

    /// F6: stops the running recording, or starts one named after the
    /// host and the time in the save directory. Says what happened.
    fn toggle_recording(&mut self) -> String {
        let stopped = self.links.recording.stop();
        if stopped.is_some()
            && let Some(size) = self.held_size.take()
        {
            self.send(Command::ViewSize(size));
        }
        match stopped {
            Some(Ok(summary)) => format!("recorded {}", summary.path.display()),
            Some(Err(err)) => format!("recording failed: {err}"),
            None => {
                let name = crate::record::recording_name(&self.host, SystemTime::now());
                let path = self.save_dir.join(name);
                match self.links.recording.start(&path) {
                    Ok(()) => format!("recording to {}", path.display()),
                    Err(err) => format!("cannot record to {}: {err}", path.display()),
                }
            }
        }
    }

    /// Queues a command without blocking; the outbox decides what waits
    /// when the queue is full.
    fn send(&mut self, command: Command) {
        self.outbox.send(&self.links.commands, command);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lookout_protocol::{Key, MonitorInfo};

    use super::*;

    /// A window that the test scripts: levels (keys down, pointer, buttons,
    /// focus) stay until changed, key events are delivered once.
    struct FakeWindow {
        size: (usize, usize),
        level: Input,
        events: Vec<(WinKey, bool)>,
        titles: Vec<String>,
        /// `show` calls left before the user closes the window.
        shows_left: usize,
        shown: Vec<u32>,
    }

    impl FakeWindow {
        fn new() -> Self {
            Self {
                size: (4, 2),
                level: Input {
                    focused: true,
                    ..Input::default()
                },
                events: Vec::new(),
                titles: Vec::new(),
                shows_left: usize::MAX,
                shown: Vec::new(),
            }
        }

        fn tap(&mut self, key: WinKey) {
            self.events.extend([(key, true), (key, false)]);
        }

        fn title(&self) -> &str {
            self.titles.last().map_or("", String::as_str)
        }
    }

    impl Presenter for FakeWindow {
        fn is_open(&self) -> bool {
            self.shows_left > 0
        }

        fn size(&self) -> (usize, usize) {
            self.size
        }

        fn input(&mut self, input: &mut Input) {
            *input = self.level.clone();
            input.key_events = std::mem::take(&mut self.events);
        }

        fn set_title(&mut self, title: &str) {
            self.titles.push(title.to_owned());
        }

        fn show(&mut self, buffer: &[u32], size: (usize, usize)) -> Result<(), RunError> {
            assert_eq!(buffer.len(), size.0 * size.1);
            self.shown = buffer.to_vec();
            self.shows_left -= 1;
            Ok(())
        }
    }

    /// The network thread's ends of the channels, played by the test.
    struct FakeNet {
        status: watch::Sender<Status>,
        commands: mpsc::Receiver<Command>,
    }

    impl FakeNet {
        fn set(&self, change: impl FnOnce(&mut Status)) {
            self.status.send_modify(change);
        }

        fn commands(&mut self) -> Vec<Command> {
            std::iter::from_fn(|| self.commands.try_recv().ok()).collect()
        }

        fn inputs(&mut self) -> Vec<ClientMessage> {
            self.commands()
                .into_iter()
                .filter_map(|c| match c {
                    Command::Input(msg) => Some(msg),
                    _ => None,
                })
                .collect()
        }
    }

    fn monitor(id: u32) -> MonitorInfo {
        MonitorInfo {
            id,
            name: format!("m{id}"),
            x: 0,
            y: 0,
            width: 800,
            height: 600,
            primary: id == 0,
            all: false,
        }
    }

    /// Connected to an agent that takes input, one monitor.
    fn live(status: &mut Status) {
        status.link = Link::Live;
        status.session = 1;
        status.control = true;
        status.monitor = Some(0);
        status.monitors = vec![monitor(0)];
    }

    fn frame() -> Arc<DecodedFrame> {
        Arc::new(DecodedFrame {
            width: 4,
            height: 2,
            pixels: (1..=8).collect(),
            seq: 5,
            captured_at_us: 0,
            quality: 75,
        })
    }

    fn key(key: Key, pressed: bool) -> ClientMessage {
        ClientMessage::Key { key, pressed }
    }

    /// A window core wired to a fake network side, saving into `save_dir`.
    fn start<'a>(
        frames: &'a Latest<Arc<DecodedFrame>>,
        received: &'a AtomicU64,
        save_dir: PathBuf,
    ) -> (Ui<'a>, FakeNet) {
        let (status_tx, status_rx) = watch::channel(Status::default());
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let links = Links {
            status: status_rx,
            commands: commands_tx,
            frames,
            received,
            recording: Arc::new(Recording::new()),
        };
        let target = Target::parse("box:6868").unwrap();
        let mut ui = Ui::new(&target, links, WheelConvention::X11, save_dir);
        // These tests step in real time: the window's size never settles
        // unless a test says so, so it sends no size in between.
        ui.settle = SizeSettle::new(Duration::MAX);
        let net = FakeNet {
            status: status_tx,
            commands: commands_rx,
        };
        (ui, net)
    }

    fn step(ui: &mut Ui<'_>, window: &mut FakeWindow) -> Flow {
        ui.step(window, Instant::now())
    }

    #[test]
    fn input_is_forwarded_only_while_live_with_control_and_not_paused() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        frames.put(frame());
        window.level.pointer = Some((1.0, 1.0));
        window.level.keys_down = vec![WinKey::A];

        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![], "still connecting");

        net.set(live);
        step(&mut ui, &mut window);
        assert_eq!(
            net.inputs(),
            vec![
                ClientMessage::MouseMove { x: 1, y: 1 },
                key(Key::Char('a'), true)
            ]
        );

        // Paused (the network thread's word): held keys are released, the
        // pointer is no longer followed.
        net.set(|s| s.paused = true);
        window.level.pointer = Some((2.0, 1.0));
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Char('a'), false)]);
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![]);

        net.set(|s| s.paused = false);
        step(&mut ui, &mut window);
        assert_eq!(
            net.inputs(),
            vec![
                ClientMessage::MouseMove { x: 2, y: 1 },
                key(Key::Char('a'), true)
            ]
        );
    }

    #[test]
    fn the_windows_size_goes_to_the_network_thread_once_it_has_settled() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        ui.settle = SizeSettle::new(SETTLE_FOR);
        let mut window = FakeWindow::new();
        net.set(live);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        ui.step(&mut window, t0);
        ui.step(&mut window, t0 + ms(299));
        assert_eq!(net.commands(), vec![]);
        ui.step(&mut window, t0 + ms(300));
        assert_eq!(net.commands(), vec![Command::ViewSize((4, 2))]);
        // A drag through sizes, one every 16 ms, then still.
        let mut at = ms(400);
        for w in 5..40 {
            window.size = (w, 3);
            ui.step(&mut window, t0 + at);
            at += ms(16);
        }
        assert_eq!(net.commands(), vec![], "mid-drag");
        for _ in 0..40 {
            ui.step(&mut window, t0 + at);
            at += ms(16);
        }
        assert_eq!(net.commands(), vec![Command::ViewSize((39, 3))]);
    }

    #[test]
    fn a_smaller_frame_mid_session_replaces_the_picture_and_the_pointer_maps_into_it() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow {
            size: (8, 4),
            ..FakeWindow::new()
        };
        net.set(live);
        let big = Arc::new(DecodedFrame {
            width: 8,
            height: 4,
            pixels: (0..32).collect(),
            seq: 1,
            captured_at_us: 0,
            quality: 75,
        });
        frames.put(big);
        window.level.pointer = Some((7.0, 3.0));
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![ClientMessage::MouseMove { x: 7, y: 3 }]);
        // The window was made smaller: the agent now sends 4x2 frames.
        frames.put(frame());
        window.level.pointer = Some((6.0, 2.0));
        step(&mut ui, &mut window);
        let (buffer, size) = ui.canvas.pixels();
        assert_eq!(size, (8, 4));
        #[rustfmt::skip]
        let upscaled: Vec<u32> = vec![
            1, 1, 2, 2, 3, 3, 4, 4,
            1, 1, 2, 2, 3, 3, 4, 4,
            5, 5, 6, 6, 7, 7, 8, 8,
            5, 5, 6, 6, 7, 7, 8, 8,
        ];
        // The new frame fills the window, each pixel repeated.
        assert_eq!(buffer, upscaled.as_slice());
        // The frame's corner, in the frame's own pixels.
        window.level.pointer = Some((7.0, 3.0));
        step(&mut ui, &mut window);
        let moves = net.inputs();
        assert_eq!(moves.last(), Some(&ClientMessage::MouseMove { x: 3, y: 1 }));
        // Past a stats period the title names the scaled picture.
        ui.step(&mut window, Instant::now() + Duration::from_secs(2));
        assert!(
            window.title().ends_with(" · 4x2 of 800x600"),
            "{}",
            window.title()
        );
    }

    #[test]
    fn a_stalled_connection_never_loses_a_key_release() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        window.level.keys_down = vec![WinKey::LeftCtrl];
        step(&mut ui, &mut window);
        // The network thread stalls while the user types Ctrl+X far past
        // the queue (64 here) and lets Ctrl go.
        for _ in 0..200 {
            window.tap(WinKey::X);
        }
        step(&mut ui, &mut window);
        window.level.keys_down.clear();
        step(&mut ui, &mut window);
        // The stall ends.
        let mut sent = Vec::new();
        for _ in 0..10 {
            sent.extend(net.inputs());
            step(&mut ui, &mut window);
        }
        sent.extend(net.inputs());
        let mut held = Vec::new();
        for msg in &sent {
            if let ClientMessage::Key { key, pressed } = *msg {
                held.retain(|&k| k != key);
                if pressed {
                    held.push(key);
                }
            }
        }
        assert_eq!(held, vec![], "held on the agent after the stall");
        assert_eq!(sent.last(), Some(&key(Key::Control, false)));
    }

    #[test]
    fn an_agent_without_control_gets_no_input_and_the_title_says_why() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        frames.put(frame());
        net.set(|s| {
            live(s);
            s.control = false;
        });
        window.level.pointer = Some((0.0, 0.0));
        window.level.buttons = [true, false, false];
        window.tap(WinKey::Enter);
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![]);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · view-only (agent)"
        );
    }

    #[test]
    fn keys_need_focus_but_the_pointer_does_not() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        frames.put(frame());
        net.set(live);
        window.level.focused = false;
        window.level.keys_down = vec![WinKey::B];
        window.level.pointer = Some((3.0, 0.0));
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![ClientMessage::MouseMove { x: 3, y: 0 }]);
    }

    #[test]
    fn f10_toggles_view_only_releases_held_keys_and_says_so() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        window.level.keys_down = vec![WinKey::LeftCtrl];
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Control, true)]);

        window.tap(WinKey::F10);
        step(&mut ui, &mut window);
        // The gate is decided at the start of an iteration, so the held
        // key is released by the next one (1/60 s later).
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Control, false)]);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · view-only · view-only: input stays here (F10 to steer again)"
        );
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![], "view-only sends nothing");

        window.tap(WinKey::F10);
        step(&mut ui, &mut window);
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Control, true)]);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · steering the agent again"
        );
    }

    #[test]
    fn f8_asks_the_network_thread_to_toggle_and_the_title_follows_its_status() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        step(&mut ui, &mut window);
        assert_eq!(window.title(), "lookout · box:6868 · live");

        window.tap(WinKey::F8);
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![Command::TogglePause]);
        // The window keeps no pause of its own: until the network thread
        // says so, it is not paused.
        assert_eq!(window.title(), "lookout · box:6868 · live");
        net.set(|s| s.paused = true);
        step(&mut ui, &mut window);
        assert_eq!(window.title(), "lookout · box:6868 · paused");
    }

    #[test]
    fn holding_a_local_key_runs_its_action_once_despite_auto_repeat() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        window.events = vec![(WinKey::F8, true); 5];
        step(&mut ui, &mut window);
        window.events = vec![(WinKey::F8, true), (WinKey::F8, false)];
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![Command::TogglePause]);
        window.tap(WinKey::F8);
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![Command::TogglePause]);
    }

    #[test]
    fn local_keys_are_never_forwarded() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        for k in [WinKey::F7, WinKey::F9] {
            window.tap(k);
        }
        window.level.keys_down = vec![WinKey::F7, WinKey::F9];
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![]);
    }

    #[test]
    fn f7_switches_monitor_only_when_there_is_another_and_names_the_new_one() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();

        window.tap(WinKey::F7);
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![]);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · connecting · not connected"
        );

        net.set(live);
        window.tap(WinKey::F7);
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![]);
        assert!(
            window.title().ends_with("the agent has only one monitor"),
            "{}",
            window.title()
        );

        net.set(|s| s.monitors = vec![monitor(0), monitor(1)]);
        window.tap(WinKey::F7);
        step(&mut ui, &mut window);
        assert_eq!(net.commands(), vec![Command::NextMonitor]);
        net.set(|s| s.monitor = Some(1));
        step(&mut ui, &mut window);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · monitor m1 · monitor 1: m1 (800x600)"
        );
    }

    #[test]
    fn the_title_names_the_monitor_and_says_when_the_agent_moved_us() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        let all = MonitorInfo {
            id: u32::MAX,
            name: "all".into(),
            width: 1600,
            all: true,
            primary: false,
            ..monitor(0)
        };
        net.set(live);
        net.set(|s| s.monitors = vec![monitor(0), monitor(1), all.clone()]);
        let now = Instant::now();
        ui.step(&mut window, now);
        assert_eq!(window.title(), "lookout · box:6868 · live · monitor m0");
        net.set(|s| s.monitor = Some(u32::MAX));
        ui.step(&mut window, now);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · all monitors · all monitors: all (1600x600)"
        );
        // Down to one monitor: "all" goes, the agent moves us to m0.
        net.set(|s| {
            s.monitors = vec![monitor(0)];
            s.monitor = Some(0);
        });
        ui.step(&mut window, now);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · live · all monitors is gone; now showing monitor m0"
        );
        ui.step(&mut window, now + Duration::from_secs(5));
        assert!(
            !window.title().contains("monitor"),
            "one monitor: not named; {}",
            window.title()
        );
    }

    #[test]
    fn a_flash_leaves_the_title_after_its_time() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, _net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        let now = Instant::now();
        window.tap(WinKey::F9);
        ui.step(&mut window, now);
        assert_eq!(
            window.title(),
            "lookout · box:6868 · connecting · no image to save yet"
        );
        ui.step(&mut window, now + Duration::from_secs(3));
        assert!(window.title().ends_with("no image to save yet"));
        ui.step(&mut window, now + Duration::from_secs(5));
        assert_eq!(window.title(), "lookout · box:6868 · connecting");
    }

    #[test]
    fn f6_starts_a_recording_shown_as_rec_in_the_title_and_stops_it() {
        let dir = std::env::temp_dir().join(format!("lookout-ui-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, dir.clone());
        let mut window = FakeWindow::new();
        net.set(live);
        let now = Instant::now();
        window.tap(WinKey::F6);
        ui.step(&mut window, now);
        assert!(window.title().contains("REC 00:0"), "{}", window.title());
        assert!(
            window.title().contains("recording to"),
            "{}",
            window.title()
        );
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1, "one file created");
        window.tap(WinKey::F6);
        ui.step(&mut window, now);
        assert!(!window.title().contains("REC "), "{}", window.title());
        assert!(window.title().contains("recorded"), "{}", window.title());
        assert!(ui.links.recording.elapsed().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// One track, one size: a window resized while recording is not told
    /// to the agent (the window scales the picture it gets) until F6 stops
    /// the recording.
    #[test]
    fn a_resize_while_recording_waits_for_the_recording_to_stop() {
        let dir = std::env::temp_dir().join(format!("lookout-ui-rec-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, dir.clone());
        ui.settle = SizeSettle::new(SETTLE_FOR);
        let mut window = FakeWindow::new();
        net.set(live);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        ui.step(&mut window, t0);
        ui.step(&mut window, t0 + ms(300));
        assert_eq!(net.commands(), vec![Command::ViewSize((4, 2))]);
        window.tap(WinKey::F6);
        ui.step(&mut window, t0 + ms(310));
        window.size = (9, 5);
        ui.step(&mut window, t0 + ms(320));
        ui.step(&mut window, t0 + ms(700));
        assert_eq!(net.commands(), vec![], "told while recording");
        window.tap(WinKey::F6);
        ui.step(&mut window, t0 + ms(710));
        assert_eq!(net.commands(), vec![Command::ViewSize((9, 5))]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn f9_saves_the_frame_on_screen_and_says_where() {
        let dir = std::env::temp_dir().join(format!("lookout-ui-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, dir.clone());
        let mut window = FakeWindow::new();
        net.set(live);
        frames.put(frame());
        window.tap(WinKey::F9);
        step(&mut ui, &mut window);
        // The PNG is written on its own thread; the title says when.
        for _ in 0..200 {
            if window.title().contains("saved") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            step(&mut ui, &mut window);
        }
        let title = window.title().to_owned();
        assert!(
            title.contains(&format!("saved {}", dir.display())),
            "{title}"
        );
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0].starts_with("lookout-box-") && files[0].ends_with("-5.png"),
            "{files:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_agent_session_forgets_held_keys_without_releasing_them() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, mut net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        window.level.keys_down = vec![WinKey::Z];
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Char('z'), true)]);
        // Reconnected: the new session starts with nothing held.
        net.set(|s| s.session = 2);
        step(&mut ui, &mut window);
        assert_eq!(net.inputs(), vec![key(Key::Char('z'), true)]);
    }

    #[test]
    fn the_loop_stops_when_the_network_side_fails_or_goes_away() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        assert_eq!(step(&mut ui, &mut window), Flow::Continue);
        net.set(|s| s.link = Link::Failed);
        assert_eq!(step(&mut ui, &mut window), Flow::Stop);

        let (mut ui, net) = start(&frames, &received, PathBuf::new());
        drop(net);
        assert_eq!(step(&mut ui, &mut window), Flow::Stop);
    }

    #[test]
    fn run_shows_the_newest_frame_letterboxed_until_the_window_closes() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow {
            size: (4, 4),
            shows_left: 3,
            ..FakeWindow::new()
        };
        net.set(live);
        frames.put(frame());
        ui.run(&mut window).unwrap();
        assert_eq!(window.shows_left, 0);
        #[rustfmt::skip]
        let expected = vec![
            0, 0, 0, 0,
            1, 2, 3, 4,
            5, 6, 7, 8,
            0, 0, 0, 0,
        ];
        assert_eq!(window.shown, expected);
        assert_eq!(window.title(), "lookout · box:6868 · live");
    }

    #[test]
    fn an_unavailable_screen_is_dimmed_and_titled_until_frames_flow_again() {
        let (frames, received) = (Latest::new(), AtomicU64::new(0));
        let (mut ui, net) = start(&frames, &received, PathBuf::new());
        let mut window = FakeWindow::new();
        net.set(live);
        let bright = Arc::new(DecodedFrame {
            width: 4,
            height: 2,
            pixels: vec![0x00c8_6440; 8],
            seq: 1,
            captured_at_us: 0,
            quality: 75,
        });
        frames.put(bright);
        let show = |ui: &mut Ui<'_>, window: &mut FakeWindow| {
            step(ui, window);
            let (buffer, size) = ui.canvas.pixels();
            window.show(buffer, size).unwrap();
            window.shown[0]
        };
        assert_eq!(show(&mut ui, &mut window), 0x00c8_6440);
        net.set(|s| s.feed = Feed::Unavailable("the display went away".into()));
        assert_eq!(show(&mut ui, &mut window), 0x0064_3220, "half brightness");
        assert_eq!(
            window.title(),
            "lookout · box:6868 · screen unavailable (the display went away)"
        );
        net.set(|s| s.feed = Feed::Live);
        assert_eq!(show(&mut ui, &mut window), 0x00c8_6440);
        assert_eq!(window.title(), "lookout · box:6868 · live");
    }
}
