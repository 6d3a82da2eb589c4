//! A private PipeWire for the portal capturer's tests: `pipewire` and
//! `wireplumber` (which links streams to their targets) under their own
//! D-Bus session (`dbus-run-session`) and runtime directory, killed on
//! drop; and [`VideoSource`], a video stream made here that sends known
//! BGRx pictures, standing in for a compositor's screen cast.
//!
//! Needs the packages in `dev.sh` (pipewire, wireplumber, dbus):
//! [`PipeWire::start`] says why not when they are missing, and the tests
//! print that and skip. On CI they are there and the tests run.

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewire as pw;
use pw::spa;
use spa::pod::{Object, Pod, Value};
use spa::utils::{Fraction, Id, Rectangle};

use lookout_server::capture::pipewire_params::{self, prop, raw_video};

use crate::tools::{GroupLeader, on_path, remove_run_dir, sweep_stale};

/// pipewire, then wireplumber once pipewire's socket is there (started
/// together, wireplumber may find no daemon on a loaded machine and exit,
/// and no stream is ever linked); the wait is bounded (30 s).
const PIPEWIRE_THEN_WIREPLUMBER: &str = "pipewire & i=0; \
    while [ ! -S \"$XDG_RUNTIME_DIR/pipewire-0\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; \
    exec wireplumber";

/// The daemons' directories: `PREFIX<pid>-<n>`.
const PREFIX: &str = "/tmp/lookout-pipewire-";

/// How long the daemon may take to open its socket (well under a second
/// idle; a loaded CI machine gets slack).
const START: Duration = Duration::from_secs(30);

/// A private PipeWire daemon with its session manager.
#[derive(Debug)]
pub struct PipeWire {
    child: GroupLeader,
    runtime: PathBuf,
}

impl PipeWire {
    /// Starts the daemon and waits (bounded) for its socket. `Err` says
    /// why it cannot run here: skip then.
    pub fn start() -> Result<Self, String> {
        for tool in ["pipewire", "wireplumber", "dbus-run-session"] {
            if !on_path(tool) {
                return Err(format!("{tool} is not installed (see dev.sh PACKAGES)"));
            }
        }
        sweep_stale(PREFIX);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let runtime = PathBuf::from(format!("{PREFIX}{}-{n}", std::process::id()));
        remove_run_dir(&runtime);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&runtime)
            .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(runtime.join("log")).map_err(|e| e.to_string())?;
        let log_copy = log.try_clone().map_err(|e| e.to_string())?;
        let spawned = GroupLeader::spawn(
            Command::new("dbus-run-session")
                .args(["--", "sh", "-c", PIPEWIRE_THEN_WIREPLUMBER])
                .env("XDG_RUNTIME_DIR", &runtime)
                .env_remove("PIPEWIRE_REMOTE")
                .env_remove("DBUS_SESSION_BUS_ADDRESS")
                .stdin(Stdio::null())
                .stdout(log_copy)
                .stderr(log),
        );
        let child = match spawned {
            Ok(child) => child,
            Err(err) => {
                remove_run_dir(&runtime);
                return Err(format!("cannot start pipewire: {err}"));
            }
        };
        let mut pipewire = PipeWire { child, runtime };
        let deadline = Instant::now() + START;
        while Instant::now() < deadline {
            if let Some(status) = pipewire.child.try_wait() {
                return Err(format!("pipewire exited ({status}): {}", pipewire.log()));
            }
            if pipewire.connect().is_ok() {
                return Ok(pipewire);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("pipewire did not start: {}", pipewire.log()))
    }

    /// A new connection to the daemon, as the portal's
    /// `OpenPipeWireRemote` hands out.
    pub fn connect(&self) -> std::io::Result<OwnedFd> {
        UnixStream::connect(self.runtime.join("pipewire-0")).map(OwnedFd::from)
    }

    /// What the daemon and the session manager logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.runtime.join("log")).unwrap_or_default()
    }

    /// Stops the daemon (its streams end), now; once.
    pub fn kill(&mut self) {
        // The group: dbus-daemon, pipewire and wireplumber.
        self.child.kill();
    }
}

impl Drop for PipeWire {
    fn drop(&mut self) {
        self.kill();
        remove_run_dir(&self.runtime);
    }
}

/// The picture a [`VideoSource`] sends as frame `n`: blue is `x`, green is
/// `y` (both mod 256), red is `n` mod 256, pad 0xFF.
pub fn test_picture(width: u32, height: u32, n: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.extend([x as u8, y as u8, n as u8, 0xFF]);
        }
    }
    pixels
}

/// A BGRx video stream sending [`test_picture`]s 0, 1, 2... at about 30
/// per second, up to a number of frames (then it is a still screen);
/// stopped on drop.
pub struct VideoSource {
    node: u32,
    quit: pw::channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for VideoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSource")
            .field("node", &self.node)
            .finish()
    }
}

impl VideoSource {
    /// Starts a `width`x`height` source of `frames` frames on the
    /// connection `fd`, and waits (bounded) for its node id.
    pub fn start(fd: OwnedFd, width: u32, height: u32, frames: u32) -> Result<Self, String> {
        let (quit, quit_rx) = pw::channel::channel::<()>();
        let (node_tx, node_rx) = mpsc::sync_channel(1);
        let thread = std::thread::spawn(move || {
            if let Err(err) = run_source(fd, (width, height), frames, quit_rx, &node_tx) {
                let _ = node_tx.send(Err(err.to_string()));
            }
        });
        let node = node_rx
            .recv_timeout(START)
            .map_err(|_| "the video source got no node id in time".to_string())??;
        Ok(Self {
            node,
            quit,
            thread: Some(thread),
        })
    }

    /// Its PipeWire node: what a portal's stream would name.
    pub fn node(&self) -> u32 {
        self.node
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        let _ = self.quit.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_source(
    fd: OwnedFd,
    (width, height): (u32, u32),
    frames: u32,
    quit: pw::channel::Receiver<()>,
    node: &mpsc::SyncSender<Result<u32, String>>,
) -> Result<(), pw::Error> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_fd_rc(fd, None)?;
    let stream = pw::stream::StreamRc::new(
        core,
        "lookout-test-source",
        pw::properties::properties! {
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Source",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )?;
    let node_tx = node.clone();
    let mut frame = 0u32;
    let _listener = stream
        .add_local_listener_with_user_data(())
        .state_changed(move |stream, _, _, new| {
            if matches!(new, pw::stream::StreamState::Paused) {
                let _ = node_tx.try_send(Ok(stream.node_id()));
            }
        })
        .param_changed(move |stream, _, id, param| {
            if param.is_some() && id == spa::param::ParamType::Format.as_raw() {
                let buffers = serialize(buffers(width, height));
                let mut params = [Pod::from_bytes(&buffers).expect("a pod")];
                let _ = stream.update_params(&mut params);
            }
        })
        .process(move |stream, _| {
            if frame >= frames || !matches!(stream.state(), pw::stream::StreamState::Streaming) {
                return;
            }
            let Some(mut buffer) = stream.dequeue_buffer() else {
                return;
            };
            let Some(data) = buffer.datas_mut().first_mut() else {
                return;
            };
            let picture = test_picture(width, height, frame);
            frame += 1;
            if let Some(bytes) = data.data()
                && bytes.len() >= picture.len()
            {
                bytes[..picture.len()].copy_from_slice(&picture);
                let chunk = data.chunk_mut();
                *chunk.offset_mut() = 0;
                *chunk.size_mut() = picture.len() as u32;
                *chunk.stride_mut() = (width * 4) as i32;
            }
        })
        .register()?;
    let format = serialize(format(width, height));
    let mut params = [Pod::from_bytes(&format).expect("a pod")];
    stream.connect(
        spa::utils::Direction::Output,
        None,
        pw::stream::StreamFlags::DRIVER | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;
    // A driver paces itself: a frame every 33 ms.
    let ticking = stream.clone();
    let sent = std::cell::Cell::new(0u32);
    let timer = mainloop.loop_().add_timer(move |_| {
        // Counted once a consumer is linked (the stream streams), so none
        // is lost to an empty room. Two cycles more than frames: a buffer
        // queued in one cycle goes out in the next, so the last frame
        // needs one after it.
        let streaming = matches!(ticking.state(), pw::stream::StreamState::Streaming);
        if streaming && sent.get() < frames.saturating_add(2) {
            sent.set(sent.get() + 1);
            let _ = ticking.trigger_process();
        }
    });
    let tick = Duration::from_millis(33);
    let _ = timer.update_timer(Some(tick), Some(tick));
    let weak = mainloop.downgrade();
    let _quit = quit.attach(mainloop.loop_(), move |()| {
        if let Some(mainloop) = weak.upgrade() {
            mainloop.quit();
        }
    });
    mainloop.run();
    Ok(())
}

fn format(width: u32, height: u32) -> Object {
    use spa::param::format::FormatProperties;
    use spa::param::video::VideoFormat;
    raw_video(
        Value::Id(Id(VideoFormat::BGRx.as_raw())),
        vec![
            prop(
                FormatProperties::VideoSize.as_raw(),
                Value::Rectangle(Rectangle { width, height }),
            ),
            prop(
                FormatProperties::VideoFramerate.as_raw(),
                Value::Fraction(Fraction { num: 30, denom: 1 }),
            ),
        ],
    )
}

/// Shared-memory buffers (memfd) of one tightly packed picture each.
fn buffers(width: u32, height: u32) -> Object {
    let stride = (width * 4) as i32;
    Object {
        type_: spa::utils::SpaTypes::ObjectParamBuffers.as_raw(),
        id: spa::param::ParamType::Buffers.as_raw(),
        properties: vec![
            prop(spa::sys::SPA_PARAM_BUFFERS_buffers, Value::Int(4)),
            prop(spa::sys::SPA_PARAM_BUFFERS_blocks, Value::Int(1)),
            prop(
                spa::sys::SPA_PARAM_BUFFERS_size,
                Value::Int(stride * height as i32),
            ),
            prop(spa::sys::SPA_PARAM_BUFFERS_stride, Value::Int(stride)),
            prop(
                spa::sys::SPA_PARAM_BUFFERS_dataType,
                Value::Int(1 << spa::sys::SPA_DATA_MemFd),
            ),
        ],
    }
}

fn serialize(object: Object) -> Vec<u8> {
    pipewire_params::serialize(object).expect("a pod serializes")
}
