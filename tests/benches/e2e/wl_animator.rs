//! A Wayland client that animates a headless sway like the X11
//! [`crate::animator`]: the same desktop picture and the same motion
//! ([`Motion`]), drawn into a fullscreen window in shared-memory buffers.
//!
//! It draws at the compositor's pace: each frame is drawn when the
//! compositor's `wl_surface.frame` callback says the last one was shown
//! (at most the output's 60 Hz), into whichever of its two buffers the
//! compositor has released, and damages only what changed since the frame
//! before (the window's old and new place, the clock). It counts the
//! frames it drew, so the bench can say what rate the compositor took.
//!
//! It connects to the session's socket by its absolute path, as the agent
//! does: the bench runs as root, which may open the user's socket.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lookout_server::capture::{Capturer, TestPattern};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_registry, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, delegate_noop};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

use crate::animator::{Area, Motion};

/// How long the animator waits for the compositor at most before it looks
/// at its stop flag again.
const WAIT: Duration = Duration::from_millis(100);

/// What the animator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Animation {
    /// The full-motion desktop: the window moves and the clock grows at
    /// every frame the compositor takes.
    Desktop,
    /// Only the window moves, 30 times a second (someone dragging it).
    Dragging,
}

impl Animation {
    /// The least time between two frames.
    fn interval(self) -> Duration {
        match self {
            Animation::Desktop => Duration::ZERO,
            Animation::Dragging => Duration::from_secs(1) / 30,
        }
    }
}

/// A running animator; stopped (its window closed) by [`WlAnimator::stop`].
pub(crate) struct WlAnimator {
    stop: Arc<AtomicBool>,
    drawn: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl WlAnimator {
    /// Starts animating a `w`x`h` output of the compositor at `socket`.
    /// Returns once the first whole picture was shown, or panics with why
    /// not.
    pub(crate) fn start(socket: &Path, w: u32, h: u32, animation: Animation) -> Self {
        let desktop = TestPattern::still(w, h)
            .capture(0)
            .expect("render desktop")
            .pixels;
        let xrgb: Vec<u8> = desktop
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let drawn = Arc::new(AtomicU64::new(0));
        let (s, d) = (Arc::clone(&stop), Arc::clone(&drawn));
        let socket = socket.to_owned();
        let thread = std::thread::spawn(move || {
            let mut window = Window::open(&socket, w, h, xrgb).map_err(|e| e.to_string())?;
            window.animate(animation, &s, &d).map_err(|e| e.to_string())
        });
        let animator = Self {
            stop,
            drawn,
            thread: Some(thread),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Bounded by the deadline.
        while animator.drawn() == 0 {
            if animator.thread.as_ref().is_some_and(|t| t.is_finished())
                || Instant::now() > deadline
            {
                animator.stop();
                panic!("the Wayland animator did not draw its first frame");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        animator
    }

    /// How many frames it drew so far.
    pub(crate) fn drawn(&self) -> u64 {
        self.drawn.load(Ordering::SeqCst)
    }

    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take()
            && let Err(why) = t.join().expect("animator")
        {
            panic!("the Wayland animator failed: {why}");
        }
    }
}

impl Drop for WlAnimator {
    /// Not stopped (the bench panicked on the way): it stops drawing too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

/// One of the two buffers, and what is drawn in it.
struct Buffer {
    wl: wl_buffer::WlBuffer,
    /// Byte offset in the pool.
    offset: u64,
    /// Where this buffer has the window, if it has one yet.
    window_at: Option<(u32, u32)>,
    /// Whether it holds the desktop yet.
    painted: bool,
}

/// Protocol state the `Dispatch` implementations write.
#[derive(Default)]
struct State {
    /// The buffers the compositor holds (by index).
    busy: [bool; 2],
    /// The compositor asked for the next frame.
    frame_due: bool,
    /// The size of the first configure, once it came.
    configured: Option<(u32, u32)>,
    closed: bool,
}

/// The fullscreen window and its buffers.
struct Window {
    conn: Connection,
    queue: EventQueue<State>,
    qh: QueueHandle<State>,
    state: State,
    surface: wl_surface::WlSurface,
    _toplevel: xdg_toplevel::XdgToplevel,
    pool: File,
    buffers: [Buffer; 2],
    /// The desktop, XRGB8888 little endian.
    desktop: Vec<u8>,
    size: (u32, u32),
}

impl Window {
    fn open(socket: &Path, w: u32, h: u32, desktop: Vec<u8>) -> Result<Self, Failed> {
        let stream = std::os::unix::net::UnixStream::connect(socket)?;
        let conn = Connection::from_socket(stream)?;
        let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 4..=4, ())?;
        let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
        let wm: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=2, ())?;
        let surface = compositor.create_surface(&qh, ());
        let xdg = wm.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg.get_toplevel(&qh, ());
        toplevel.set_title("animator".into());
        toplevel.set_fullscreen(None);
        surface.commit();
        let mut state = State::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Bounded by the deadline.
        while state.configured.is_none() {
            if Instant::now() > deadline {
                return Err("sway did not configure the window".into());
            }
            read(&conn, &mut queue, &mut state, WAIT)?;
        }
        if let Some(size) = state.configured.filter(|&s| s != (0, 0) && s != (w, h)) {
            return Err(format!("sway made the window {size:?}, not {w}x{h}").into());
        }
        let len = w as u64 * h as u64 * 4;
        let fd = rustix::fs::memfd_create("lookout-animator", rustix::fs::MemfdFlags::CLOEXEC)?;
        let pool = File::from(fd);
        pool.set_len(2 * len)?;
        let shm_pool = shm.create_pool(
            std::os::fd::AsFd::as_fd(&pool),
            i32::try_from(2 * len)?,
            &qh,
            (),
        );
        let buffers = [0usize, 1].map(|i| Buffer {
            wl: shm_pool.create_buffer(
                (i as u64 * len) as i32,
                w as i32,
                h as i32,
                (w * 4) as i32,
                wl_shm::Format::Xrgb8888,
                &qh,
                i,
            ),
            offset: i as u64 * len,
            window_at: None,
            painted: false,
        });
        shm_pool.destroy();
        state.frame_due = true;
        Ok(Self {
            conn,
            queue,
            qh,
            state,
            surface,
            _toplevel: toplevel,
            pool,
            buffers,
            desktop,
            size: (w, h),
        })
    }

    fn animate(
        &mut self,
        animation: Animation,
        stop: &AtomicBool,
        drawn: &AtomicU64,
    ) -> Result<(), Failed> {
        let motion = Motion::new(self.size.0, self.size.1);
        let started = Instant::now();
        let mut next = started;
        // The window's place in the frame on screen.
        let mut shown: Option<(u32, u32)> = None;
        while !stop.load(Ordering::SeqCst) && !self.state.closed {
            let free = (0..2).find(|&i| !self.state.busy[i]);
            let now = Instant::now();
            let (Some(i), true, true) = (free, self.state.frame_due, now >= next) else {
                let wait = if self.state.frame_due && free.is_some() {
                    next - now
                } else {
                    WAIT
                };
                read(&self.conn, &mut self.queue, &mut self.state, wait.min(WAIT))?;
                continue;
            };
            next = (next + animation.interval()).max(now);
            let t = started.elapsed().as_secs_f32();
            let at = motion.window_at(t);
            let damage = self.draw(i, &motion, at, animation, t)?;
            let ((mw, mh), clock) = (motion.window, motion.clock_area());
            if shown.is_none() {
                self.surface
                    .damage_buffer(0, 0, self.size.0 as i32, self.size.1 as i32);
            }
            for area in [shown, Some(at)]
                .into_iter()
                .flatten()
                .map(|(x, y)| Area {
                    x,
                    y,
                    width: mw,
                    height: mh,
                })
                .chain(damage.then_some(clock))
            {
                self.surface.damage_buffer(
                    area.x as i32,
                    area.y as i32,
                    area.width as i32,
                    area.height as i32,
                );
            }
            shown = Some(at);
            self.surface.attach(Some(&self.buffers[i].wl), 0, 0);
            self.surface.frame(&self.qh, ());
            self.surface.commit();
            self.state.busy[i] = true;
            self.state.frame_due = false;
            self.conn.flush()?;
            drawn.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Brings buffer `i` to the frame at `t`: the window at `at` and, for
    /// the desktop animation, the clock. Returns whether the clock changed.
    fn draw(
        &mut self,
        i: usize,
        motion: &Motion,
        at: (u32, u32),
        animation: Animation,
        t: f32,
    ) -> std::io::Result<bool> {
        let (w, h) = self.size;
        let (mw, mh) = motion.window;
        if !self.buffers[i].painted {
            self.pool
                .write_all_at(&self.desktop, self.buffers[i].offset)?;
            self.buffers[i].painted = true;
        }
        // Erase the window where this buffer had it, draw it where it is.
        if let Some((x, y)) = self.buffers[i].window_at.take() {
            self.copy(i, (x, y), (x, y), (mw, mh))?;
        }
        self.copy(i, motion.window_source(), at, (mw, mh))?;
        self.buffers[i].window_at = Some(at);
        if animation != Animation::Desktop {
            return Ok(false);
        }
        let area = motion.clock_area();
        self.copy(
            i,
            (area.x, area.y),
            (area.x, area.y),
            (area.width, area.height),
        )?;
        let bar = motion.clock_bar(t);
        let black = vec![0u8; bar.width as usize * 4];
        for y in bar.y..(bar.y + bar.height).min(h) {
            let at = self.buffers[i].offset + (y as u64 * w as u64 + bar.x as u64) * 4;
            self.pool.write_all_at(&black, at)?;
        }
        Ok(true)
    }

    /// Copies a `size` piece of the desktop at `from` into buffer `i` at `to`.
    fn copy(
        &self,
        i: usize,
        from: (u32, u32),
        to: (u32, u32),
        size: (u32, u32),
    ) -> std::io::Result<()> {
        let w = self.size.0 as usize;
        let row = size.0 as usize * 4;
        for r in 0..size.1 as usize {
            let src = ((from.1 as usize + r) * w + from.0 as usize) * 4;
            let dst = ((to.1 as usize + r) * w + to.0 as usize) * 4;
            self.pool.write_all_at(
                &self.desktop[src..src + row],
                self.buffers[i].offset + dst as u64,
            )?;
        }
        Ok(())
    }
}

/// Sends what is queued and handles the events that arrive within `wait`.
fn read(
    conn: &Connection,
    queue: &mut EventQueue<State>,
    state: &mut State,
    wait: Duration,
) -> Result<(), Failed> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    conn.flush()?;
    if queue.dispatch_pending(state)? > 0 {
        return Ok(());
    }
    if let Some(guard) = queue.prepare_read() {
        let fd = guard.connection_fd();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: wait.as_nanos().min(999_999_999) as i64,
        };
        if poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0 {
            match guard.read() {
                Ok(_) => {}
                Err(wayland_client::backend::WaylandError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    queue.dispatch_pending(state)?;
    Ok(())
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(State: ignore wl_compositor::WlCompositor);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: ignore wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_surface::WlSurface);

impl Dispatch<wl_buffer::WlBuffer, usize> for State {
    fn event(
        state: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        i: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            state.busy[*i] = false;
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frame_due = true;
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for State {
    fn event(
        _: &mut Self,
        wm: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for State {
    fn event(
        state: &mut Self,
        xdg: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg.ack_configure(serial);
            state.configured.get_or_insert((0, 0));
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } if state.configured.is_none() => {
                state.configured = Some((width.max(0) as u32, height.max(0) as u32));
            }
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
        }
    }
}
