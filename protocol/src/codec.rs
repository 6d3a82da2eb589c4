//! `tokio_util::codec` adapters over the sans-IO [`FrameDecoder`] and the
//! message encoders, one per side of a connection.
//!
//! ```no_run
//! # async fn demo(socket: tokio::net::TcpStream) {
//! use tokio_util::codec::Framed;
//! use lookout_protocol::codec::ViewerCodec;
//! let framed = Framed::new(socket, ViewerCodec::default());
//! # }
//! ```

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;
use crate::frame::{FrameDecoder, RawFrame, encode_image};
use crate::limits::Limits;
use crate::message::{ClientMessage, ServerMessage};
// Defined without the `codec` feature (the sans-IO pairing needs it); still
// reachable here, where codec users have always found it.
pub use crate::message::ServerFrame;

/// Failure of a framed connection: the peer broke the protocol, or the
/// transport failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The peer broke the protocol (or we tried to send an invalid frame).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Reading or writing the transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
}

/// The server's side: reads [`ClientMessage`]s, writes [`ServerFrame`]s.
#[derive(Debug, Clone)]
pub struct ServerCodec {
    decoder: FrameDecoder,
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self {
            decoder: FrameDecoder::new(Limits::server()),
        }
    }
}

impl Decoder for ServerCodec {
    type Item = ClientMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ClientMessage>, CodecError> {
        match self.decoder.decode(src)? {
            None => Ok(None),
            Some(RawFrame::Control(json)) => Ok(Some(ClientMessage::parse(&json)?)),
            // `Limits::server()` refuses images at the header already.
            Some(RawFrame::Image(_)) => Err(ProtocolError::UnexpectedImage.into()),
        }
    }
}

impl Encoder<ServerFrame> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ServerFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            ServerFrame::Control(msg) => msg.encode(dst)?,
            // Never send an image a default viewer must refuse.
            ServerFrame::Image(jpeg) => encode_image(&jpeg, &Limits::viewer(), dst)?,
        }
        Ok(())
    }
}

/// The viewer's side: reads [`ServerFrame`]s, writes [`ClientMessage`]s.
#[derive(Debug, Clone)]
pub struct ViewerCodec {
    decoder: FrameDecoder,
}

impl ViewerCodec {
    /// A viewer codec with its own limits (for example a lower image ceiling).
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            decoder: FrameDecoder::new(limits),
        }
    }

    /// The limits it enforces (a [`crate::FramePairing`] bounds a region
    /// update's images by the same image limit).
    pub fn limits(&self) -> Limits {
        self.decoder.limits()
    }
}

impl Default for ViewerCodec {
    fn default() -> Self {
        Self::with_limits(Limits::viewer())
    }
}

impl Decoder for ViewerCodec {
    type Item = ServerFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ServerFrame>, CodecError> {
        Ok(match self.decoder.decode(src)? {
            None => None,
            Some(RawFrame::Control(json)) => {
                Some(ServerFrame::Control(ServerMessage::parse(&json)?))
            }
            Some(RawFrame::Image(jpeg)) => Some(ServerFrame::Image(jpeg)),
        })
    }
}

impl Encoder<ClientMessage> for ViewerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ClientMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)?;
        Ok(())
    }
}

impl Encoder<&ClientMessage> for ViewerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &ClientMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)?;
        Ok(())
    }
}
