//! What the hub holds for a monitor: the newest captured [`Picture`] and
//! the ways to send it, each encoded at most once and shared by every
//! viewer that sends it:
//!
//! * the **full frame** (`frame` + one `HT`), made by the encode thread
//!   when some viewer takes full frames only, else when first asked for;
//! * the **update** from the frame before (`frame` with `rects` + one `HT`
//!   per rect), made by the encode thread for the viewers that kept up;
//! * **updates from older frames**, for viewers that were skipped: the
//!   tiles changed since the frame they have ([`ChangeLog`]), taken from
//!   this picture, made when first asked for and kept for the next viewer
//!   at the same place ([`OLDER_KEPT`]);
//! * the same for each **rendition** other viewers asked for (a smaller
//!   size, a lower quality: [`crate::rendition`]): the picture scaled once,
//!   then its full frame and updates, each made when first asked for.
//!
//! What is made on demand is made on the runtime's blocking pool, never on
//! the async executor.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::capture::CapturedImage;
use crate::encode::FrameEncoder;
use crate::frame::{EncodedFrame, Encoding, FrameError, encode_update};
use crate::regions::{ChangeLog, Plan, Rect, TileGrid};
use crate::rendition::{MAX_RENDITIONS, Profile};

/// Updates from older frames kept per picture and rendition: one per
/// distinct place that skipped viewers are at, which is rarely more than
/// two or three.
pub const OLDER_KEPT: usize = 8;

/// Renditions other than the native one kept per picture. The hub gives
/// out at most [`MAX_RENDITIONS`] per monitor; a few more are kept while
/// viewers move from one to another.
const RENDITIONS_KEPT: usize = 2 * MAX_RENDITIONS;

/// Updates made for viewers that were behind, by the frame they start from.
type Older = Mutex<Vec<(u64, Arc<EncodedFrame>)>>;

/// The newest scaled picture of each rendition of one stream, by the frame
/// it is of: the next picture of that rendition is this one with only what
/// changed scaled again ([`crate::scale::rescale_parts`]). Shared by the
/// pictures of a stream (the encode thread makes one per stream).
#[derive(Debug, Default)]
pub struct Scales(Mutex<Vec<(Profile, u64, Arc<CapturedImage>)>>);

/// One captured picture of a monitor, with the encodings made so far.
#[derive(Debug)]
pub struct Picture {
    /// Changes whenever the stream starts over (a new size, a new layout):
    /// a viewer's picture from another epoch says nothing about this one.
    pub epoch: u64,
    /// Per-monitor frame counter.
    pub seq: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_at_us: u64,
    /// How it is encoded.
    pub encoding: Encoding,
    /// The pixels.
    pub image: Arc<CapturedImage>,
    /// When each tile last changed, as of this frame.
    pub log: Arc<ChangeLog>,
    /// The full frame, once made.
    full: OnceLock<Arc<EncodedFrame>>,
    /// The update from frame `seq - 1` of the same epoch; `None` for the
    /// epoch's first frame.
    update: Option<Arc<EncodedFrame>>,
    /// Updates from older frames, by the frame they start from.
    older: Older,
    /// The other renditions asked for so far.
    renditions: Mutex<Vec<Arc<Rendition>>>,
    /// Held while something of the native rendition is made, so that
    /// viewers asking at once wait for one encoding instead of making two.
    making: Mutex<()>,
    /// The stream's newest scaled pictures.
    scales: Arc<Scales>,
}

/// One picture in another size or quality than the native one.
#[derive(Debug)]
struct Rendition {
    profile: Profile,
    /// The picture scaled to the profile's size (the same image when only
    /// the quality differs).
    image: OnceLock<Arc<CapturedImage>>,
    full: OnceLock<Arc<EncodedFrame>>,
    /// Updates from older frames, the one before included.
    older: Older,
    /// Held while something of it is made (see [`Picture::making`]).
    making: Mutex<()>,
}

impl Picture {
    /// A picture with the encodings the encode thread made (`full`,
    /// `update`); the others are made when first asked for.
    pub fn new(
        (epoch, seq, captured_at_us): (u64, u64, u64),
        encoding: Encoding,
        image: Arc<CapturedImage>,
        log: Arc<ChangeLog>,
        full: Option<Arc<EncodedFrame>>,
        update: Option<Arc<EncodedFrame>>,
    ) -> Self {
        let cell = OnceLock::new();
        if let Some(full) = full {
            let _ = cell.set(full);
        }
        Self {
            epoch,
            seq,
            captured_at_us,
            encoding,
            image,
            log,
            full: cell,
            update,
            older: Mutex::default(),
            renditions: Mutex::default(),
            making: Mutex::default(),
            scales: Arc::default(),
        }
    }

    /// The same picture, sharing its stream's scaled pictures: a scaled
    /// rendition of it is then the one of an earlier picture with only the
    /// changed parts scaled again.
    pub fn sharing_scales(mut self, scales: Arc<Scales>) -> Self {
        self.scales = scales;
        self
    }

    /// The picture's size.
    pub fn size(&self) -> (u32, u32) {
        (self.image.width, self.image.height)
    }

    /// The rendition the encode thread makes: the picture as captured, at
    /// the agent's quality.
    pub fn native(&self) -> Profile {
        Profile {
            width: self.image.width,
            height: self.image.height,
            quality: self.encoding.quality,
        }
    }

    /// The full frame if it is made already.
    pub fn full_if_made(&self) -> Option<Arc<EncodedFrame>> {
        self.full.get().cloned()
    }

    /// The full frame, made now if need be (blocking: call it off the
    /// executor). Made once, whoever asks first.
    pub fn full(&self) -> Result<Arc<EncodedFrame>, FrameError> {
        self.full_of(&self.full, &self.image, self.encoding.quality)
    }

    /// What a viewer that has frame `have` of this epoch in rendition
    /// `profile` is sent without blocking, if that is made already: the
    /// update from the frame before, a kept update from an older one, or
    /// the full frame.
    pub fn ready_for(&self, have: Option<u64>, profile: Profile) -> Option<Arc<EncodedFrame>> {
        if profile != self.native() {
            let rendition = self.rendition_if_made(profile)?;
            return self.ready_in(have, &rendition.older, &rendition.full, None);
        }
        self.ready_in(have, &self.older, &self.full, self.update.as_ref())
    }

    /// What a viewer that has frame `have` of this epoch (`None`: nothing
    /// of it) in rendition `profile` is sent, made now if need be
    /// (blocking: call it off the executor).
    pub fn for_viewer(
        &self,
        have: Option<u64>,
        profile: Profile,
    ) -> Result<Arc<EncodedFrame>, FrameError> {
        if let Some(ready) = self.ready_for(have, profile) {
            return Ok(ready);
        }
        if profile == self.native() {
            let _making = lock(&self.making);
            // Made by another viewer while this one waited?
            if let Some(ready) = self.ready_for(have, profile) {
                return Ok(ready);
            }
            let Some((have, rects)) = self.rects_since(have) else {
                return self.full();
            };
            return self.update_in(&self.older, &self.image, have, &rects, profile.quality);
        }
        let rendition = self.rendition(profile);
        let _making = lock(&rendition.making);
        if let Some(ready) = self.ready_in(have, &rendition.older, &rendition.full, None) {
            return Ok(ready);
        }
        let image = self.scaled(&rendition)?;
        // What changed in the picture, carried over to the scaled one.
        let scaled = match self.rects_since(have) {
            Some((have, rects)) if (image.width, image.height) != self.size() => {
                let grid = TileGrid::new(image.width, image.height);
                let dirty = crate::scale::scaled_tiles(&rects, self.size(), &grid);
                match crate::regions::plan(&grid, &dirty) {
                    Plan::Rects(rects) => Some((have, rects)),
                    Plan::Full | Plan::Nothing => None,
                }
            }
            other => other,
        };
        match scaled {
            Some((have, rects)) => {
                self.update_in(&rendition.older, &image, have, &rects, profile.quality)
            }
            None => self.full_of(&rendition.full, &image, profile.quality),
        }
    }

    fn ready_in(
        &self,
        have: Option<u64>,
        older: &Older,
        full: &OnceLock<Arc<EncodedFrame>>,
        update: Option<&Arc<EncodedFrame>>,
    ) -> Option<Arc<EncodedFrame>> {
        match have {
            Some(have) if have + 1 == self.seq && update.is_some() => update.cloned(),
            // Whether the full frame would do is for `for_viewer` to find
            // out, off the executor: it looks at every tile.
            Some(have) if have < self.seq => lock(older)
                .iter()
                .find(|(from, _)| *from == have)
                .map(|(_, frame)| Arc::clone(frame)),
            _ => full.get().cloned(),
        }
    }

    /// The rectangles changed since frame `have`, when an update can carry
    /// them (else a full frame is due).
    fn rects_since(&self, have: Option<u64>) -> Option<(u64, Vec<Rect>)> {
        let have = have.filter(|&have| have < self.seq)?;
        match self.plan_since(have) {
            Plan::Rects(rects) => Some((have, rects)),
            Plan::Full | Plan::Nothing => None,
        }
    }

    /// The full frame of `image` at `quality`, made once into `cell`.
    fn full_of(
        &self,
        cell: &OnceLock<Arc<EncodedFrame>>,
        image: &CapturedImage,
        quality: u8,
    ) -> Result<Arc<EncodedFrame>, FrameError> {
        if let Some(full) = cell.get() {
            return Ok(Arc::clone(full));
        }
        let mut encoder = FrameEncoder::with_subsampling(quality, self.encoding.subsampling);
        let jpeg = encoder.encode(image)?;
        let made = Arc::new(EncodedFrame::new(
            self.seq,
            (image.width, image.height),
            self.captured_at_us,
            encoder.quality(),
            jpeg,
        )?);
        // Two viewers may race here; both get the one kept.
        Ok(Arc::clone(cell.get_or_init(|| made)))
    }

    /// The update of `rects` of `image` for viewers at frame `have`, made
    /// now and kept in `older` for the next viewer at the same place.
    fn update_in(
        &self,
        older: &Older,
        image: &CapturedImage,
        have: u64,
        rects: &[Rect],
        quality: u8,
    ) -> Result<Arc<EncodedFrame>, FrameError> {
        let mut encoder = FrameEncoder::with_subsampling(quality, self.encoding.subsampling);
        let made = Arc::new(encode_update(
            &mut encoder,
            image,
            (self.seq, self.captured_at_us),
            rects,
        )?);
        let mut older = lock(older);
        if let Some(kept) = older.iter().find(|(from, _)| *from == have) {
            // Another viewer made it meanwhile: everyone sends the same.
            return Ok(Arc::clone(&kept.1));
        }
        if older.len() >= OLDER_KEPT {
            older.remove(0);
        }
        older.push((have, Arc::clone(&made)));
        Ok(made)
    }

    /// What changed since frame `have`.
    fn plan_since(&self, have: u64) -> Plan {
        crate::regions::plan(self.log.grid(), &self.log.since(have))
    }

    fn rendition_if_made(&self, profile: Profile) -> Option<Arc<Rendition>> {
        lock(&self.renditions)
            .iter()
            .find(|r| r.profile == profile)
            .cloned()
    }

    /// The rendition `profile`, kept for the next viewer while there is
    /// room (the hub bounds how many there are; past [`RENDITIONS_KEPT`]
    /// one is made for this viewer alone).
    fn rendition(&self, profile: Profile) -> Arc<Rendition> {
        let mut renditions = lock(&self.renditions);
        if let Some(kept) = renditions.iter().find(|r| r.profile == profile) {
            return Arc::clone(kept);
        }
        let made = Arc::new(Rendition {
            profile,
            image: OnceLock::new(),
            full: OnceLock::new(),
            older: Mutex::default(),
            making: Mutex::default(),
        });
        if renditions.len() < RENDITIONS_KEPT {
            renditions.push(Arc::clone(&made));
        }
        made
    }

    /// The picture at `rendition`'s size, scaled once.
    fn scaled(&self, rendition: &Rendition) -> Result<Arc<CapturedImage>, FrameError> {
        if let Some(image) = rendition.image.get() {
            return Ok(Arc::clone(image));
        }
        let size = (rendition.profile.width, rendition.profile.height);
        let image = if size == self.size() {
            Arc::clone(&self.image)
        } else {
            self.rescaled(rendition.profile)?
        };
        Ok(Arc::clone(rendition.image.get_or_init(|| image)))
    }

    /// The picture scaled for `profile`: an earlier picture of the stream
    /// scaled for it, with what changed since scaled again; else scaled
    /// whole. Kept as the stream's newest for that profile.
    fn rescaled(&self, profile: Profile) -> Result<Arc<CapturedImage>, FrameError> {
        let size = (profile.width, profile.height);
        let earlier = {
            let mut scales = lock(&self.scales.0);
            scales
                .iter()
                .position(|(p, seq, _)| *p == profile && *seq <= self.seq)
                .map(|i| scales.swap_remove(i))
        };
        let made = match earlier {
            Some((_, seq, earlier)) if seq == self.seq => earlier,
            Some((_, seq, earlier)) => match self.plan_since(seq) {
                Plan::Nothing => earlier,
                Plan::Rects(rects) => {
                    let grid = TileGrid::new(size.0, size.1);
                    let dirty = crate::scale::scaled_tiles(&rects, self.size(), &grid);
                    match crate::regions::plan(&grid, &dirty) {
                        Plan::Rects(parts) => {
                            // Written in place when no other picture holds
                            // it any more (the usual case): no copy.
                            let mut image =
                                Arc::try_unwrap(earlier).unwrap_or_else(|shared| (*shared).clone());
                            crate::scale::rescale_parts(&self.image, &mut image, &parts)?;
                            Arc::new(image)
                        }
                        Plan::Nothing => earlier,
                        Plan::Full => Arc::new(crate::scale::scale(&self.image, size)?),
                    }
                }
                Plan::Full => Arc::new(crate::scale::scale(&self.image, size)?),
            },
            None => Arc::new(crate::scale::scale(&self.image, size)?),
        };
        let mut scales = lock(&self.scales.0);
        if !scales
            .iter()
            .any(|(p, seq, _)| *p == profile && *seq > self.seq)
        {
            scales.retain(|(p, _, _)| *p != profile);
            if scales.len() >= RENDITIONS_KEPT {
                scales.remove(0);
            }
            scales.push((profile, self.seq, Arc::clone(&made)));
        }
        Ok(made)
    }
}

/// A small cache: still consistent after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Subsampling;
    use crate::frame::EncodedFrame;
    use bytes::Bytes;

    fn picture() -> Picture {
        // 64x32: 4x2 tiles. Frame 2 changed tile 0, frame 3 tile 3.
        let grid = TileGrid::new(64, 32);
        let mut log = ChangeLog::new(grid);
        log.record(&[true, false, false, false, false, false, false, false], 2);
        log.record(&[false, false, false, true, false, false, false, false], 3);
        let image = CapturedImage::rgba(64, 32, [10, 200, 10, 255].repeat(64 * 32));
        let encoding = Encoding {
            quality: 75,
            subsampling: Subsampling::Half,
        };
        let update = EncodedFrame::region(
            3,
            (64, 32),
            0,
            75,
            vec![(
                Rect {
                    x: 48,
                    y: 0,
                    width: 16,
                    height: 16,
                },
                Bytes::from_static(b"jpeg"),
            )],
        )
        .unwrap();
        Picture::new(
            (1, 3, 0),
            encoding,
            Arc::new(image),
            Arc::new(log),
            None,
            Some(Arc::new(update)),
        )
    }

    #[test]
    fn each_viewer_gets_what_it_lacks_each_made_once() {
        let picture = picture();
        // Kept up: the update the encode thread made.
        let kept_up = picture.for_viewer(Some(2), picture.native()).unwrap();
        assert!(kept_up.region && kept_up.parts.len() == 3);
        // One frame behind: both changed tiles (one rectangle: the two
        // tiles between them cost less than a second JPEG), made now and
        // then kept.
        let behind = picture.for_viewer(Some(1), picture.native()).unwrap();
        assert!(behind.region);
        assert_eq!(behind.parts.len(), 3, "one rectangle");
        let head = String::from_utf8_lossy(&behind.parts[0]).into_owned();
        assert!(head.contains(r#""rects":[[0,0,64,16]]"#), "{head}");
        let again = picture
            .ready_for(Some(1), picture.native())
            .expect("kept for the next viewer");
        assert!(Arc::ptr_eq(&behind, &again));
        // Nothing of this epoch: the full frame, made once.
        assert!(picture.ready_for(None, picture.native()).is_none());
        let full = picture.for_viewer(None, picture.native()).unwrap();
        assert!(!full.region);
        assert!(Arc::ptr_eq(
            &full,
            &picture.for_viewer(None, picture.native()).unwrap()
        ));
    }

    #[test]
    fn a_smaller_rendition_is_scaled_once_and_its_updates_cover_the_change() {
        let picture = picture();
        let half = Profile {
            width: 48,
            height: 24,
            quality: 50,
        };
        // Nothing of it yet: a full frame of the scaled picture, at its
        // quality, made once for every viewer of that rendition.
        assert!(picture.ready_for(None, half).is_none());
        let full = picture.for_viewer(None, half).unwrap();
        assert!(!full.region);
        assert_eq!((full.width, full.height, full.quality), (48, 24, 50));
        assert!(Arc::ptr_eq(&full, &picture.ready_for(None, half).unwrap()));
        // Kept up to frame 2: tile 3 of the picture (x 48..64, y 0..16)
        // changed, which is x 36..48, y 0..12 at three quarters the size:
        // tile 2 of the smaller grid (3x2 tiles) and no other.
        let update = picture.for_viewer(Some(2), half).unwrap();
        assert!(update.region);
        let head = String::from_utf8_lossy(&update.parts[0]).into_owned();
        assert!(head.contains(r#""rects":[[32,0,16,16]]"#), "{head}");
        assert!(head.contains(r#""quality":50"#), "{head}");
        assert!(Arc::ptr_eq(
            &update,
            &picture.ready_for(Some(2), half).unwrap()
        ));
        // The native rendition is untouched by all this.
        assert!(picture.ready_for(None, picture.native()).is_none());
    }

    #[test]
    fn a_lower_quality_at_full_size_takes_the_same_rectangles() {
        let picture = picture();
        let low = Profile {
            quality: 20,
            ..picture.native()
        };
        let update = picture.for_viewer(Some(2), low).unwrap();
        let head = String::from_utf8_lossy(&update.parts[0]).into_owned();
        assert!(head.contains(r#""rects":[[48,0,16,16]]"#), "{head}");
        assert!(head.contains(r#""quality":20"#), "{head}");
    }

    #[test]
    fn a_scaled_picture_made_from_the_one_before_equals_the_picture_scaled_whole() {
        let grid = TileGrid::new(64, 32);
        let encoding = Encoding {
            quality: 75,
            subsampling: Subsampling::Half,
        };
        let before: Vec<u8> = (0..64 * 32)
            .flat_map(|i: u32| [(i % 251) as u8, (i * 7 % 256) as u8, 90, 255])
            .collect();
        let mut after = before.clone();
        // Tile 3 (x 48..64, y 0..16) changes in frame 2.
        for y in 0..16 {
            for x in 50..60 {
                after[(y * 64 + x) * 4] = 0;
            }
        }
        let mut log = ChangeLog::new(grid);
        log.record(&[true; 8], 1);
        let scales = Arc::new(Scales::default());
        let first = Picture::new(
            (1, 1, 0),
            encoding,
            Arc::new(CapturedImage::rgba(64, 32, before)),
            Arc::new(log.clone()),
            None,
            None,
        )
        .sharing_scales(Arc::clone(&scales));
        log.record(&[false, false, false, true, false, false, false, false], 2);
        let after = Arc::new(CapturedImage::rgba(64, 32, after));
        let second = Picture::new(
            (1, 2, 0),
            encoding,
            Arc::clone(&after),
            Arc::new(log),
            None,
            None,
        )
        .sharing_scales(Arc::clone(&scales));
        let profile = Profile {
            width: 48,
            height: 24,
            quality: 50,
        };
        first.for_viewer(None, profile).unwrap();
        drop(first);
        let made = second.scaled(&second.rendition(profile)).unwrap();
        let whole = crate::scale::scale(&after, (48, 24)).unwrap();
        assert_eq!(made.pixels, whole.pixels);
    }
}
