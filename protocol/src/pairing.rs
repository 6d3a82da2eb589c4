//! Pairing each `frame` control message with the `HT` image that follows
//! it, without I/O: feed [`ServerFrame`]s in the order they arrived to
//! [`FramePairing::push`] and get complete [`EncodedFrame`]s and the other
//! server messages back.
//!
//! ```text
//!  HC frame{seq 7} ──push──▶ (held)                    ──▶ Ok(None)
//!  HC pong{id 3}   ──push──▶ passed through            ──▶ Ok(Some(Message(pong)))
//!  HT <jpeg>       ──push──▶ paired with the held meta ──▶ Ok(Some(Frame(seq 7 + jpeg)))
//!  HT <jpeg>       ──push──▶ nothing held              ──▶ Err(ImageWithoutFrame)
//! ```
//!
//! The rules, for every receiver alike:
//!
//! * An image pairs with the latest `frame` message not yet paired. Other
//!   control messages between the two pass through and leave the
//!   announcement held (a conforming server sends the image right after its
//!   `frame` message, but a `pong` in between costs nothing to tolerate).
//! * An image with no announcement held is an error: the receiver cannot
//!   know its sequence number or capture time, and the stream is out of
//!   step. The lookout viewer drops the connection and reconnects.
//! * A second `frame` message before the first one's image replaces the
//!   first, which is handed back as [`Paired::Superseded`] for the caller to
//!   log. Only the newest announcement can belong to the next image, and
//!   treating this as an error would end a session over a frame that never
//!   came.

use bytes::Bytes;

use crate::message::{ServerFrame, ServerMessage};

/// What a `frame` message announces about the image that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// The server's frame counter; a skipped viewer sees a gap.
    pub seq: u64,
    /// Announced width in pixels.
    pub width: u32,
    /// Announced height in pixels.
    pub height: u32,
    /// Capture time, microseconds since the Unix epoch (server clock).
    pub captured_at_us: u64,
}

/// An image as received: its `frame` announcement and the `HT` JPEG.
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

/// What one [`FramePairing::push`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paired {
    /// An image with its announcement.
    Frame(EncodedFrame),
    /// A control message other than `frame` (`pong`, `error`, ...), as it
    /// came.
    Message(ServerMessage),
    /// A `frame` message whose image never came: a newer `frame` message
    /// replaced it.
    Superseded(FrameMeta),
}

/// An `HT` image arrived with no `frame` message before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an image of {len} bytes arrived without a frame message before it")]
pub struct ImageWithoutFrame {
    /// The image's length in bytes.
    pub len: usize,
}

/// The pairing state of one connection: the announcement waiting for its
/// image, if any. Start a new one for every connection.
#[derive(Debug, Clone, Default)]
pub struct FramePairing {
    pending: Option<FrameMeta>,
}

impl FramePairing {
    /// Nothing announced yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next frame from the server. `Ok(None)` means a `frame`
    /// message is now held, waiting for its image.
    pub fn push(&mut self, frame: ServerFrame) -> Result<Option<Paired>, ImageWithoutFrame> {
        match frame {
            ServerFrame::Image(jpeg) => match self.pending.take() {
                Some(meta) => Ok(Some(Paired::Frame(EncodedFrame { meta, jpeg }))),
                None => Err(ImageWithoutFrame { len: jpeg.len() }),
            },
            ServerFrame::Control(ServerMessage::Frame {
                seq,
                width,
                height,
                captured_at_us,
            }) => {
                let meta = FrameMeta {
                    seq,
                    width,
                    height,
                    captured_at_us,
                };
                Ok(self.pending.replace(meta).map(Paired::Superseded))
            }
            ServerFrame::Control(msg) => Ok(Some(Paired::Message(msg))),
        }
    }

    /// The announcement waiting for its image, if any.
    pub fn pending(&self) -> Option<&FrameMeta> {
        self.pending.as_ref()
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
        })
    }

    fn meta(seq: u64) -> FrameMeta {
        FrameMeta {
            seq,
            width: 640,
            height: 480,
            captured_at_us: 1_000 + seq,
        }
    }

    fn image(bytes: &'static [u8]) -> ServerFrame {
        ServerFrame::Image(Bytes::from_static(bytes))
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
            Err(ImageWithoutFrame { len: 5 })
        );
        // The announcement is used up by its image: a second image is
        // unannounced too.
        pairing.push(announce(1)).unwrap();
        pairing.push(image(b"a")).unwrap();
        assert_eq!(pairing.push(image(b"b")), Err(ImageWithoutFrame { len: 1 }));
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
    fn debug_output_shows_the_length_not_the_bytes() {
        let frame = EncodedFrame {
            meta: meta(1),
            jpeg: Bytes::from_static(&[0xff; 32]),
        };
        let shown = format!("{frame:?}");
        assert!(shown.contains("jpeg_len: 32"), "{shown}");
        assert!(!shown.contains("255"), "{shown}");
    }
}
