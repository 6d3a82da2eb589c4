//! The encode thread's loop: compares each handed-over image with the one
//! before it, tile by tile, and publishes it to its monitor's slot in the
//! hub with what viewers need, each encoded once: the update from the
//! frame before (the changed rectangles) for viewers that take region
//! updates, and the full frame when some viewer takes full frames only or
//! most of the picture changed. Everything else is made when a viewer
//! first asks for it ([`crate::picture::Picture`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::CaptureSettings;
use super::handoff::{Handoff, Job};
use crate::capture::CapturedImage;
use crate::encode::FrameEncoder;
use crate::frame::{EncodedFrame, Encoding, FrameError, encode_update};
use crate::hub::FrameHub;
use crate::picture::{Picture, Scales};
use crate::regions::{ChangeLog, Plan, TileGrid, plan};
use crate::rendition::Profile;

/// One monitor's stream of pictures of one size and layout.
struct Stream {
    epoch: u64,
    layout: u64,
    grid: TileGrid,
    log: ChangeLog,
    previous: Option<Arc<CapturedImage>>,
    /// Scratch: one flag per tile.
    dirty: Vec<bool>,
    /// The newest scaled pictures of its renditions.
    scales: Arc<Scales>,
}

impl Stream {
    fn new(epoch: u64, layout: u64, image: &CapturedImage) -> Self {
        let grid = TileGrid::new(image.width, image.height);
        Self {
            epoch,
            layout,
            grid,
            log: ChangeLog::new(grid),
            previous: None,
            dirty: vec![false; grid.len()],
            scales: Arc::default(),
        }
    }

    fn fits(&self, job: &Job) -> bool {
        self.layout == job.layout && self.grid.size() == (job.image.width, job.image.height)
    }
}

/// Runs until the handoff stops.
pub(super) fn run(settings: CaptureSettings, handoff: &Handoff, hub: &FrameHub) {
    let mut encoder = FrameEncoder::with_subsampling(settings.quality, settings.subsampling);
    let encoding = Encoding {
        quality: encoder.quality(),
        subsampling: settings.subsampling,
    };
    let mut seqs: HashMap<u32, u64> = HashMap::new();
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut epochs = 0;
    while let Some(job) = handoff.take() {
        // A monitor nobody watches keeps no picture here either.
        streams.retain(|id, _| hub.demand().is_watched(*id));
        let stream = streams.entry(job.monitor).or_insert_with(|| {
            epochs += 1;
            Stream::new(epochs, job.layout, &job.image)
        });
        if !stream.fits(&job) {
            epochs += 1;
            *stream = Stream::new(epochs, job.layout, &job.image);
        }
        let seq = seqs.entry(job.monitor).or_insert(0);
        match encode(&mut encoder, encoding, stream, &job, *seq + 1, hub) {
            Ok(Some(picture)) => {
                *seq += 1;
                hub.publish(job.monitor, job.layout, picture);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(monitor = job.monitor, error = %err, "frame dropped"),
        }
    }
}

/// Makes `job`'s image frame `seq` of `stream`: `None` when it is the same
/// picture as the one before.
fn encode(
    encoder: &mut FrameEncoder,
    encoding: Encoding,
    stream: &mut Stream,
    job: &Job,
    seq: u64,
    hub: &FrameHub,
) -> Result<Option<Picture>, FrameError> {
    let image = &job.image;
    let changes = match &stream.previous {
        None => Plan::Full,
        Some(previous) => {
            stream.dirty.fill(false);
            let (old, new, dirty) = (&previous.pixels, &image.pixels, &mut stream.dirty);
            // Damage since the image this stream has: only there to compare.
            let changed = match job.hint.as_ref().filter(|h| Arc::ptr_eq(&h.base, previous)) {
                Some(hint) => stream.grid.diff_within(old, new, &hint.rects, dirty),
                None => stream.grid.diff(old, new, dirty),
            };
            match changed {
                // The same picture again: nothing to send, unless the hub
                // let its picture go (nobody watched, or the display went
                // away) and a viewer waits for one.
                0 if hub.has_frame(job.monitor) => return Ok(None),
                0 => Plan::Full,
                _ => plan(&stream.grid, &stream.dirty),
            }
        }
    };
    let first = stream.previous.is_none();
    if first {
        stream.dirty.fill(true);
    }
    stream.log.record(&stream.dirty, seq);
    let meta = (seq, job.captured_at_us);
    let native = Profile {
        width: image.width,
        height: image.height,
        quality: encoder.quality(),
    };
    // Made here only for viewers of the native rendition; a monitor
    // watched only in smaller ones (thumbnails) costs no native encode.
    let wants_full = hub.demand().wants_full(job.monitor, native);
    let wants_regions = hub.wants_regions(job.monitor, native);
    let full = if wants_full || (changes == Plan::Full && wants_regions) {
        let jpeg = encoder.encode(image)?;
        Some(Arc::new(EncodedFrame::new(
            seq,
            (image.width, image.height),
            job.captured_at_us,
            encoder.quality(),
            jpeg,
        )?))
    } else {
        None
    };
    let update = match (&changes, first) {
        (_, true) => None,
        // Nobody to send it to: a viewer who asks later gets it made then.
        (Plan::Rects(_), false) if !wants_regions => None,
        (Plan::Rects(rects), false) => Some(Arc::new(encode_update(encoder, image, meta, rects)?)),
        // Most of it changed: the full frame is the update.
        _ => full.clone(),
    };
    stream.previous = Some(Arc::clone(image));
    Ok(Some(
        Picture::new(
            (stream.epoch, seq, job.captured_at_us),
            encoding,
            Arc::clone(image),
            Arc::new(stream.log.clone()),
            full,
            update,
        )
        .sharing_scales(Arc::clone(&stream.scales)),
    ))
}
