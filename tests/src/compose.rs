//! A test viewer's picture built from full frames and region updates, as
//! the protocol says a viewer must: each update's tiles painted over the
//! picture in order, so that after any run of updates it equals the screen
//! (up to JPEG loss).

use image::RgbImage;
use lookout_protocol::{FrameMeta, FramePairing, Paired, ServerMessage, StreamSettings};

use crate::client::{Client, decode};

/// What one update was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The `frame` message's fields.
    pub meta: FrameMeta,
    /// `None` for a full frame; the rects of a region update.
    pub rects: Option<Vec<lookout_protocol::Rect>>,
    /// Bytes of JPEG it carried.
    pub jpeg_bytes: usize,
}

/// The picture a viewer that takes region updates has.
#[derive(Debug, Default)]
pub struct Composed {
    /// `None` until the first full frame.
    pub picture: Option<RgbImage>,
    /// The JPEG quality of the last frame applied (the agent lowers it for
    /// a viewer that cannot keep up; a change of it comes with a full
    /// frame).
    pub quality: Option<u8>,
    pairing: Option<FramePairing>,
}

impl Composed {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the picture (after a new `start_monitor`, the next frame is
    /// full).
    pub fn reset(&mut self) {
        self.picture = None;
        self.quality = None;
        self.pairing = None;
    }

    /// Reads `client` until one whole frame or update has arrived and is
    /// applied; other messages are passed to `other`. Panics on a broken
    /// stream or an update before any full frame.
    pub async fn next(
        &mut self,
        client: &mut Client,
        mut other: impl FnMut(ServerMessage),
    ) -> Applied {
        let pairing = self.pairing.get_or_insert_with(|| {
            let mut pairing = FramePairing::new();
            pairing.set_regions(true);
            pairing
        });
        for _ in 0..10_000 {
            let Some(next) = client.next().await else {
                panic!("the agent closed the connection while a frame was awaited");
            };
            let paired = pairing.push(next);
            match paired.expect("a well-formed stream") {
                None => {}
                Some(Paired::Frame(frame)) => {
                    self.picture = Some(decode(&frame.jpeg));
                    self.quality = Some(frame.meta.quality);
                    return Applied {
                        meta: frame.meta,
                        rects: None,
                        jpeg_bytes: frame.jpeg.len(),
                    };
                }
                Some(Paired::Region(update)) => {
                    let picture = self
                        .picture
                        .as_mut()
                        .expect("a region update before any full frame");
                    assert_eq!(
                        picture.dimensions(),
                        (update.meta.width, update.meta.height),
                        "a region update for another size"
                    );
                    let mut jpeg_bytes = 0;
                    let mut rects = Vec::new();
                    for tile in &update.tiles {
                        let image = decode(&tile.jpeg);
                        assert_eq!(image.dimensions(), (tile.rect.width, tile.rect.height));
                        image::imageops::replace(
                            picture,
                            &image,
                            tile.rect.x.into(),
                            tile.rect.y.into(),
                        );
                        jpeg_bytes += tile.jpeg.len();
                        rects.push(tile.rect);
                    }
                    self.quality = Some(update.meta.quality);
                    return Applied {
                        meta: update.meta,
                        rects: Some(rects),
                        jpeg_bytes,
                    };
                }
                Some(Paired::Message(msg)) => other(msg),
                Some(Paired::Superseded(meta)) => panic!("frame {meta:?} without its image"),
            }
        }
        panic!("no frame among 10000 items");
    }
}

/// `start_monitor` asking for region updates.
pub fn with_regions() -> lookout_protocol::ClientMessage {
    lookout_protocol::ClientMessage::StartMonitor(StreamSettings {
        regions: true,
        ..StreamSettings::default()
    })
}
