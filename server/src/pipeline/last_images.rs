//! The capture thread's last image of each monitor, and a spare buffer to
//! capture the next one into.
//!
//! A source that reports damage captures a small change by copying the
//! last image and reading only the damaged part anew. The last image is
//! shared with the hub's picture (an `Arc` the viewers read), so it is
//! never written to; but copying all of it for every typed key would cost
//! more than the rest of the frame (8 MB a 1920x1080 frame). So the image
//! before it is kept as a spare: once nobody else holds it (the hub and
//! the encoder have moved on), it is brought up to date by copying only the
//! rectangles where the two differ, and captured into.
//!
//! ```text
//!   spare (N-2) ──copy `behind` from N-1──▶ canvas ──source reads damage──▶ N
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use crate::capture::CapturedImage;
use crate::regions::Rect;

/// The last image handed to the encoder per monitor, with its spare.
#[derive(Debug, Default)]
pub(super) struct LastImages {
    by_monitor: HashMap<u32, Last>,
}

#[derive(Debug)]
struct Last {
    image: Arc<CapturedImage>,
    spare: Option<Spare>,
}

/// An older image of the monitor and where it differs from the last one.
#[derive(Debug)]
struct Spare {
    image: Arc<CapturedImage>,
    /// Outside these rectangles, the spare equals the last image.
    behind: Vec<Rect>,
}

impl LastImages {
    /// Monitor `id`'s last image.
    pub(super) fn get(&self, id: u32) -> Option<&Arc<CapturedImage>> {
        self.by_monitor.get(&id).map(|last| &last.image)
    }

    /// Forgets monitor `id`.
    pub(super) fn remove(&mut self, id: u32) {
        self.by_monitor.remove(&id);
    }

    /// Forgets every monitor.
    pub(super) fn clear(&mut self) {
        self.by_monitor.clear();
    }

    /// An image equal to monitor `id`'s last one, to capture the next one
    /// into: the spare brought up to date when nobody else holds it any
    /// more, else a copy. `None` when there is no last image.
    pub(super) fn canvas(&mut self, id: u32) -> Option<CapturedImage> {
        let last = self.by_monitor.get_mut(&id)?;
        if let Some(spare) = last.spare.take()
            && let Ok(mut canvas) = Arc::try_unwrap(spare.image)
            && same_shape(&canvas, &last.image)
        {
            copy_within(&mut canvas, &last.image, &spare.behind);
            return Some(canvas);
        }
        Some(CapturedImage::clone(&last.image))
    }

    /// `image` is monitor `id`'s new last image; `changed` says where it
    /// differs from the one before (`None`: anywhere), which becomes the
    /// spare.
    pub(super) fn replace(&mut self, id: u32, image: Arc<CapturedImage>, changed: Option<&[Rect]>) {
        let before = self.by_monitor.remove(&id).map(|last| last.image);
        let spare = before.zip(changed).map(|(before, changed)| Spare {
            image: before,
            behind: changed.to_vec(),
        });
        self.by_monitor.insert(id, Last { image, spare });
    }

    /// `image`, a capture of monitor `id` equal to its last image, was not
    /// handed over: its buffer is the spare now.
    pub(super) fn keep_spare(&mut self, id: u32, image: CapturedImage) {
        if let Some(last) = self.by_monitor.get_mut(&id) {
            last.spare = Some(Spare {
                image: Arc::new(image),
                behind: Vec::new(),
            });
        }
    }
}

fn same_shape(a: &CapturedImage, b: &CapturedImage) -> bool {
    (a.width, a.height, a.order) == (b.width, b.height, b.order)
}

/// Copies `rects` of `from` into `to`, two images of the same shape.
fn copy_within(to: &mut CapturedImage, from: &CapturedImage, rects: &[Rect]) {
    let stride = from.width as usize * 4;
    for rect in rects {
        let rect = rect.clip(from.width, from.height);
        for y in rect.y..rect.y + rect.height {
            let start = y as usize * stride + rect.x as usize * 4;
            let end = start + rect.width as usize * 4;
            to.pixels[start..end].copy_from_slice(&from.pixels[start..end]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(fill: u8) -> CapturedImage {
        CapturedImage::rgba(4, 3, vec![fill; 4 * 3 * 4])
    }

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// `base` with the pixels of `rect` set to `fill`.
    fn painted(base: &CapturedImage, r: Rect, fill: u8) -> CapturedImage {
        let mut out = base.clone();
        let patch = CapturedImage::rgba(4, 3, vec![fill; 4 * 3 * 4]);
        copy_within(&mut out, &patch, &[r]);
        out
    }

    #[test]
    fn the_canvas_equals_the_last_image_whichever_buffer_it_reuses() {
        let mut last = LastImages::default();
        assert!(last.canvas(0).is_none(), "nothing captured yet");
        let first = image(1);
        last.replace(0, Arc::new(first.clone()), None);
        assert_eq!(last.canvas(0).unwrap(), first, "a copy: no spare yet");
        // Frame 2 changed one rectangle, frame 3 another.
        let second = painted(&first, rect(1, 1, 2, 1), 2);
        last.replace(0, Arc::new(second.clone()), Some(&[rect(1, 1, 2, 1)]));
        let third = painted(&second, rect(0, 2, 1, 1), 3);
        last.replace(0, Arc::new(third.clone()), Some(&[rect(0, 2, 1, 1)]));
        // The spare (frame 2) is brought up to frame 3.
        assert_eq!(last.canvas(0).unwrap(), third);
    }

    #[test]
    fn a_spare_someone_still_holds_is_never_written_to() {
        let mut last = LastImages::default();
        let first = Arc::new(image(1));
        last.replace(0, Arc::clone(&first), None);
        let second = painted(&first, rect(0, 0, 4, 3), 2);
        last.replace(0, Arc::new(second.clone()), Some(&[rect(0, 0, 4, 3)]));
        // `first` is the spare, and a viewer's picture still holds it.
        let canvas = last.canvas(0).unwrap();
        assert_eq!(canvas, second);
        assert_eq!(*first, image(1), "the shared image kept its pixels");
    }

    #[test]
    fn a_capture_equal_to_the_last_image_becomes_the_spare() {
        let mut last = LastImages::default();
        last.replace(0, Arc::new(image(1)), None);
        let again = image(1);
        let at = again.pixels.as_ptr();
        last.keep_spare(0, again);
        let canvas = last.canvas(0).unwrap();
        assert_eq!(canvas, image(1));
        assert_eq!(canvas.pixels.as_ptr(), at, "the buffer is reused");
        last.remove(0);
        assert!(last.get(0).is_none());
    }
}
