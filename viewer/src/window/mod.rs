//! The window mode: wires the network thread, the decode thread and the
//! window together on the main thread (minifb wants it there on some
//! platforms), and takes them down in order.
//!
//! ```text
//! ui.rs          the core: status, local keys, steering gate, title
//!   ├─ canvas.rs   the frame letterboxed into the window's buffer
//!   ├─ title.rs    what the title says, and its flashes and figures
//!   ├─ settle.rs   the window's size, told once it has settled
//!   └─ saver.rs    F9: PNGs written on a short-lived thread
//! presenter.rs   the trait the core draws and reads input through
//! minifb_window.rs   the real window behind that trait
//! ```

mod canvas;
pub(crate) mod minifb_window;
mod presenter;
mod saver;
pub(crate) mod settle;
mod title;
mod ui;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use self::minifb_window::MinifbWindow;
use self::ui::{Links, Ui};
use crate::cli::Config;
use crate::decode::{DecodedFrame, FrameBound, UPDATE_QUEUE, UpdateQueue, spawn_recording_decoder};
use crate::error::RunError;
use crate::layout::{initial_window_size, window_bounds};
use crate::network::{COMMAND_QUEUE, Link, NetThread, Status};
use crate::record::Recording;
use crate::slot::Latest;
use crate::steering::WheelConvention;

/// The initial size when no frame arrived in time to size the window.
const FALLBACK_SIZE: (usize, usize) = (960, 540);
/// How often the wait for the first frame checks for a fatal error.
const FIRST_FRAME_POLL: Duration = Duration::from_millis(50);

/// Runs the window mode to the end: until the window is closed (`Ok`) or
/// the agent refuses us for good.
pub(crate) fn run(config: &Config) -> Result<(), RunError> {
    // Bounded: see UPDATE_QUEUE for the size.
    let updates = Arc::new(UpdateQueue::new(UPDATE_QUEUE));
    let frames = Arc::new(Latest::new());
    let received = Arc::new(AtomicU64::new(0));
    let (status_tx, status_rx) = watch::channel(Status::default());
    // Bounded: see COMMAND_QUEUE for the size.
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);

    // Frames are bounded by the monitors of the session they belong to: the
    // network thread publishes a session's `welcome` before its first frame.
    let welcomed = status_rx.clone();
    let bound = move || FrameBound::of_monitors(&welcomed.borrow().monitors);
    let recording = Arc::new(Recording::new());
    if let Some(path) = &config.record {
        recording.start(path).map_err(|source| RunError::Record {
            path: path.clone(),
            source,
        })?;
    }
    let decoder = spawn_recording_decoder(
        Arc::clone(&updates),
        Arc::clone(&frames),
        bound,
        Arc::clone(&recording),
    )
    .map_err(RunError::Runtime)?;
    // The largest first window this screen allows: with `profiles`, the
    // first `start_monitor` asks for the frame such a window shows.
    let (max_w, max_h) = window_bounds(crate::screen::size());
    let bounds = (
        u32::try_from(max_w).unwrap_or(u32::MAX),
        u32::try_from(max_h).unwrap_or(u32::MAX),
    );
    let net = match NetThread::spawn_for_window(
        config.clone(),
        Arc::clone(&updates),
        Arc::clone(&received),
        status_tx,
        command_rx,
        Some(bounds),
    ) {
        Ok(net) => net,
        Err(err) => {
            updates.close();
            let _ = decoder.join();
            return Err(RunError::Runtime(err));
        }
    };

    let links = Links {
        status: status_rx,
        commands: command_tx,
        frames: &frames,
        received: &received,
        recording: Arc::clone(&recording),
    };
    let shown = present(config, links, (max_w, max_h));

    // Network first: it feeds the decoder.
    let fatal = net.stop();
    updates.close();
    if decoder.join().is_err() {
        tracing::error!("the decode thread panicked");
    }
    // After the decoder: every picture it offered is in the file.
    recording.stop();
    match fatal {
        Ok(Some(err)) => Err(RunError::Session(err)),
        Ok(None) => shown,
        Err(_) => Err(RunError::Panicked("network")),
    }
}

/// Opens the window and runs its loop. Returns `Ok` when the window was
/// closed or the network side gave up (the caller reports why).
fn present(config: &Config, links: Links<'_>, bounds: (usize, usize)) -> Result<(), RunError> {
    let first = wait_for_first_frame(links.frames, &links.status, config.timeouts.handshake);
    if links.status.borrow().link == Link::Failed {
        return Ok(());
    }
    let size = first.as_ref().map_or(FALLBACK_SIZE, |f| {
        initial_window_size(f.width as usize, f.height as usize, bounds.0, bounds.1)
    });
    let mut ui = Ui::new(
        &config.target,
        links,
        WheelConvention::for_this_platform(),
        // F9 writes into the working directory.
        PathBuf::new(),
    );
    let mut window = MinifbWindow::open(ui.title(), size)?;
    if let Some(first) = first {
        ui.show(first);
    }
    ui.run(&mut window)
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
