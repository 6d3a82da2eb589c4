//! One connection to a wlroots Wayland compositor, shared in shape by the
//! wlroots capturer ([`crate::capture`]'s `wlr`) and input sink
//! ([`crate::input`]'s `wlr`), each of which opens its own on its own
//! thread: the globals they bind, the outputs and their layout
//! ([`outputs`]), and reading events with a deadline, so that a compositor
//! that has nothing to say never blocks the thread waiting for it.
//!
//! All protocol state lives in one [`State`], which every `Dispatch`
//! implementation writes into; a capturer leaves the input parts empty and
//! the other way round.

pub(crate) mod outputs;
pub(crate) mod screencopy;
pub(crate) mod transform;

use std::time::{Duration, Instant};

use wayland_client::backend::WaylandError;
use wayland_client::globals::{BindError, GlobalError, GlobalList, GlobalListContents};
use wayland_client::protocol::{wl_registry, wl_seat, wl_shm};
use wayland_client::{ConnectError, Connection, Dispatch, DispatchError, EventQueue, QueueHandle};
use wayland_protocols::xdg::xdg_output::zv1::client::zxdg_output_manager_v1::ZxdgOutputManagerV1;

use outputs::Outputs;
use screencopy::Frames;

/// Why a Wayland backend cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum WlrError {
    /// No compositor to connect to.
    #[error("cannot connect to the Wayland compositor (is WAYLAND_DISPLAY set?)")]
    Connect(#[source] ConnectError),
    /// The compositor's socket could not be opened.
    #[error("cannot open the Wayland socket")]
    Socket(#[source] std::io::Error),
    /// The compositor's globals could not be listed.
    #[error("cannot list the Wayland compositor's globals")]
    Globals(#[source] GlobalError),
    /// The compositor lacks a protocol this backend needs.
    #[error("the Wayland compositor does not offer {0} (not a wlroots compositor?)")]
    Missing(&'static str),
    /// The connection broke or the compositor sent a protocol error.
    #[error("the Wayland connection failed")]
    Connection(#[source] DispatchError),
    /// Waiting for the compositor failed.
    #[error("cannot wait for the Wayland compositor")]
    Poll(#[source] std::io::Error),
    /// A shared-memory buffer could not be made or read.
    #[error("Wayland shared memory failed")]
    Memory(#[source] std::io::Error),
    /// The compositor did not answer in time.
    #[error("the Wayland compositor did not answer within {0:?}")]
    Timeout(Duration),
    /// The compositor refused to copy an output.
    #[error("the compositor refused to copy output {0}")]
    CopyFailed(u32),
    /// The compositor offers no pixel format the agent reads.
    #[error("the compositor offers output {0} in no pixel format the agent reads")]
    Format(u32),
}

impl WlrError {
    /// Whether the connection is gone (or was never made): only a new one
    /// can work again.
    pub fn is_disconnected(&self) -> bool {
        matches!(
            self,
            WlrError::Connect(_)
                | WlrError::Socket(_)
                | WlrError::Connection(_)
                | WlrError::Poll(_)
        )
    }
}

impl From<WaylandError> for WlrError {
    fn from(err: WaylandError) -> Self {
        WlrError::Connection(DispatchError::Backend(err))
    }
}

/// Everything the compositor told this connection, written by the
/// `Dispatch` implementations.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The outputs and their layout.
    pub(crate) outputs: Outputs,
    /// Screen copies in flight (capturer only).
    pub(crate) frames: Frames,
    /// `wl_shm`, to make buffers (capturer only).
    pub(crate) shm: Option<wl_shm::WlShm>,
    /// `xdg-output`, for names and the layout of outputs bound later.
    pub(crate) xdg: Option<ZxdgOutputManagerV1>,
}

/// A connection, its event queue and its state.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) conn: Connection,
    pub(crate) queue: EventQueue<State>,
    pub(crate) qh: QueueHandle<State>,
    pub(crate) globals: GlobalList,
    pub(crate) state: State,
}

/// How long the compositor may take to answer a request that needs no
/// new frame (a round trip, a buffer description): it answers at once
/// unless it is stuck.
pub(crate) const ANSWER: Duration = Duration::from_secs(2);

impl Client {
    /// Connects to the compositor at `socket` (`None`: the one of
    /// `WAYLAND_DISPLAY`) and reads its outputs and their layout.
    pub(crate) fn connect(socket: Option<&std::path::Path>) -> Result<Self, WlrError> {
        let conn = match socket {
            None => Connection::connect_to_env().map_err(WlrError::Connect)?,
            Some(path) => {
                let stream =
                    std::os::unix::net::UnixStream::connect(path).map_err(WlrError::Socket)?;
                Connection::from_socket(stream).map_err(WlrError::Connect)?
            }
        };
        let (globals, queue) = wayland_client::globals::registry_queue_init::<State>(&conn)
            .map_err(WlrError::Globals)?;
        let qh = queue.handle();
        let mut client = Client {
            conn,
            queue,
            qh,
            globals,
            state: State::default(),
        };
        client.state.xdg = Some(client.bind(1..=3, "zxdg_output_manager_v1")?);
        let outputs = client.globals.contents().with_list(|list| {
            list.iter()
                .filter(|g| g.interface == "wl_output")
                .map(|g| (g.name, g.version))
                .collect::<Vec<_>>()
        });
        for (name, version) in outputs {
            client.state.outputs.bind(
                client.globals.registry(),
                name,
                version,
                client.state.xdg.as_ref(),
                &client.qh,
            );
        }
        // Outputs answer with their mode, then xdg-output with their place.
        client.roundtrip()?;
        client.roundtrip()?;
        Ok(client)
    }

    /// Binds the global `interface` in `versions`.
    pub(crate) fn bind<I>(
        &self,
        versions: std::ops::RangeInclusive<u32>,
        interface: &'static str,
    ) -> Result<I, WlrError>
    where
        I: wayland_client::Proxy + 'static,
        State: Dispatch<I, ()>,
    {
        self.globals
            .bind(&self.qh, versions, ())
            .map_err(|err| match err {
                BindError::UnsupportedVersion | BindError::NotPresent => {
                    WlrError::Missing(interface)
                }
            })
    }

    /// The first seat.
    pub(crate) fn seat(&self) -> Result<wl_seat::WlSeat, WlrError> {
        self.bind(1..=1, "wl_seat")
    }

    /// A round trip: everything the compositor had to say so far is read.
    pub(crate) fn roundtrip(&mut self) -> Result<(), WlrError> {
        let started = Instant::now();
        // Bounded: a sync's answer is the next event after what is queued.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.conn
            .display()
            .sync(&self.qh, std::sync::Arc::clone(&done));
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let left = ANSWER.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(WlrError::Timeout(ANSWER));
            }
            self.read_events(left)?;
        }
        Ok(())
    }

    /// Sends what is queued, then reads and handles the events that arrive
    /// within `wait` (none at all with a zero wait: only what is there).
    /// Returns as soon as some events were handled.
    pub(crate) fn read_events(&mut self, wait: Duration) -> Result<(), WlrError> {
        self.queue.flush()?;
        let handled = self
            .queue
            .dispatch_pending(&mut self.state)
            .map_err(WlrError::Connection)?;
        if handled > 0 {
            self.queue.flush()?;
            return Ok(());
        }
        if let Some(guard) = self.queue.prepare_read()
            && readable(guard.connection_fd(), wait)?
        {
            match guard.read() {
                Ok(_) => {}
                // A spurious wake-up: nothing to read after all.
                Err(WaylandError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err.into()),
            }
        }
        self.queue
            .dispatch_pending(&mut self.state)
            .map_err(WlrError::Connection)?;
        // What the handlers asked for (a copy of another output, say) is
        // sent now, not at the next read.
        self.queue.flush()?;
        Ok(())
    }

    /// Reads events until `done` holds for the state, or `within` passed.
    pub(crate) fn wait_until(
        &mut self,
        within: Duration,
        done: impl Fn(&State) -> bool,
    ) -> Result<bool, WlrError> {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.state) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.read_events(left)?;
        }
    }
}

/// Whether `fd` becomes readable within `wait`.
fn readable(fd: std::os::fd::BorrowedFd<'_>, wait: Duration) -> Result<bool, WlrError> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: wait.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: wait.subsec_nanos().into(),
    };
    match poll(&mut fds, Some(&timeout)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(err) => Err(WlrError::Poll(err.into())),
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } if interface == "wl_output" => {
                let xdg = state.xdg.clone();
                state
                    .outputs
                    .bind(registry, name, version, xdg.as_ref(), qh);
            }
            wl_registry::Event::GlobalRemove { name } => state.outputs.remove(name),
            _ => {}
        }
    }
}

impl
    Dispatch<
        wayland_client::protocol::wl_callback::WlCallback,
        std::sync::Arc<std::sync::atomic::AtomicBool>,
    > for State
{
    fn event(
        _: &mut Self,
        _: &wayland_client::protocol::wl_callback::WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        done: &std::sync::Arc<std::sync::atomic::AtomicBool>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        done.store(true, std::sync::atomic::Ordering::Release);
    }
}

// Globals with no events this agent needs.
wayland_client::delegate_noop!(State: ignore wl_shm::WlShm);
wayland_client::delegate_noop!(State: ignore wl_seat::WlSeat);
wayland_client::delegate_noop!(State: ZxdgOutputManagerV1);
