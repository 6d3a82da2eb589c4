//! A browser's WebSocket as the byte stream the session code serves: one
//! binary message carries exactly one frame of §1, both ways.
//!
//! ```text
//!  browser ─ WebSocket ─▶ uplink: check one frame per message ─▶ ┐
//!                                                                 duplex pipe ─▶ session::serve_stream
//!  browser ◀ WebSocket ── downlink: cut the stream into frames ◀─ ┘  (DUPLEX_BYTES each way)
//! ```
//!
//! The pipe is small and the downlink sends one frame at a time, awaiting
//! the socket: a browser that reads slowly fills the pipe, and the
//! session's own writer then skips frames exactly as it does for a slow
//! native viewer (its write deadline and heartbeats apply unchanged).

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use hyper_tungstenite::HyperWebsocketStream;
use hyper_tungstenite::tungstenite::{Error as WsError, Message};
use lookout_protocol::{
    ChannelBinding, DEFAULT_MAX_IMAGE_LEN, ErrorCode, FrameDecoder, HEADER_LEN, Limits,
    ServerMessage, Tag,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::WebPlace;
use crate::session::{Shared, UnsentLimit, serve_stream};

/// Bytes the pipe holds each way: a few control messages, or a slice of
/// a picture. The socket, not this pipe, is where a frame waits.
const DUPLEX_BYTES: usize = 64 * 1024;

/// How long a last message and the close may take once the connection is
/// ending anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How much the downlink reads from the session at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a bridge ended.
#[derive(Debug, thiserror::Error)]
enum BridgeError {
    /// Boxed: the WebSocket's error is large, and this type is returned
    /// on every message.
    #[error("WebSocket: {0}")]
    Socket(Box<WsError>),
    #[error("{0}")]
    Protocol(String),
    #[error("session stream: {0}")]
    Pipe(#[from] std::io::Error),
}

impl From<WsError> for BridgeError {
    fn from(err: WsError) -> Self {
        Self::Socket(Box::new(err))
    }
}

/// Runs the session over `ws` until either side ends.
#[allow(clippy::too_many_arguments)] // the session's own inputs, passed on
pub(super) async fn run(
    ws: HyperWebsocketStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    place: WebPlace,
    cancel: CancellationToken,
    deadline: tokio::time::Instant,
    started: Instant,
    unsent: Option<UnsentLimit>,
) {
    let (session_end, bridge_end) = tokio::io::duplex(DUPLEX_BYTES);
    let misbehaved = Misbehaviour {
        shared: Arc::clone(&shared),
        signing_in: Arc::downgrade(&place.signing_in),
    };
    let write_limit = shared.timeouts.write;
    let session = serve_stream(
        session_end,
        ChannelBinding::None,
        peer,
        shared,
        place,
        cancel,
        deadline,
        started,
        unsent,
    );
    let bridge = bridge(ws, bridge_end, peer, write_limit, misbehaved);
    tokio::pin!(session, bridge);
    tokio::select! {
        // The session sees the pipe close and ends by itself (its own
        // deadlines bound that).
        () = &mut bridge => session.await,
        // A browser that reads nothing could keep the bridge in a send
        // for ever: once the session is over, it gets a moment to close.
        () = &mut session => {
            let _ = tokio::time::timeout(CLOSE_GRACE, bridge).await;
        }
    }
}

/// Counts a bad message sent before sign-in against the browser's
/// address, as the session counts a native viewer's garbage during the
/// handshake: the bridge checks messages before the session sees them.
struct Misbehaviour {
    shared: Arc<Shared>,
    /// Alive while the session's token handshake is (its [`WebPlace`]).
    signing_in: Weak<()>,
}

impl Misbehaviour {
    /// Counts it if the sign-in is not over; the block it starts, if any.
    fn count(&self, peer: SocketAddr) -> Option<Duration> {
        self.signing_in.upgrade()?;
        self.shared.auth_failed(peer)
    }
}

/// Moves frames between the socket and the pipe; on a bad message from the
/// browser, says why and closes (only this connection).
async fn bridge<P>(
    ws: HyperWebsocketStream,
    pipe: P,
    peer: SocketAddr,
    write_limit: Duration,
    misbehaved: Misbehaviour,
) where
    P: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let (from_session, mut to_session) = tokio::io::split(pipe);
    let ended = tokio::select! {
        ended = downlink(&mut sink, from_session, write_limit) => ended,
        ended = uplink(&mut stream, &mut to_session) => ended,
    };
    // The session sees the pipe close and ends.
    drop(to_session);
    if let Err(err) = ended {
        tracing::debug!(%peer, error = ?err.to_string(), "browser connection ended");
        if let BridgeError::Protocol(why) = err {
            let mut error = ServerMessage::error(ErrorCode::Protocol, why);
            if let Some(left) = misbehaved.count(peer) {
                error = error.with_retry_after(left);
            }
            let mut buf = BytesMut::new();
            if error.encode(&mut buf).is_ok() {
                let said = sink.send(Message::Binary(buf.freeze()));
                let _ = tokio::time::timeout(CLOSE_GRACE, said).await;
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
}

/// Session to browser: the byte stream cut into frames, one message each.
async fn downlink<W, R>(
    sink: &mut W,
    mut from_session: R,
    write_limit: Duration,
) -> Result<(), BridgeError>
where
    W: futures_util::Sink<Message, Error = WsError> + Unpin,
    R: AsyncRead + Unpin,
{
    let mut buf = BytesMut::new();
    loop {
        while let Some(frame) = next_frame(&mut buf)? {
            // The session's own write deadline, here where the bytes
            // really wait: a browser that stops reading ends its bridge.
            tokio::time::timeout(write_limit, sink.send(Message::Binary(frame)))
                .await
                .map_err(|_| {
                    BridgeError::Pipe(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the browser took nothing for the write deadline",
                    ))
                })??;
        }
        buf.reserve(READ_CHUNK);
        if from_session.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// The next whole frame (header and payload) at the front of `buf`, if it
/// has arrived. The agent wrote it, but its length is checked all the same
/// before the buffer grows for it.
fn next_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, BridgeError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let bad = |why: String| BridgeError::Pipe(std::io::Error::other(why));
    Tag::from_bytes([head[0], head[1]]).map_err(|err| bad(err.to_string()))?;
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[2..HEADER_LEN]);
    let len = u64::from_le_bytes(len);
    if len == 0 || len > DEFAULT_MAX_IMAGE_LEN {
        return Err(bad(format!("frame of {len} bytes from the session")));
    }
    let total = HEADER_LEN + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(buf.split_to(total).freeze()))
}

/// Browser to session: each binary message checked to be exactly one
/// frame a viewer may send, then written to the pipe (which waits while
/// the session is busy: the browser's socket then fills, not memory).
async fn uplink<S, W>(stream: &mut S, to_session: &mut W) -> Result<(), BridgeError>
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Binary(bytes)) => {
                let frame = one_frame(bytes)?;
                to_session.write_all(&frame).await?;
            }
            Ok(Message::Text(_)) => {
                return Err(BridgeError::Protocol(
                    "a text message; frames travel as binary messages".into(),
                ));
            }
            Ok(Message::Close(_)) => return Ok(()),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(WsError::Capacity(err)) => {
                return Err(BridgeError::Protocol(format!("message too large: {err}")));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// `bytes` if it is exactly one frame within a viewer's limits (`HC`
/// only); the WebSocket's own size cap already bounded it.
fn one_frame(bytes: Bytes) -> Result<Bytes, BridgeError> {
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = FrameDecoder::new(Limits::server());
    match decoder.decode(&mut buf) {
        Ok(Some(_)) if buf.is_empty() => Ok(bytes),
        Ok(Some(_)) => Err(BridgeError::Protocol(
            "a message holds more than one frame".into(),
        )),
        Ok(None) => Err(BridgeError::Protocol(
            "a message holds less than its frame's length".into(),
        )),
        Err(err) => Err(BridgeError::Protocol(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: &[u8; 2], payload: &[u8]) -> Vec<u8> {
        let mut out = tag.to_vec();
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_browser_message_must_be_exactly_one_control_frame() {
        let ping = frame(b"HC", br#"{"type":"ping","id":1}"#);
        assert!(one_frame(Bytes::from(ping.clone())).is_ok());
        let mut two = ping.clone();
        two.extend_from_slice(&ping);
        let short = ping[..ping.len() - 1].to_vec();
        let mut lying = ping.clone();
        lying[2] = 200;
        for bad in [
            two,
            short,
            lying,
            frame(b"HT", b"jpeg"),
            frame(b"XX", b"{}"),
            frame(b"HC", b""),
            b"HC".to_vec(),
        ] {
            assert!(
                matches!(
                    one_frame(Bytes::from(bad.clone())),
                    Err(BridgeError::Protocol(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_session_stream_is_cut_into_whole_frames() {
        let a = frame(b"HC", b"{\"type\":\"pong\",\"id\":1}");
        let b = frame(b"HT", &[7u8; 3000]);
        let mut stream = BytesMut::new();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b[..100]);
        assert_eq!(next_frame(&mut stream).unwrap().unwrap(), a);
        assert!(next_frame(&mut stream).unwrap().is_none());
        stream.extend_from_slice(&b[100..]);
        assert_eq!(next_frame(&mut stream).unwrap().unwrap(), b);
        assert!(stream.is_empty());
    }
}
