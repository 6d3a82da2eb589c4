//! The picture the window shows, composed from updates: a full frame
//! replaces it, a region update paints its tiles over it (protocol §2.3).
//!
//! A failed update (a JPEG refused or corrupt, a region update for another
//! size than the picture's) leaves no picture: painting later region updates
//! over a picture that missed one would show a wrong screen for good, so
//! only a full frame is taken after a failure. The caller asks the agent
//! for one.
//!
//! The window holds the picture last published, which must not change under
//! it. Copying the whole picture before each paint would cost 8 MB at 1080p
//! (33 MB at 4K) per update, however small; instead the composer keeps the
//! picture published before that one as a spare and, once the window has
//! let go of it, brings it up to date by copying only the rects painted
//! since, and paints there:
//!
//! ```text
//!  publish P1 (window holds it)   spare P0, behind = rects of P1's updates
//!  paint update 2: P0 += behind (from P1), P0 += tiles; publish P0
//!                                 spare P1, behind = rects of update 2
//! ```

use std::sync::Arc;

use lookout_protocol::{FrameMeta, MAX_RECTS, Rect, RegionUpdate, Tile};

use super::{DecodeError, DecodedFrame, FrameBound, decode_jpeg, guarded};
use crate::connection::EncodedFrame;

/// One update as it came off the wire: a full frame or a region update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Replaces the picture.
    Full(EncodedFrame),
    /// Paints over the picture.
    Region(RegionUpdate),
}

impl Update {
    /// Its `frame` message.
    pub fn meta(&self) -> &FrameMeta {
        match self {
            Update::Full(frame) => &frame.meta,
            Update::Region(update) => &update.meta,
        }
    }

    /// Bytes of JPEG it holds.
    pub fn jpeg_len(&self) -> u64 {
        match self {
            Update::Full(frame) => frame.jpeg.len() as u64,
            Update::Region(update) => update.tiles.iter().map(|t| t.jpeg.len() as u64).sum(),
        }
    }

    /// Whether it is a full frame.
    pub fn is_full(&self) -> bool {
        matches!(self, Update::Full(_))
    }
}

/// How a JPEG becomes pixels; [`decode_jpeg`] but for tests.
type Decode<'a> = &'a dyn Fn(&EncodedFrame, FrameBound) -> Result<DecodedFrame, DecodeError>;

/// Most rects the spare may lag behind by before it is dropped: the list
/// stays bounded while the window holds on to the spare, and past a few
/// updates' worth a full copy costs about as much as the replay.
const MAX_BEHIND: usize = 4 * MAX_RECTS;

/// The composed picture, if there is a valid one.
#[derive(Debug, Default)]
pub struct Composer {
    /// Shared with the window once published: painting never touches a
    /// picture someone else holds, so the window never sees a half-painted
    /// one.
    picture: Option<Arc<DecodedFrame>>,
    /// An older picture of the same size to paint the next update in, once
    /// nobody else holds it (see the [module](self) docs).
    spare: Option<Arc<DecodedFrame>>,
    /// Where `spare` differs from `picture`.
    behind: Vec<Rect>,
    /// Their pixels together (overlaps counted twice).
    behind_area: u64,
}

impl Composer {
    /// No picture yet: the first update must be a full frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// The picture after the last update, if it succeeded.
    pub fn picture(&self) -> Option<&Arc<DecodedFrame>> {
        self.picture.as_ref()
    }

    /// Applies `update`, every JPEG checked within `bound` and decoded with
    /// a panic caught. On error the picture is gone until the next full
    /// frame.
    pub fn apply(&mut self, update: &Update, bound: FrameBound) -> Result<(), DecodeError> {
        self.apply_with(update, bound, &decode_jpeg)
    }

    /// [`apply`](Self::apply) with the decode step passed in.
    pub(super) fn apply_with(
        &mut self,
        update: &Update,
        bound: FrameBound,
        decode: Decode<'_>,
    ) -> Result<(), DecodeError> {
        let result = match update {
            Update::Full(frame) => guarded(|| decode(frame, bound)).map(|picture| {
                self.picture = Some(Arc::new(picture));
                // Nothing in common with what came before.
                self.drop_spare();
            }),
            Update::Region(region) => self.paint(region, bound, decode),
        };
        if result.is_err() {
            self.picture = None;
            self.drop_spare();
        }
        result
    }

    fn drop_spare(&mut self) {
        self.spare = None;
        self.behind.clear();
        self.behind_area = 0;
    }

    /// Paints every tile of `update` over the picture.
    fn paint(
        &mut self,
        update: &RegionUpdate,
        bound: FrameBound,
        decode: Decode<'_>,
    ) -> Result<(), DecodeError> {
        let meta = update.meta;
        // Taken: on any error below there is no picture.
        let Some(current) = self.picture.take() else {
            return Err(DecodeError::NoPicture { seq: meta.seq });
        };
        let picture = &current;
        let size = (picture.width, picture.height);
        if (meta.width, meta.height) != size {
            return Err(DecodeError::RegionMismatch {
                seq: meta.seq,
                announced: (meta.width, meta.height),
                picture: size,
            });
        }
        if let Some(tile) = update.tiles.iter().find(|t| !inside(t, size)) {
            return Err(DecodeError::TileOutside {
                seq: meta.seq,
                rect: tile.rect.into(),
            });
        }
        let mut painted = self.private(current);
        // Nobody else holds it now: no copy.
        let picture = Arc::make_mut(&mut painted);
        for tile in &update.tiles {
            let rect = tile.rect;
            // Checked as a frame of the rect's size: its JPEG's own size
            // must be exactly that, within the session's bound.
            let encoded = EncodedFrame {
                meta: FrameMeta {
                    width: rect.width,
                    height: rect.height,
                    ..meta
                },
                jpeg: tile.jpeg.clone(),
            };
            let pixels = guarded(|| decode(&encoded, bound))?.pixels;
            blit(picture, tile, &pixels);
        }
        picture.seq = meta.seq;
        picture.captured_at_us = meta.captured_at_us;
        picture.quality = meta.quality;
        self.fell_behind(update.tiles.iter().map(|t| t.rect), size);
        self.picture = Some(painted);
        Ok(())
    }

    /// `current`, if nobody else holds it; else a picture equal to it that
    /// nobody else holds: the spare brought up to date when it is free,
    /// else a copy. `current` becomes the spare.
    fn private(&mut self, mut current: Arc<DecodedFrame>) -> Arc<DecodedFrame> {
        if Arc::get_mut(&mut current).is_some() {
            return current;
        }
        let behind = std::mem::take(&mut self.behind);
        self.behind_area = 0;
        let free = self.spare.take().and_then(|mut spare| {
            let size = (spare.width, spare.height);
            let usable =
                Arc::get_mut(&mut spare).is_some() && size == (current.width, current.height);
            usable.then_some(spare)
        });
        let fresh = match free {
            Some(mut spare) => {
                let buffer = Arc::make_mut(&mut spare);
                for rect in &behind {
                    copy_rect(&current, buffer, *rect);
                }
                spare
            }
            None => Arc::new(DecodedFrame::clone(&current)),
        };
        self.spare = Some(current);
        fresh
    }

    /// The spare now lacks `rects` too; past [`MAX_BEHIND`] rects or a
    /// picture's worth of pixels it is not worth keeping.
    fn fell_behind(&mut self, rects: impl Iterator<Item = Rect>, (width, height): (u32, u32)) {
        if self.spare.is_none() {
            return;
        }
        for rect in rects {
            self.behind_area += u64::from(rect.width) * u64::from(rect.height);
            self.behind.push(rect);
        }
        if self.behind.len() > MAX_BEHIND
            || self.behind_area >= u64::from(width) * u64::from(height)
        {
            self.drop_spare();
        }
    }
}

/// Copies `rect` (inside both, same size) from `from` to `to`.
fn copy_rect(from: &DecodedFrame, to: &mut DecodedFrame, rect: Rect) {
    let (x, w, stride) = (rect.x as usize, rect.width as usize, from.width as usize);
    for row in rect.y as usize..(rect.y + rect.height) as usize {
        let start = row * stride + x;
        to.pixels[start..start + w].copy_from_slice(&from.pixels[start..start + w]);
    }
}

/// Whether `tile` lies inside a picture of `size`.
fn inside(tile: &Tile, (width, height): (u32, u32)) -> bool {
    let r = tile.rect;
    u64::from(r.x) + u64::from(r.width) <= u64::from(width)
        && u64::from(r.y) + u64::from(r.height) <= u64::from(height)
}

/// Copies a decoded tile (`rect.width` x `rect.height`, checked) into the
/// picture at its place (checked by [`inside`]).
fn blit(picture: &mut DecodedFrame, tile: &Tile, pixels: &[u32]) {
    let r = tile.rect;
    let (x, w, stride) = (r.x as usize, r.width as usize, picture.width as usize);
    for (row, line) in pixels.chunks_exact(w).enumerate() {
        let start = (r.y as usize + row) * stride + x;
        picture.pixels[start..start + w].copy_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use lookout_protocol::Rect;

    use super::*;
    use crate::decode::tests::{encoded, jpeg_of};

    const BOUND: FrameBound = FrameBound::new(256, 256);

    fn full(img: &image::RgbImage, seq: u64) -> Update {
        let mut frame = encoded(jpeg_of(img), img.width(), img.height());
        frame.meta.seq = seq;
        Update::Full(frame)
    }

    fn region(seq: u64, size: (u32, u32), tiles: &[(Rect, &image::RgbImage)]) -> Update {
        Update::Region(RegionUpdate {
            meta: FrameMeta {
                seq,
                width: size.0,
                height: size.1,
                captured_at_us: 77,
                quality: 42,
            },
            tiles: tiles
                .iter()
                .map(|(rect, img)| Tile {
                    rect: *rect,
                    jpeg: jpeg_of(img),
                })
                .collect(),
        })
    }

    fn solid(width: u32, height: u32, rgb: [u8; 3]) -> image::RgbImage {
        image::RgbImage::from_pixel(width, height, image::Rgb(rgb))
    }

    /// The colour at (x, y), within JPEG loss of `rgb`.
    fn assert_near(picture: &DecodedFrame, x: u32, y: u32, rgb: [u8; 3]) {
        let p = picture.pixels[(y * picture.width + x) as usize];
        let [_, r, g, b] = p.to_be_bytes();
        let off = r
            .abs_diff(rgb[0])
            .max(g.abs_diff(rgb[1]))
            .max(b.abs_diff(rgb[2]));
        assert!(off < 12, "({x}, {y}) is {r},{g},{b}, expected {rgb:?}");
    }

    #[test]
    fn tiles_are_painted_at_their_places_and_the_rest_stays() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(64, 32, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let red = solid(16, 8, [240, 10, 10]);
        let blue = solid(8, 16, [10, 10, 240]);
        let update = region(
            2,
            (64, 32),
            &[
                (Rect::new(0, 0, 16, 8), &red),
                (Rect::new(48, 16, 8, 16), &blue),
            ],
        );
        composer.apply(&update, BOUND).unwrap();
        let picture = composer.picture().unwrap();
        assert_eq!(
            (picture.seq, picture.captured_at_us, picture.quality),
            (2, 77, 42)
        );
        assert_near(picture, 0, 0, [240, 10, 10]);
        assert_near(picture, 15, 7, [240, 10, 10]);
        assert_near(picture, 16, 7, [250, 250, 250]);
        assert_near(picture, 15, 8, [250, 250, 250]);
        assert_near(picture, 48, 16, [10, 10, 240]);
        assert_near(picture, 55, 31, [10, 10, 240]);
        assert_near(picture, 47, 20, [250, 250, 250]);
        assert_near(picture, 63, 0, [250, 250, 250]);
    }

    #[test]
    fn a_published_picture_is_never_painted_over() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let shown = Arc::clone(composer.picture().unwrap());
        let red = solid(16, 16, [240, 10, 10]);
        let update = region(2, (32, 16), &[(Rect::new(0, 0, 16, 16), &red)]);
        composer.apply(&update, BOUND).unwrap();
        assert_near(&shown, 0, 0, [250, 250, 250]);
        assert_eq!(shown.seq, 1);
        assert_near(composer.picture().unwrap(), 0, 0, [240, 10, 10]);
    }

    #[test]
    fn painting_never_changes_a_held_picture_and_reuses_the_one_let_go() {
        let mut composer = Composer::new();
        let white = [250, 250, 250];
        composer
            .apply(&full(&solid(64, 32, white), 1), BOUND)
            .unwrap();
        // What the window holds, and its pixels when it got it.
        let mut held: Option<(Arc<DecodedFrame>, Vec<u32>)> = None;
        let mut published = Vec::new();
        let colours = [[240, 10, 10], [10, 240, 10], [10, 10, 240], [240, 240, 10]];
        for (i, colour) in colours.into_iter().enumerate() {
            let tile = solid(16, 16, colour);
            let x = 16 * i as u32;
            let update = region(2 + i as u64, (64, 32), &[(Rect::new(x, 16, 16, 16), &tile)]);
            composer.apply(&update, BOUND).unwrap();
            if let Some((picture, pixels)) = &held {
                assert_eq!(&picture.pixels, pixels, "a held picture changed at {i}");
            }
            let picture = Arc::clone(composer.picture().unwrap());
            published.push(Arc::as_ptr(&picture) as usize);
            // Every tile so far, the rest untouched.
            for (j, colour) in colours.into_iter().enumerate().take(i + 1) {
                assert_near(&picture, 16 * j as u32 + 8, 24, colour);
            }
            assert_near(&picture, 63, 0, white);
            // The window takes the new one and lets go of the old.
            let pixels = picture.pixels.clone();
            held = Some((picture, pixels));
        }
        // From the third update on, the picture let go of is painted.
        assert_eq!(published[2], published[0]);
        assert_eq!(published[3], published[1]);
        assert_ne!(published[0], published[1]);
    }

    #[test]
    fn an_update_for_a_larger_picture_is_refused_and_leaves_no_picture() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let tile = solid(16, 16, [240, 10, 10]);
        // Inside what its own message announces, outside the picture.
        let update = region(2, (64, 32), &[(Rect::new(32, 16, 16, 16), &tile)]);
        let err = composer.apply(&update, BOUND).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::RegionMismatch {
                    seq: 2,
                    announced: (64, 32),
                    picture: (32, 16)
                }
            ),
            "{err}"
        );
        assert!(composer.picture().is_none());
        // Nothing to paint on until a full frame comes.
        let fits = region(3, (32, 16), &[(Rect::new(0, 0, 16, 16), &tile)]);
        let err = composer.apply(&fits, BOUND).unwrap_err();
        assert!(matches!(err, DecodeError::NoPicture { seq: 3 }), "{err}");
        composer
            .apply(&full(&solid(32, 16, [10, 240, 10]), 4), BOUND)
            .unwrap();
        composer.apply(&fits, BOUND).unwrap();
        assert_near(composer.picture().unwrap(), 0, 0, [240, 10, 10]);
        assert_near(composer.picture().unwrap(), 31, 0, [10, 240, 10]);
    }

    #[test]
    fn a_tile_outside_the_picture_is_refused_not_a_panic() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let tile = solid(16, 16, [240, 10, 10]);
        // The pairing refuses this; the composer must not trust it did.
        let update = region(2, (32, 16), &[(Rect::new(24, 8, 16, 16), &tile)]);
        let err = composer.apply(&update, BOUND).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TileOutside {
                    rect: [24, 8, 16, 16],
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_tile_whose_jpeg_is_not_its_rects_size_is_refused() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let big = solid(16, 16, [240, 10, 10]);
        let update = region(2, (32, 16), &[(Rect::new(0, 0, 8, 8), &big)]);
        let err = composer.apply(&update, BOUND).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::SizeMismatch {
                    announced: (8, 8),
                    actual: (16, 16)
                }
            ),
            "{err}"
        );
        assert!(composer.picture().is_none());
    }

    #[test]
    fn a_full_frame_resets_the_picture_whatever_its_size() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let red = solid(16, 16, [240, 10, 10]);
        composer
            .apply(
                &region(2, (32, 16), &[(Rect::new(0, 0, 16, 16), &red)]),
                BOUND,
            )
            .unwrap();
        composer
            .apply(&full(&solid(48, 24, [10, 10, 240]), 3), BOUND)
            .unwrap();
        let picture = composer.picture().unwrap();
        assert_eq!((picture.width, picture.height, picture.seq), (48, 24, 3));
        assert_near(picture, 0, 0, [10, 10, 240]);
    }

    #[test]
    fn after_a_smaller_full_frame_region_updates_paint_the_new_size_and_the_old_size_is_refused() {
        let mut composer = Composer::new();
        let white = [250, 250, 250];
        composer
            .apply(&full(&solid(64, 32, white), 1), BOUND)
            .unwrap();
        let red = solid(16, 16, [240, 10, 10]);
        composer
            .apply(
                &region(2, (64, 32), &[(Rect::new(48, 16, 16, 16), &red)]),
                BOUND,
            )
            .unwrap();
        // The window was made smaller: the agent sends 32x16 from now on,
        // while the window still holds the 64x32 picture.
        let held = Arc::clone(composer.picture().unwrap());
        let blue = [10, 10, 240];
        composer
            .apply(&full(&solid(32, 16, blue), 3), BOUND)
            .unwrap();
        composer
            .apply(
                &region(4, (32, 16), &[(Rect::new(16, 0, 16, 16), &red)]),
                BOUND,
            )
            .unwrap();
        let picture = composer.picture().unwrap();
        assert_eq!((picture.width, picture.height, picture.seq), (32, 16, 4));
        assert_eq!(picture.pixels.len(), 32 * 16);
        assert_near(picture, 0, 0, blue);
        assert_near(picture, 31, 15, [240, 10, 10]);
        assert_eq!(
            (held.width, held.seq),
            (64, 2),
            "the held picture is untouched"
        );
        // A late update for the old size paints nothing.
        let late = region(5, (64, 32), &[(Rect::new(0, 0, 16, 16), &red)]);
        assert!(matches!(
            composer.apply(&late, BOUND),
            Err(DecodeError::RegionMismatch { .. })
        ));
    }

    #[test]
    fn a_decoder_panic_on_a_tile_is_an_error_and_no_picture() {
        let mut composer = Composer::new();
        composer
            .apply(&full(&solid(32, 16, [250, 250, 250]), 1), BOUND)
            .unwrap();
        let tile = solid(16, 16, [240, 10, 10]);
        let update = region(2, (32, 16), &[(Rect::new(0, 0, 16, 16), &tile)]);
        let panics =
            |_: &EncodedFrame, _| -> Result<DecodedFrame, DecodeError> { panic!("a decoder bug") };
        let err = composer.apply_with(&update, BOUND, &panics).unwrap_err();
        assert!(matches!(err, DecodeError::Panicked), "{err}");
        assert!(composer.picture().is_none());
    }
}
