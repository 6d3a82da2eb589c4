//! `--snapshot`: connect, take one frame, write it as a PNG, exit. No
//! window, no reconnecting.

use std::num::NonZeroU32;
use std::path::Path;

use lookout_protocol::ClientMessage;

use crate::cli::Config;
use crate::connection::{self, EncodedFrame, Event, SessionError};
use crate::decode::decode_jpeg;
use crate::error::RunError;
use crate::png::write_png;

/// How long without a new frame means the agent's screen is still (the
/// agent sends a frame only when the screen changes).
const STILL_SCREEN: std::time::Duration = std::time::Duration::from_secs(2);

/// Connects and returns the `nth` frame received, waiting at most
/// `config.timeouts.handshake` (`--timeout`) for the connection and
/// for the first frame. When the screen
/// is still, fewer than `nth` frames come: then the newest one is returned.
pub async fn fetch_frame(config: &Config, nth: NonZeroU32) -> Result<EncodedFrame, SessionError> {
    let conn = connection::connect(config.into()).await?;
    // `--timeout`: how long to wait for the agent, here also for a frame.
    let patience = config.timeouts.handshake;
    let (welcome, mut reader, mut writer) = conn.split();
    tracing::debug!(server = %welcome.server, monitor = welcome.monitor, "connected");
    writer.send(&ClientMessage::StartMonitor).await?;
    let mut seen = 0;
    let mut latest: Option<EncodedFrame> = None;
    loop {
        // The agent sends nothing new while the screen is still: once we
        // have a frame, a quiet spell means the newest one is the answer.
        let wait = if latest.is_some() {
            STILL_SCREEN.min(patience)
        } else {
            patience
        };
        let event = match tokio::time::timeout(wait, reader.next_event()).await {
            Ok(event) => event?,
            Err(_) => match latest {
                Some(frame) => {
                    tracing::info!(
                        "the screen is still: taking frame {seen} instead of frame {nth}"
                    );
                    return Ok(frame);
                }
                None => return Err(SessionError::Timeout(patience)),
            },
        };
        match event {
            Event::Frame(frame) => {
                seen += 1;
                if seen >= nth.get() {
                    return Ok(frame);
                }
                latest = Some(frame);
            }
            Event::Pong(_) => {}
            Event::Notice { code, message } => {
                tracing::warn!(?code, "the agent refused a command: {message}");
            }
        }
    }
}

/// `--snapshot`: fetch the frame, decode it, write it to `path`.
pub(crate) fn run(config: &Config, path: &Path, nth: NonZeroU32) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let fetched = runtime.block_on(fetch_frame(config, nth));
    // Closes the connection before the CPU work starts, without waiting
    // for a host name lookup that a timeout cut short.
    runtime.shutdown_background();
    let frame = fetched?;
    let decoded = decode_jpeg(&frame)?;
    write_png(path, &decoded)?;
    tracing::info!(
        seq = decoded.seq,
        "wrote {}x{} frame to {}",
        decoded.width,
        decoded.height,
        path.display()
    );
    Ok(())
}
