//! `--snapshot`: connect, compose the picture from N updates, write it as
//! a PNG, exit. No window, no reconnecting.
//!
//! Updates are composed one by one as the window's decode thread does
//! ([`Composer`]), so the PNG is what the window would show after the same
//! updates. While one is decoded nothing more is read: the socket holds the
//! rest back, so no queue is needed.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_protocol::ClientMessage;

use crate::cli::Config;
use crate::connection::{self, Event, REGIONS, SessionError};
use crate::decode::{Composer, DecodeError, DecodedFrame, FrameBound, Skips, Update};
use crate::error::RunError;
use crate::png::write_png;
use crate::stream::{self, Offers, PROFILES};

/// How long without a new frame means the agent's screen is still (the
/// agent sends a frame only when the screen changes).
const STILL_SCREEN: Duration = Duration::from_secs(2);

/// Connects and returns the picture composed from the first `nth` updates
/// (full frames or region updates) that decode, waiting at most
/// `config.timeouts.handshake` (`--timeout`) for the connection and for the
/// first good frame. An update that cannot be decoded (refused as too
/// large, corrupt, or one the decoder panicked on) is skipped and not
/// counted; after a region update that could not be painted, region
/// updates are ignored and a full frame is asked for. When the screen is
/// still, fewer than `nth` updates come: then the newest picture is
/// returned.
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
    let offers = Offers {
        profiles: welcome.offers(PROFILES),
        regions: welcome.offers(REGIONS),
    };
    if config.stream.is_set() && !offers.profiles {
        tracing::warn!(
            "the agent does not take stream settings (no `profiles`): \
             --fps, --quality and --max-size have no effect on it"
        );
    }
    // No window: `--max-size` alone is the box.
    let settings = stream::settings(&config.stream, None, offers);
    reader.set_regions(settings.regions);
    writer.send(&ClientMessage::StartMonitor(settings)).await?;
    let mut composer = Composer::new();
    // After a failed region update, until a full frame comes.
    let mut awaiting_full = false;
    // Bad frames do not count as frames, so they cannot keep us waiting
    // past `patience` either.
    let first_by = Instant::now() + patience;
    let mut seen = 0;
    let mut latest: Option<Arc<DecodedFrame>> = None;
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
                        Ok(Arc::unwrap_or_clone(frame))
                    }
                    (None, Some(err)) => Err(err.into()),
                    (None, None) => Err(SessionError::Timeout(patience).into()),
                };
            }
        };
        let update = match event {
            Event::Frame(frame) => Update::Full(frame),
            Event::Region(_) if awaiting_full => continue,
            Event::Region(update) => Update::Region(update),
            Event::Pong(_) => continue,
            // A bigger monitor admits bigger frames.
            Event::Monitors(monitors) => {
                bound = FrameBound::of_monitors(&monitors);
                continue;
            }
            Event::Notice { code, message } => {
                tracing::warn!(?code, "the agent refused a command: {message}");
                continue;
            }
            Event::Stream { state, reason } => {
                tracing::warn!(?state, "the agent says: {reason}; waiting for a frame");
                continue;
            }
        };
        let full = update.is_full();
        let result;
        (composer, result) = compose_off_runtime(composer, update, bound).await;
        match result {
            Ok(()) => {
                awaiting_full = false;
                seen += 1;
                let picture = composer.picture().cloned();
                if seen >= nth.get()
                    && let Some(picture) = picture
                {
                    return Ok(Arc::unwrap_or_clone(picture));
                }
                latest = picture;
            }
            Err(err) => {
                if let Some(line) = skips.skipped(&err, Instant::now()) {
                    tracing::warn!("{line}");
                }
                if !full || settings.regions {
                    // What follows paints over a picture we do not have;
                    // and with region updates, a still screen sends no
                    // other full frame unless asked.
                    awaiting_full = true;
                    writer.send(&ClientMessage::StartMonitor(settings)).await?;
                }
                last_error = Some(err);
            }
        }
    }
}

/// Applies `update` on the runtime's blocking pool: decoding is CPU work,
/// and the connection's reads must not wait behind it. The composer goes
/// there and back.
async fn compose_off_runtime(
    mut composer: Composer,
    update: Update,
    bound: FrameBound,
) -> (Composer, Result<(), DecodeError>) {
    tokio::task::spawn_blocking(move || {
        let result = composer.apply(&update, bound);
        (composer, result)
    })
    .await
    // The composer catches decoder panics; a join error is a cancelled
    // task, and the picture went with it.
    .unwrap_or_else(|_| (Composer::new(), Err(DecodeError::Panicked)))
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
