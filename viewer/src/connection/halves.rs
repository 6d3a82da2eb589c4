//! The two halves of an authenticated connection: [`FrameReader`] turns
//! what the agent sends into [`Event`]s (images paired with their `frame`
//! message by [`FramePairing`]), [`CommandWriter`] sends commands.

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::ViewerCodec;
use lookout_protocol::{
    ClientMessage, EncodedFrame, ErrorCode, FramePairing, Paired, ServerMessage,
};
use std::time::Duration;
use tokio::io::{ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{SessionError, Stream};

/// Something the agent said after `welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An image.
    Frame(EncodedFrame),
    /// The answer to a ping.
    Pong(u64),
    /// An error that leaves the connection open (`bad_request`,
    /// `control_disabled`).
    Notice {
        /// The code.
        code: ErrorCode,
        /// The agent's words.
        message: String,
    },
}

/// The reading half: hands each `frame` message and its `HT` image over as
/// one [`Event::Frame`].
#[derive(Debug)]
pub struct FrameReader {
    inner: FramedRead<ReadHalf<Stream>, ViewerCodec>,
    pairing: FramePairing,
    silence: Duration,
}

impl FrameReader {
    /// A reader that gives up after `silence` without a byte.
    pub(super) fn new(inner: FramedRead<ReadHalf<Stream>, ViewerCodec>, silence: Duration) -> Self {
        Self {
            inner,
            pairing: FramePairing::new(),
            silence,
        }
    }

    /// The next event. Fails when the connection ends, breaks the protocol
    /// or stays silent for `timeouts.silence`.
    ///
    /// The limit restarts with every frame read, and an image arriving in
    /// many reads is one frame: a slow link that is still moving bytes is
    /// not silent, so only a dead agent (frozen, unplugged, or behind a dead
    /// link that closed nothing) reaches it. A live agent answers every ping
    /// at once, so with the protocol's values (pings every 5 s, silence
    /// 15 s) that is three unanswered pings.
    pub async fn next_event(&mut self) -> Result<Event, SessionError> {
        loop {
            let next = tokio::time::timeout(self.silence, self.inner.next())
                .await
                .map_err(|_| SessionError::Silent(self.silence))?;
            let frame = match next {
                None => return Err(SessionError::Closed),
                Some(Err(err)) => return Err(SessionError::from_read(err)),
                Some(Ok(frame)) => frame,
            };
            match self.pairing.push(frame)? {
                None => {}
                Some(Paired::Frame(frame)) => return Ok(Event::Frame(frame)),
                Some(Paired::Superseded(meta)) => {
                    tracing::debug!(seq = meta.seq, "frame message without its image");
                }
                Some(Paired::Message(msg)) => return event_of(msg),
            }
        }
    }
}

/// What a control message after `welcome` means for the session.
fn event_of(msg: ServerMessage) -> Result<Event, SessionError> {
    match msg {
        ServerMessage::Pong { id } => Ok(Event::Pong(id)),
        ServerMessage::Error { code, message } => match code {
            ErrorCode::BadRequest | ErrorCode::ControlDisabled => {
                Ok(Event::Notice { code, message })
            }
            code => Err(SessionError::from_server(code, message)),
        },
        other => Err(SessionError::Unexpected {
            expected: "frame, pong or error",
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
