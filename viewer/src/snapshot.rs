//! `--snapshot`: connect, take one frame, write it as a PNG, exit. No
//! window, no reconnecting.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::{Duration, Instant};

use lookout_protocol::ClientMessage;

use crate::cli::Config;
use crate::connection::{self, EncodedFrame, Event, SessionError};
use crate::decode::{DecodeError, DecodedFrame, FrameBound, Skips, decode_guarded};
use crate::error::RunError;
use crate::png::write_png;

/// How long without a new frame means the agent's screen is still (the
/// agent sends a frame only when the screen changes).
const STILL_SCREEN: Duration = Duration::from_secs(2);

/// Connects and returns the `nth` frame that decodes, waiting at most
/// `config.timeouts.handshake` (`--timeout`) for the connection and for the
/// first good frame. A frame that cannot be decoded (refused as too large,
/// corrupt, or one the decoder panicked on) is skipped and not counted. When
/// the screen is still, fewer than `nth` frames come: then the newest one
/// is returned.
pub async fn fetch_frame(config: &Config, nth: NonZeroU32) -> Result<DecodedFrame, RunError> {
    let conn = connection::connect(config.into()).await?;
    // `--timeout`: how long to wait for the agent, here also for a frame.
    let patience = config.timeouts.handshake;
    let (welcome, mut reader, mut writer) = conn.split();
    tracing::debug!(server = %welcome.server, monitor = welcome.monitor, "connected");
    let mut bound = FrameBound::of_monitors(&welcome.monitors);
    if let Some(choice) = &config.monitor {
        let id = choice
            .resolve(&welcome.monitors)
            .map_err(SessionError::from)?;
        if id != welcome.monitor {
            writer.send(&ClientMessage::SelectMonitor { id }).await?;
        }
    }
    writer.send(&ClientMessage::start_monitor()).await?;
    // Bad frames do not count as frames, so they cannot keep us waiting
    // past `patience` either.
    let first_by = Instant::now() + patience;
    let mut seen = 0;
    let mut latest: Option<DecodedFrame> = None;
    let mut skips = Skips::default();
    let mut last_error: Option<DecodeError> = None;
    loop {
        // The agent sends nothing new while the screen is still: once we
        // have a frame, a quiet spell means the newest one is the answer.
        let wait = if latest.is_some() {
            STILL_SCREEN.min(patience)
        } else {
            first_by.saturating_duration_since(Instant::now())
        };
        let event = match tokio::time::timeout(wait, reader.next_event()).await {
            Ok(event) => event?,
            Err(_) => {
                return match (latest, last_error) {
                    (Some(frame), _) => {
                        tracing::info!(
                            "the screen is still: taking frame {seen} instead of frame {nth}"
                        );
                        Ok(frame)
                    }
                    (None, Some(err)) => Err(err.into()),
                    (None, None) => Err(SessionError::Timeout(patience).into()),
                };
            }
        };
        match event {
            Event::Frame(frame) => match decode_off_runtime(frame, bound).await {
                Ok(decoded) => {
                    seen += 1;
                    if seen >= nth.get() {
                        return Ok(decoded);
                    }
                    latest = Some(decoded);
                }
                Err(err) => {
                    if let Some(line) = skips.skipped(&err, Instant::now()) {
                        tracing::warn!("{line}");
                    }
                    last_error = Some(err);
                }
            },
            Event::Pong(_) => {}
            // A bigger monitor admits bigger frames.
            Event::Monitors(monitors) => bound = FrameBound::of_monitors(&monitors),
            Event::Notice { code, message } => {
                tracing::warn!(?code, "the agent refused a command: {message}");
            }
            Event::Stream { state, reason } => {
                tracing::warn!(?state, "the agent says: {reason}; waiting for a frame");
            }
        }
    }
}

/// Decodes on the runtime's blocking pool: decoding is CPU work, and the
/// connection's reads must not wait behind it.
async fn decode_off_runtime(
    frame: EncodedFrame,
    bound: FrameBound,
) -> Result<DecodedFrame, DecodeError> {
    tokio::task::spawn_blocking(move || decode_guarded(&frame, bound))
        .await
        // decode_guarded catches panics; a join error is a cancelled task.
        .unwrap_or(Err(DecodeError::Panicked))
}

/// `--snapshot`: fetch and decode the frame, write it to `path`.
pub(crate) fn run(config: &Config, path: &Path, nth: NonZeroU32) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let fetched = runtime.block_on(fetch_frame(config, nth));
    // Closes the connection without waiting for a host name lookup that a
    // timeout cut short.
    runtime.shutdown_background();
    let decoded = fetched?;
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
