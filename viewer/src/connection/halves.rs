//! The two halves of an authenticated connection: [`FrameReader`] turns
//! what the agent sends into [`Event`]s (images paired with their `frame`
//! message by [`FramePairing`]), [`CommandWriter`] sends commands.

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{CodecError, ViewerCodec};
use lookout_protocol::{
    ClientMessage, EncodedFrame, ErrorCode, FramePairing, MonitorInfo, Paired, RegionUpdate,
    ServerFrame, ServerMessage, StreamState,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::heard::LastHeard;
use super::{SessionError, Stream};

/// How soon after an `internal` error the connection must close for the
/// session to count as ended by the agent. The agent closes right after
/// sending it; a link that dies later is lost, and is reconnected.
const ENDED_WITHIN: Duration = Duration::from_secs(2);

/// Something the agent said after `welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A full frame.
    Frame(EncodedFrame),
    /// A complete region update (only after [`FrameReader::set_regions`]).
    Region(RegionUpdate),
    /// The answer to a ping.
    Pong(u64),
    /// The agent's monitors changed: the new list.
    Monitors(Vec<MonitorInfo>),
    /// Frames stopped or resume for a reason on the agent's side
    /// (`stream`).
    Stream {
        /// Live, paused or unavailable.
        state: StreamState,
        /// The agent's words, escaped ([`crate::untrusted::shown`]).
        reason: String,
    },
    /// An error that leaves the connection open (`bad_request`,
    /// `control_disabled`), or may (`internal`: when the connection closes
    /// right after it, the session was ended by the agent:
    /// [`SessionError::Ended`]).
    Notice {
        /// The code.
        code: ErrorCode,
        /// The agent's words.
        message: String,
    },
}

/// The reading half: hands each `frame` message and its `HT` image over as
/// one [`Event::Frame`], a region update and its images as one
/// [`Event::Region`].
#[derive(Debug)]
pub struct FrameReader {
    inner: FramedRead<ReadHalf<Stream>, ViewerCodec>,
    pairing: FramePairing,
    silence: Duration,
    heard: Arc<LastHeard>,
    /// The agent's `internal` error, when it is the last thing it said:
    /// the reason, if the connection closes next ([`ENDED_WITHIN`]).
    internal: Option<(String, Instant)>,
}

impl FrameReader {
    /// A reader that gives up after `silence` without a byte, as `heard`
    /// counts them at the socket.
    pub(super) fn new(
        inner: FramedRead<ReadHalf<Stream>, ViewerCodec>,
        silence: Duration,
        heard: Arc<LastHeard>,
    ) -> Self {
        // Full frames only until the viewer asks for `regions`: before, a
        // region update is a protocol error (the pairing refuses it).
        let pairing = FramePairing::with_limits(&inner.decoder().limits());
        Self {
            inner,
            pairing,
            silence,
            heard,
            internal: None,
        }
    }

    /// Accepts region updates from now on (call it before sending a
    /// `start_monitor` that asks for them), or refuses them again.
    pub fn set_regions(&mut self, on: bool) {
        self.pairing.set_regions(on);
    }

    /// The next event. Fails when the connection ends, breaks the protocol
    /// or sends not one byte for `timeouts.silence`.
    ///
    /// Silence is counted in bytes, not frames, as the protocol says: a slow
    /// link that takes longer than the limit to carry one image is still
    /// moving bytes and is not silent, so only a dead agent (frozen,
    /// unplugged, or behind a dead link that closed nothing) reaches it. A
    /// live agent answers every ping at once, so with the protocol's values
    /// (pings every 5 s, silence 15 s) that is three unanswered pings.
    pub async fn next_event(&mut self) -> Result<Event, SessionError> {
        loop {
            let next = self.next_frame().await?;
            let frame = match next {
                None => return Err(self.closed(SessionError::Closed)),
                Some(Err(err)) => return Err(self.closed(SessionError::from_read(err))),
                Some(Ok(frame)) => frame,
            };
            // Anything after an `internal` error means it did not end
            // the session.
            self.internal = None;
            match self.pairing.push(frame)? {
                None => {}
                Some(Paired::Frame(frame)) => return Ok(Event::Frame(frame)),
                Some(Paired::Region(update)) => return Ok(Event::Region(update)),
                Some(Paired::Superseded(meta)) => {
                    tracing::debug!(seq = meta.seq, "frame message without its image");
                }
                Some(Paired::Message(msg)) => {
                    let event = event_of(msg)?;
                    if let Event::Notice {
                        code: ErrorCode::Internal,
                        message,
                    } = &event
                    {
                        self.internal = Some((message.clone(), Instant::now()));
                    }
                    return Ok(event);
                }
            }
        }
    }

    /// How the connection ended: ended by the agent when the last thing it
    /// said was an `internal` error (a kick), else `err`. Only the
    /// connection's end counts, not a broken protocol: an agent cannot turn
    /// garbage into "do not reconnect".
    fn closed(&mut self, err: SessionError) -> SessionError {
        match (self.internal.take(), &err) {
            (Some((message, at)), SessionError::Closed | SessionError::Io(_))
                if at.elapsed() <= ENDED_WITHIN =>
            {
                SessionError::Ended(message)
            }
            _ => err,
        }
    }
}

impl FrameReader {
    /// The next complete frame, however many reads it takes, as long as
    /// bytes keep arriving: the wait ends `silence` after the last byte the
    /// socket received. Dropping `FramedRead::next` when that deadline
    /// moves loses nothing: what was read stays in its buffer.
    async fn next_frame(
        &mut self,
    ) -> Result<Option<Result<ServerFrame, CodecError>>, SessionError> {
        loop {
            let quiet_until = self.heard.get() + self.silence;
            if let Ok(next) = tokio::time::timeout_at(quiet_until.into(), self.inner.next()).await {
                return Ok(next);
            }
            if self.heard.get() + self.silence <= Instant::now() {
                return Err(SessionError::Silent(self.silence));
            }
        }
    }
}

/// What a control message after `welcome` means for the session.
fn event_of(msg: ServerMessage) -> Result<Event, SessionError> {
    match msg {
        ServerMessage::Pong { id } => Ok(Event::Pong(id)),
        ServerMessage::Monitors { monitors } => Ok(Event::Monitors(monitors)),
        ServerMessage::Stream { state, reason } => Ok(Event::Stream {
            state,
            reason: crate::untrusted::shown(&reason),
        }),
        ServerMessage::Error { code, message, .. } => match code {
            // `internal` does not say whether the connection stays open
            // (§2.4): the agent's "input is unavailable" keeps it, a kick
            // closes it right after.
            ErrorCode::BadRequest | ErrorCode::ControlDisabled | ErrorCode::Internal => {
                Ok(Event::Notice {
                    code,
                    message: crate::untrusted::shown(&message),
                })
            }
            code => Err(SessionError::from_server(code, message)),
        },
        other => Err(SessionError::Unexpected {
            expected: "frame, monitors, stream, pong or error",
            got: other.kind(),
        }),
    }
}

/// The writing half.
#[derive(Debug)]
pub struct CommandWriter {
    inner: FramedWrite<WriteHalf<Stream>, ViewerCodec>,
}

impl CommandWriter {
    pub(super) fn new(inner: FramedWrite<WriteHalf<Stream>, ViewerCodec>) -> Self {
        Self { inner }
    }

    /// Sends one command and flushes it.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), SessionError> {
        self.inner.send(msg).await.map_err(SessionError::from_write)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use lookout_protocol::{Limits, encode_image};
    use tokio::io::AsyncWriteExt;

    use lookout_protocol::PairingError;

    use super::super::heard::Heard;
    use super::*;

    const SILENCE: Duration = Duration::from_millis(800);

    /// A reader over one end of an in-memory pipe; the other end is the
    /// agent.
    fn reader() -> (FrameReader, tokio::io::DuplexStream) {
        let (ours, agent) = tokio::io::duplex(1 << 20);
        let heard = LastHeard::new();
        let stream: Stream = Box::new(Heard::new(ours, Arc::clone(&heard)));
        let (read, _write) = tokio::io::split(stream);
        let reader = FrameReader::new(
            FramedRead::new(read, ViewerCodec::default()),
            SILENCE,
            heard,
        );
        (reader, agent)
    }

    /// A `frame` message and its image, as the agent writes them.
    fn frame_bytes(jpeg: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        ServerMessage::Frame {
            seq: 1,
            width: 2,
            height: 2,
            captured_at_us: 0,
            quality: 75,
            rects: None,
        }
        .encode(&mut buf)
        .unwrap();
        encode_image(jpeg, &Limits::viewer(), &mut buf).unwrap();
        buf.to_vec()
    }

    fn message_bytes(msg: &ServerMessage) -> Vec<u8> {
        let mut buf = BytesMut::new();
        msg.encode(&mut buf).unwrap();
        buf.to_vec()
    }

    fn internal(message: &str) -> Vec<u8> {
        message_bytes(&ServerMessage::error(ErrorCode::Internal, message))
    }

    #[tokio::test]
    async fn an_internal_error_then_the_close_is_the_agent_ending_the_session() {
        let (mut reader, mut agent) = reader();
        agent.write_all(&internal("class is over")).await.unwrap();
        drop(agent);
        let notice = reader.next_event().await.expect("the error, as a notice");
        assert!(matches!(
            notice,
            Event::Notice {
                code: ErrorCode::Internal,
                ..
            }
        ));
        let end = reader.next_event().await.unwrap_err();
        assert!(
            matches!(&end, SessionError::Ended(m) if m == "class is over"),
            "{end:?}"
        );
        assert!(end.is_fatal(), "a kicked viewer must not reconnect");
    }

    #[tokio::test]
    async fn an_internal_error_on_a_connection_that_goes_on_is_only_a_notice() {
        let (mut reader, mut agent) = reader();
        agent
            .write_all(&internal("input is unavailable"))
            .await
            .unwrap();
        agent
            .write_all(&message_bytes(&ServerMessage::Pong { id: 7 }))
            .await
            .unwrap();
        drop(agent);
        reader.next_event().await.expect("the notice");
        assert_eq!(reader.next_event().await.unwrap(), Event::Pong(7));
        // Lost later: an ordinary loss, reconnected.
        let end = reader.next_event().await.unwrap_err();
        assert!(matches!(end, SessionError::Closed), "{end:?}");
        assert!(!end.is_fatal());
    }

    #[tokio::test]
    async fn a_close_long_after_an_internal_error_is_an_ordinary_loss() {
        let (mut reader, mut agent) = reader();
        agent
            .write_all(&internal("input is unavailable"))
            .await
            .unwrap();
        reader.next_event().await.expect("the notice");
        tokio::time::sleep(ENDED_WITHIN + Duration::from_millis(100)).await;
        drop(agent);
        let end = reader.next_event().await.unwrap_err();
        assert!(matches!(end, SessionError::Closed), "{end:?}");
    }

    #[tokio::test]
    async fn an_image_slower_than_the_silence_limit_is_not_silence() {
        let (mut reader, mut agent) = reader();
        let bytes = frame_bytes(&[0xAB; 64]);
        let trickle = tokio::spawn(async move {
            // About three times the limit, a few bytes at a time.
            for chunk in bytes.chunks(2) {
                agent.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            agent
        });
        let started = Instant::now();
        let event = reader.next_event().await.expect("the trickled frame");
        assert!(
            started.elapsed() > SILENCE,
            "the frame came too fast to prove anything"
        );
        let Event::Frame(frame) = event else {
            panic!("expected a frame, got {event:?}");
        };
        assert_eq!(frame.jpeg.len(), 64);
        drop(trickle.await.unwrap());
    }

    #[tokio::test]
    async fn an_agent_that_sends_nothing_is_silent_after_the_limit() {
        let (mut reader, _agent) = reader();
        let started = Instant::now();
        let err = reader.next_event().await.unwrap_err();
        assert!(matches!(err, SessionError::Silent(_)), "{err}");
        let took = started.elapsed();
        assert!(
            took >= SILENCE && took < SILENCE * 3,
            "silent after {took:?}"
        );
    }

    #[tokio::test]
    async fn a_frame_that_stops_halfway_is_silence() {
        let (mut reader, mut agent) = reader();
        let bytes = frame_bytes(&[0xAB; 64]);
        agent.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
        let started = Instant::now();
        let err = reader.next_event().await.unwrap_err();
        assert!(matches!(err, SessionError::Silent(_)), "{err}");
        assert!(
            started.elapsed() < SILENCE * 3,
            "silent after {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_region_update_asked_for_comes_out_whole() {
        let (mut reader, mut agent) = reader();
        reader.set_regions(true);
        let mut buf = BytesMut::new();
        ServerMessage::Frame {
            seq: 4,
            width: 2,
            height: 2,
            captured_at_us: 0,
            quality: 60,
            rects: Some(vec![
                lookout_protocol::Rect::new(0, 0, 1, 1),
                lookout_protocol::Rect::new(1, 1, 1, 1),
            ]),
        }
        .encode(&mut buf)
        .unwrap();
        encode_image(&[0xAB; 8], &Limits::viewer(), &mut buf).unwrap();
        encode_image(&[0xCD; 9], &Limits::viewer(), &mut buf).unwrap();
        agent.write_all(&buf).await.unwrap();
        let event = reader.next_event().await.unwrap();
        let Event::Region(update) = event else {
            panic!("expected a region update, got {event:?}");
        };
        assert_eq!((update.meta.seq, update.meta.quality), (4, 60));
        let lens: Vec<_> = update.tiles.iter().map(|t| t.jpeg.len()).collect();
        assert_eq!(lens, [8, 9]);
    }

    #[tokio::test]
    async fn a_region_update_it_did_not_ask_for_ends_the_session() {
        let (mut reader, mut agent) = reader();
        let mut buf = BytesMut::new();
        ServerMessage::Frame {
            seq: 4,
            width: 2,
            height: 2,
            captured_at_us: 0,
            quality: 75,
            rects: Some(vec![lookout_protocol::Rect::new(0, 0, 1, 1)]),
        }
        .encode(&mut buf)
        .unwrap();
        encode_image(&[0xAB; 8], &Limits::viewer(), &mut buf).unwrap();
        agent.write_all(&buf).await.unwrap();
        let err = reader.next_event().await.unwrap_err();
        assert!(
            matches!(
                err,
                SessionError::Pairing(PairingError::RegionsNotRequested { seq: 4 })
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the agent broke the protocol: frame 4 is a region update, which this viewer did not ask for"
        );
    }
}
