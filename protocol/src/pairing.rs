//! Pairing each `frame` control message with the `HT` images that follow
//! it, without I/O: feed [`ServerFrame`]s in the order they arrived to
//! [`FramePairing::push`] and get complete updates and the other server
//! messages back.
//!
//! ```text
//!  HC frame{seq 7}             ──▶ (held)                   ──▶ Ok(None)
//!  HC pong{id 3}               ──▶ passed through           ──▶ Ok(Some(Message(pong)))
//!  HT <jpeg>                   ──▶ paired with frame 7      ──▶ Ok(Some(Frame(seq 7 + jpeg)))
//!  HC frame{seq 8, rects: 2}   ──▶ (held, 0 of 2)           ──▶ Ok(None)
//!  HT <jpeg>                   ──▶ (held, 1 of 2)           ──▶ Ok(None)
//!  HT <jpeg>                   ──▶ 2 of 2                   ──▶ Ok(Some(Region(seq 8, 2 tiles)))
//!  HT <jpeg>                   ──▶ nothing held             ──▶ Err(ImageWithoutFrame)
//! ```
//!
//! The rules, for every receiver alike:
//!
//! * A full frame is a `frame` message without `rects` and one image; a
//!   region update is a `frame` message with N rects and exactly N images,
//!   in the order of the rects. Only a complete update comes out.
//! * Every `frame` message is checked first ([`check_frame`]): a quality
//!   outside 1..=100 or rects that are empty, too many, outside the frame or
//!   overlapping are an error. So is a region update on a pairing that does
//!   not accept them ([`FramePairing::set_regions`]): a viewer gets region
//!   updates only when it asked for them.
//! * Control messages other than `frame` that arrive while images are
//!   awaited pass through and leave the update held (a conforming server
//!   sends the images right after their `frame` message, but a `pong` in
//!   between costs nothing to tolerate).
//! * An image with no update awaiting it is an error: the receiver cannot
//!   know where it goes, and the stream is out of step. The lookout viewer
//!   drops the connection and reconnects.
//! * A full frame's `frame` message before the previous full frame's image
//!   replaces it, which is handed back as [`Paired::Superseded`] for the
//!   caller to log: the next full frame repaints everything, so nothing is
//!   lost but a frame that never came, and treating it as an error would end
//!   a session over it. A region update cannot be skipped that way: it paints
//!   over the picture the viewer has, so a `frame` message before all its
//!   images came, or a region update announced while a full frame's image is
//!   still awaited, leaves the viewer's picture wrong for good, and is an
//!   error.
//! * A region update's images together may hold at most the bytes one image
//!   may ([`Limits::max_image_len`]): its rects cover at most the frame's
//!   pixels, so its JPEG data is about that of one full frame, plus some 600
//!   bytes of headers per rect (under 1 MiB for [`MAX_RECTS`](crate::MAX_RECTS)),
//!   which the 64 MiB default, sized for an 8K screen, absorbs. Without this
//!   bound N images of up to the per-image limit each could make a viewer
//!   hold N times the limit.

use bytes::Bytes;

use crate::limits::{DEFAULT_MAX_IMAGE_LEN, Limits};
use crate::message::{ServerFrame, ServerMessage};
use crate::region::{InvalidFrame, Rect, check_frame};

/// What a `frame` message announces about the images that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// The server's frame counter; a skipped viewer sees a gap.
    pub seq: u64,
    /// Announced width in pixels (of the whole picture, for a region update).
    pub width: u32,
    /// Announced height in pixels (of the whole picture, for a region update).
    pub height: u32,
    /// Capture time, microseconds since the Unix epoch (server clock).
    pub captured_at_us: u64,
    /// The JPEG quality the server encoded at, 1..=100.
    pub quality: u8,
}

/// A full frame as received: its `frame` announcement and the `HT` JPEG.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The `frame` message.
    pub meta: FrameMeta,
    /// The `HT` payload.
    pub jpeg: Bytes,
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the bytes: an image is megabytes.
        f.debug_struct("EncodedFrame")
            .field("meta", &self.meta)
            .field("jpeg_len", &self.jpeg.len())
            .finish()
    }
}

/// One image of a region update and where it goes.
#[derive(Clone, PartialEq, Eq)]
pub struct Tile {
    /// Where to paint it; the JPEG should be exactly this size.
    pub rect: Rect,
    /// The `HT` payload.
    pub jpeg: Bytes,
}

impl std::fmt::Debug for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tile")
            .field("rect", &self.rect)
            .field("jpeg_len", &self.jpeg.len())
            .finish()
    }
}

/// A complete region update: its `frame` message and one tile per rect, in
/// the message's order. Apply every tile, then present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionUpdate {
    /// The `frame` message (its `width` x `height` is the whole picture).
    pub meta: FrameMeta,
    /// The rects with their images; never empty, never overlapping.
    pub tiles: Vec<Tile>,
}

/// What one [`FramePairing::push`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paired {
    /// A full frame.
    Frame(EncodedFrame),
    /// A complete region update (only with [`FramePairing::set_regions`]).
    Region(RegionUpdate),
    /// A control message other than `frame` (`pong`, `error`, ...), as it
    /// came.
    Message(ServerMessage),
    /// A full frame's `frame` message whose image never came: a newer
    /// full frame's message replaced it.
    Superseded(FrameMeta),
}

/// The server broke a pairing rule (see [`FramePairing`]). The stream is out
/// of step: report it and close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// An `HT` image arrived with no update awaiting it.
    #[error("an image of {len} bytes arrived without a frame message before it")]
    ImageWithoutFrame {
        /// The image's length in bytes.
        len: usize,
    },
    /// A `frame` message announces what no image can match.
    #[error("frame {seq}: {source}")]
    InvalidFrame {
        /// The message's `seq`.
        seq: u64,
        /// What is wrong with it.
        #[source]
        source: InvalidFrame,
    },
    /// A region update came to a receiver that did not ask for them.
    #[error("frame {seq} is a region update, which this viewer did not ask for")]
    RegionsNotRequested {
        /// The message's `seq`.
        seq: u64,
    },
    /// A `frame` message came before a region update had all its images.
    #[error(
        "frame {seq} came after {received} of the {expected} images of region update {interrupted}"
    )]
    UpdateInterrupted {
        /// The new message's `seq`.
        seq: u64,
        /// The `seq` of the update left incomplete.
        interrupted: u64,
        /// Images of it received.
        received: usize,
        /// Images it announced.
        expected: usize,
    },
    /// A region update was announced while a full frame's image was still
    /// awaited: it would paint over a picture the receiver never got.
    #[error("region update {seq} came before the image of frame {missing}")]
    RegionOverMissingFrame {
        /// The region update's `seq`.
        seq: u64,
        /// The `seq` of the full frame whose image never came.
        missing: u64,
    },
    /// A region update's images add up to more than the bound.
    #[error("region update {seq} holds more than {limit} bytes of images")]
    UpdateTooLarge {
        /// The update's `seq`.
        seq: u64,
        /// The bound ([`Limits::max_image_len`]).
        limit: u64,
    },
}

/// A region update whose images are still coming.
#[derive(Debug, Clone)]
struct Partial {
    meta: FrameMeta,
    /// Announced, in order; `tiles` pairs the first `tiles.len()` of them.
    rects: Vec<Rect>,
    tiles: Vec<Tile>,
    /// Bytes of the images received so far.
    len: u64,
}

/// What awaits images.
#[derive(Debug, Clone, Default)]
enum Held {
    #[default]
    Nothing,
    Full(FrameMeta),
    Region(Partial),
}

/// The pairing state of one connection: the update awaiting its images, if
/// any, and what this receiver accepts. Start a new one for every
/// connection.
///
/// A full frame is a `frame` message and one image; a region update a
/// `frame` message with N rects and exactly N images, handed out whole.
/// Every `frame` message is checked ([`check_frame`]). Other control
/// messages pass through, also between an update's images. A full frame's
/// message may supersede an earlier one whose image never came
/// ([`Paired::Superseded`]); nothing may interrupt a region update or come
/// between a full frame's message and a region update, since a region
/// update paints over the picture the receiver already has. A region
/// update's images may hold at most [`Limits::max_image_len`] bytes
/// together.
#[derive(Debug, Clone)]
pub struct FramePairing {
    held: Held,
    regions: bool,
    max_update_len: u64,
}

impl Default for FramePairing {
    fn default() -> Self {
        Self::new()
    }
}

impl FramePairing {
    /// Nothing announced yet; full frames only (a region update is an
    /// error); a region update's images bounded by
    /// [`DEFAULT_MAX_IMAGE_LEN`].
    pub const fn new() -> Self {
        Self {
            held: Held::Nothing,
            regions: false,
            max_update_len: DEFAULT_MAX_IMAGE_LEN,
        }
    }

    /// As [`new`](Self::new), with a region update's images bounded by the
    /// receiver's own image limit.
    pub const fn with_limits(limits: &Limits) -> Self {
        Self {
            held: Held::Nothing,
            regions: false,
            max_update_len: limits.max_image_len,
        }
    }

    /// Whether region updates are accepted from now on: set it when the
    /// viewer asks for `regions` in `start_monitor`.
    pub fn set_regions(&mut self, accept: bool) {
        self.regions = accept;
    }

    /// Takes the next frame from the server. `Ok(None)` means an update is
    /// now held, waiting for (more of) its images.
    pub fn push(&mut self, frame: ServerFrame) -> Result<Option<Paired>, PairingError> {
        match frame {
            ServerFrame::Image(jpeg) => self.image(jpeg),
            ServerFrame::Control(ServerMessage::Frame {
                seq,
                width,
                height,
                captured_at_us,
                quality,
                rects,
            }) => {
                check_frame(width, height, quality, rects.as_deref())
                    .map_err(|source| PairingError::InvalidFrame { seq, source })?;
                let meta = FrameMeta {
                    seq,
                    width,
                    height,
                    captured_at_us,
                    quality,
                };
                self.announce(meta, rects)
            }
            ServerFrame::Control(msg) => Ok(Some(Paired::Message(msg))),
        }
    }

    /// The announcement awaiting its images, if any.
    pub fn pending(&self) -> Option<&FrameMeta> {
        match &self.held {
            Held::Nothing => None,
            Held::Full(meta) | Held::Region(Partial { meta, .. }) => Some(meta),
        }
    }

    /// A checked `frame` message.
    fn announce(
        &mut self,
        meta: FrameMeta,
        rects: Option<Vec<Rect>>,
    ) -> Result<Option<Paired>, PairingError> {
        let seq = meta.seq;
        if let Held::Region(partial) = &self.held {
            return Err(PairingError::UpdateInterrupted {
                seq,
                interrupted: partial.meta.seq,
                received: partial.tiles.len(),
                expected: partial.rects.len(),
            });
        }
        let Some(rects) = rects else {
            let previous = std::mem::replace(&mut self.held, Held::Full(meta));
            return Ok(match previous {
                Held::Full(old) => Some(Paired::Superseded(old)),
                Held::Nothing | Held::Region(_) => None,
            });
        };
        if !self.regions {
            return Err(PairingError::RegionsNotRequested { seq });
        }
        if let Held::Full(missing) = &self.held {
            return Err(PairingError::RegionOverMissingFrame {
                seq,
                missing: missing.seq,
            });
        }
        self.held = Held::Region(Partial {
            meta,
            tiles: Vec::with_capacity(rects.len()),
            rects,
            len: 0,
        });
        Ok(None)
    }

    /// An `HT` image.
    fn image(&mut self, jpeg: Bytes) -> Result<Option<Paired>, PairingError> {
        match std::mem::take(&mut self.held) {
            Held::Nothing => Err(PairingError::ImageWithoutFrame { len: jpeg.len() }),
            Held::Full(meta) => Ok(Some(Paired::Frame(EncodedFrame { meta, jpeg }))),
            Held::Region(mut partial) => {
                let len = u64::try_from(jpeg.len()).unwrap_or(u64::MAX);
                partial.len = partial.len.saturating_add(len);
                if partial.len > self.max_update_len {
                    return Err(PairingError::UpdateTooLarge {
                        seq: partial.meta.seq,
                        limit: self.max_update_len,
                    });
                }
                // `announce` holds a region only with at least one rect, and
                // a complete one is handed out below, so a rect is waiting.
                let Some(&rect) = partial.rects.get(partial.tiles.len()) else {
                    return Err(PairingError::ImageWithoutFrame { len: jpeg.len() });
                };
                partial.tiles.push(Tile { rect, jpeg });
                if partial.tiles.len() < partial.rects.len() {
                    self.held = Held::Region(partial);
                    return Ok(None);
                }
                Ok(Some(Paired::Region(RegionUpdate {
                    meta: partial.meta,
                    tiles: partial.tiles,
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ErrorCode;

    fn announce(seq: u64) -> ServerFrame {
        ServerFrame::Control(ServerMessage::Frame {
            seq,
            width: 640,
            height: 480,
            captured_at_us: 1_000 + seq,
            quality: 75,
            rects: None,
        })
    }

    fn announce_region(seq: u64, rects: &[[u32; 4]]) -> ServerFrame {
        ServerFrame::Control(ServerMessage::Frame {
            seq,
            width: 640,
            height: 480,
            captured_at_us: 1_000 + seq,
            quality: 75,
            rects: Some(rects.iter().map(|&r| Rect::from(r)).collect()),
        })
    }

    fn meta(seq: u64) -> FrameMeta {
        FrameMeta {
            seq,
            width: 640,
            height: 480,
            captured_at_us: 1_000 + seq,
            quality: 75,
        }
    }

    fn image(bytes: &'static [u8]) -> ServerFrame {
        ServerFrame::Image(Bytes::from_static(bytes))
    }

    fn with_regions() -> FramePairing {
        let mut pairing = FramePairing::new();
        pairing.set_regions(true);
        pairing
    }

    #[test]
    fn a_frame_message_and_its_image_make_one_frame() {
        let mut pairing = FramePairing::new();
        assert_eq!(pairing.push(announce(7)), Ok(None));
        assert_eq!(pairing.pending(), Some(&meta(7)));
        assert_eq!(
            pairing.push(image(b"jpeg")),
            Ok(Some(Paired::Frame(EncodedFrame {
                meta: meta(7),
                jpeg: Bytes::from_static(b"jpeg"),
            })))
        );
        assert_eq!(pairing.pending(), None);
    }

    #[test]
    fn an_image_without_a_frame_message_is_an_error() {
        let mut pairing = FramePairing::new();
        assert_eq!(
            pairing.push(image(b"12345")),
            Err(PairingError::ImageWithoutFrame { len: 5 })
        );
        // The announcement is used up by its image: a second image is
        // unannounced too.
        let mut pairing = FramePairing::new();
        pairing.push(announce(1)).unwrap();
        pairing.push(image(b"a")).unwrap();
        assert_eq!(
            pairing.push(image(b"b")),
            Err(PairingError::ImageWithoutFrame { len: 1 })
        );
    }

    #[test]
    fn other_messages_pass_through_and_keep_the_announcement() {
        let mut pairing = FramePairing::new();
        pairing.push(announce(3)).unwrap();
        let pong = ServerMessage::Pong { id: 9 };
        assert_eq!(
            pairing.push(ServerFrame::Control(pong.clone())),
            Ok(Some(Paired::Message(pong)))
        );
        let notice = ServerMessage::Error {
            code: ErrorCode::ControlDisabled,
            message: "view only".into(),
            retry_after: None,
        };
        assert_eq!(
            pairing.push(ServerFrame::Control(notice.clone())),
            Ok(Some(Paired::Message(notice)))
        );
        assert!(matches!(
            pairing.push(image(b"x")),
            Ok(Some(Paired::Frame(EncodedFrame { meta: m, .. }))) if m == meta(3)
        ));
    }

    #[test]
    fn a_second_frame_message_supersedes_the_first_and_takes_the_image() {
        let mut pairing = FramePairing::new();
        pairing.push(announce(1)).unwrap();
        assert_eq!(
            pairing.push(announce(2)),
            Ok(Some(Paired::Superseded(meta(1))))
        );
        assert!(matches!(
            pairing.push(image(b"x")),
            Ok(Some(Paired::Frame(EncodedFrame { meta: m, .. }))) if m == meta(2)
        ));
    }

    #[test]
    fn a_region_update_comes_out_whole_with_its_images_in_rect_order() {
        let mut pairing = with_regions();
        let rects = [[0, 0, 16, 16], [32, 0, 8, 8], [0, 100, 640, 380]];
        assert_eq!(pairing.push(announce_region(4, &rects)), Ok(None));
        assert_eq!(pairing.push(image(b"one")), Ok(None));
        // A pong between the images passes, as between a frame and its image.
        let pong = ServerMessage::Pong { id: 1 };
        assert_eq!(
            pairing.push(ServerFrame::Control(pong.clone())),
            Ok(Some(Paired::Message(pong)))
        );
        assert_eq!(pairing.push(image(b"two")), Ok(None));
        assert_eq!(pairing.pending(), Some(&meta(4)));
        let Ok(Some(Paired::Region(update))) = pairing.push(image(b"three")) else {
            panic!("expected the complete update");
        };
        assert_eq!(update.meta, meta(4));
        let got: Vec<_> = update
            .tiles
            .iter()
            .map(|t| (<[u32; 4]>::from(t.rect), &t.jpeg[..]))
            .collect();
        assert_eq!(
            got,
            [
                (rects[0], &b"one"[..]),
                (rects[1], &b"two"[..]),
                (rects[2], &b"three"[..])
            ]
        );
        assert_eq!(pairing.pending(), None);
        // One image too many is unannounced.
        assert_eq!(
            pairing.push(image(b"four")),
            Err(PairingError::ImageWithoutFrame { len: 4 })
        );
    }

    #[test]
    fn a_region_update_not_asked_for_is_an_error() {
        let mut pairing = FramePairing::new();
        assert_eq!(
            pairing.push(announce_region(5, &[[0, 0, 1, 1]])),
            Err(PairingError::RegionsNotRequested { seq: 5 })
        );
    }

    #[test]
    fn a_frame_message_with_bad_rects_or_quality_is_an_error() {
        let overlapping = announce_region(6, &[[0, 0, 10, 10], [5, 5, 10, 10]]);
        assert!(matches!(
            with_regions().push(overlapping),
            Err(PairingError::InvalidFrame {
                seq: 6,
                source: InvalidFrame::Overlap { .. }
            })
        ));
        let outside = announce_region(6, &[[630, 0, 11, 1]]);
        assert!(matches!(
            with_regions().push(outside),
            Err(PairingError::InvalidFrame {
                source: InvalidFrame::Outside { .. },
                ..
            })
        ));
        assert!(matches!(
            with_regions().push(announce_region(6, &[])),
            Err(PairingError::InvalidFrame {
                source: InvalidFrame::NoRects,
                ..
            })
        ));
        let ServerFrame::Control(ServerMessage::Frame {
            seq,
            width,
            height,
            captured_at_us,
            ..
        }) = announce(8)
        else {
            unreachable!()
        };
        let no_quality = ServerFrame::Control(ServerMessage::Frame {
            seq,
            width,
            height,
            captured_at_us,
            quality: 0,
            rects: None,
        });
        assert!(matches!(
            FramePairing::new().push(no_quality),
            Err(PairingError::InvalidFrame {
                source: InvalidFrame::Quality(0),
                ..
            })
        ));
    }

    #[test]
    fn a_frame_message_inside_a_region_update_is_an_error() {
        for received in 0..2 {
            for next in [announce(9), announce_region(9, &[[0, 0, 1, 1]])] {
                let mut pairing = with_regions();
                pairing
                    .push(announce_region(8, &[[0, 0, 1, 1], [1, 0, 1, 1]]))
                    .unwrap();
                for _ in 0..received {
                    pairing.push(image(b"x")).unwrap();
                }
                assert_eq!(
                    pairing.push(next),
                    Err(PairingError::UpdateInterrupted {
                        seq: 9,
                        interrupted: 8,
                        received,
                        expected: 2
                    })
                );
            }
        }
    }

    #[test]
    fn a_region_update_over_a_missing_full_frame_is_an_error() {
        let mut pairing = with_regions();
        pairing.push(announce(1)).unwrap();
        assert_eq!(
            pairing.push(announce_region(2, &[[0, 0, 1, 1]])),
            Err(PairingError::RegionOverMissingFrame { seq: 2, missing: 1 })
        );
    }

    #[test]
    fn a_region_updates_images_count_against_one_bound_together() {
        let limits = Limits::viewer().with_max_image_len(10);
        let mut pairing = FramePairing::with_limits(&limits);
        pairing.set_regions(true);
        let rects = [[0, 0, 1, 1], [1, 0, 1, 1], [2, 0, 1, 1]];
        // Three images of 4 bytes: each under the limit, together over it.
        pairing.push(announce_region(3, &rects)).unwrap();
        pairing.push(image(b"aaaa")).unwrap();
        pairing.push(image(b"bbbb")).unwrap();
        assert_eq!(
            pairing.push(image(b"cccc")),
            Err(PairingError::UpdateTooLarge { seq: 3, limit: 10 })
        );
        // Exactly the bound is fine.
        let mut pairing = FramePairing::with_limits(&limits);
        pairing.set_regions(true);
        pairing.push(announce_region(4, &rects)).unwrap();
        pairing.push(image(b"aaaa")).unwrap();
        pairing.push(image(b"bbbb")).unwrap();
        assert!(matches!(
            pairing.push(image(b"cc")),
            Ok(Some(Paired::Region(_)))
        ));
    }

    #[test]
    fn debug_output_shows_the_length_not_the_bytes() {
        let frame = EncodedFrame {
            meta: meta(1),
            jpeg: Bytes::from_static(&[0xff; 32]),
        };
        let shown = format!("{frame:?}");
        assert!(shown.contains("jpeg_len: 32"), "{shown}");
        assert!(!shown.contains("255"), "{shown}");
        let tile = Tile {
            rect: Rect::new(0, 0, 1, 1),
            jpeg: Bytes::from_static(&[0xff; 32]),
        };
        let shown = format!("{tile:?}");
        assert!(
            shown.contains("jpeg_len: 32") && !shown.contains("255"),
            "{shown}"
        );
    }
}
