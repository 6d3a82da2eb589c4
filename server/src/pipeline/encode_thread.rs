//! The encode thread's loop: JPEG-encodes each handed-over image once and
//! publishes it, wire bytes ready, to its monitor's slot in the hub.

use std::collections::HashMap;

use super::CaptureSettings;
use super::handoff::{Handoff, Job};
use crate::encode::{EncodeError, FrameEncoder};
use crate::hub::{EncodedFrame, FrameHub};

/// Runs until the handoff stops.
pub(super) fn run(settings: CaptureSettings, handoff: &Handoff, hub: &FrameHub) {
    let mut encoder = FrameEncoder::with_subsampling(settings.quality, settings.subsampling);
    let mut seqs: HashMap<u32, u64> = HashMap::new();
    while let Some(job) = handoff.take() {
        let seq = seqs.entry(job.monitor).or_insert(0);
        match encode(&mut encoder, &job, *seq + 1) {
            Ok(frame) => {
                *seq += 1;
                hub.publish(job.monitor, job.layout, frame);
            }
            Err(err) => tracing::warn!(monitor = job.monitor, error = %err, "frame dropped"),
        }
    }
}

/// Encodes one job's image as frame `seq`.
fn encode(encoder: &mut FrameEncoder, job: &Job, seq: u64) -> Result<EncodedFrame, FrameError> {
    let jpeg = encoder.encode(&job.image)?;
    let size = (job.image.width, job.image.height);
    let quality = encoder.quality();
    Ok(EncodedFrame::new(
        seq,
        size,
        job.captured_at_us,
        quality,
        jpeg,
    )?)
}

/// Why a captured image did not become a frame.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("frame cannot be sent: {0}")]
    Wire(#[from] lookout_protocol::ProtocolError),
}
