//! A protocol-level test viewer: connects, logs in, sends commands, reads
//! frames. Every wait is bounded by [`WAIT`].

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{ServerFrame, ViewerCodec};
use lookout_protocol::{
    ChannelBinding, ClientMessage, EncodedFrame, Fingerprint, FrameMeta, FramePairing,
    PROTOCOL_VERSION, Paired, ServerMessage, auth_response,
};
use lookout_viewer::connection::Transport;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

/// Upper bound for any single wait.
pub const WAIT: Duration = Duration::from_secs(5);

/// Where an agent listens and, for a TLS agent, the fingerprint to pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The address.
    pub addr: SocketAddr,
    /// `Some` for TLS pinned to this certificate, `None` for plain TCP.
    pub pin: Option<Fingerprint>,
}

impl From<SocketAddr> for Endpoint {
    /// A plain-TCP agent (`--no-tls`).
    fn from(addr: SocketAddr) -> Self {
        Self { addr, pin: None }
    }
}

/// A protocol-level test viewer.
#[derive(Debug)]
pub struct Client {
    /// The framed connection, for tests that need to go around the helpers.
    pub framed: Framed<Box<dyn Transport>, ViewerCodec>,
    /// This end's channel binding: the TLS exporter, or none on plain TCP.
    pub binding: ChannelBinding,
}

impl Client {
    /// Connects (and runs TLS, pinned, for a TLS endpoint).
    pub async fn connect(endpoint: impl Into<Endpoint>) -> Self {
        let endpoint = endpoint.into();
        let tcp = timeout(WAIT, TcpStream::connect(endpoint.addr))
            .await
            .unwrap()
            .unwrap();
        Self::over(tcp, endpoint).await
    }

    /// Logs in with `token` over a connection whose receive buffer is
    /// `bytes` (set before connecting, so the window stays that small): a
    /// viewer on a slow link, whose agent-side socket fills up as soon as
    /// it stops reading.
    pub async fn welcome_with_receive_buffer(
        endpoint: impl Into<Endpoint>,
        token: &str,
        bytes: u32,
    ) -> (Self, ServerMessage) {
        let endpoint = endpoint.into();
        let socket = if endpoint.addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let tcp = timeout(WAIT, socket.connect(endpoint.addr))
            .await
            .unwrap()
            .unwrap();
        let mut client = Self::over(tcp, endpoint).await;
        let ServerMessage::Hello { challenge, .. } = client.message().await else {
            panic!("expected hello first");
        };
        client.prove(&challenge, token).await;
        let answer = client.message().await;
        assert!(
            matches!(answer, ServerMessage::Welcome { .. }),
            "expected welcome, got {answer:?}"
        );
        (client, answer)
    }

    /// A client over `tcp`, with TLS for a TLS endpoint.
    async fn over(tcp: TcpStream, endpoint: Endpoint) -> Self {
        tcp.set_nodelay(true).unwrap();
        let (stream, binding): (Box<dyn Transport>, _) = match endpoint.pin {
            None => (Box::new(tcp), ChannelBinding::None),
            Some(pin) => {
                let (tls, _) = timeout(WAIT, lookout_viewer::trust::handshake(tcp, Some(pin)))
                    .await
                    .expect("TLS handshake in time")
                    .expect("TLS handshake with the pinned agent");
                let binding = lookout_viewer::connection::channel_binding(&tls).unwrap();
                (Box::new(tls), binding)
            }
        };
        Self {
            framed: Framed::new(stream, ViewerCodec::default()),
            binding,
        }
    }

    /// Connects and authenticates with `token`; returns the server's answer
    /// to the auth (welcome or error).
    pub async fn login(endpoint: impl Into<Endpoint>, token: &str) -> (Self, ServerMessage) {
        let (mut client, challenge) = Self::hello(endpoint).await;
        client.prove(&challenge, token).await;
        let answer = client.message().await;
        (client, answer)
    }

    /// Logs in with `token` and expects `welcome`.
    pub async fn welcome(endpoint: impl Into<Endpoint>, token: &str) -> (Self, ServerMessage) {
        let (client, answer) = Self::login(endpoint, token).await;
        assert!(
            matches!(answer, ServerMessage::Welcome { .. }),
            "expected welcome, got {answer:?}"
        );
        (client, answer)
    }

    pub async fn send(&mut self, msg: ClientMessage) {
        timeout(WAIT, self.framed.send(msg)).await.unwrap().unwrap();
    }

    /// The next frame of any kind, or `None` at EOF / error.
    pub async fn next(&mut self) -> Option<ServerFrame> {
        match timeout(WAIT, self.framed.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(_) => None,
            Err(_) => panic!("nothing from the agent within {WAIT:?}"),
        }
    }

    /// The next control message, skipping nothing: images are an error here.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            Some(ServerFrame::Control(msg)) => msg,
            other => panic!("expected a control message, got {other:?}"),
        }
    }

    /// The next `frame` + `HT` pair, skipping other control messages.
    pub async fn image(&mut self) -> (ServerMessage, Bytes) {
        let mut pairing = FramePairing::new();
        loop {
            let Some(next) = self.next().await else {
                panic!("the agent closed the connection while a frame was awaited");
            };
            match pairing.push(next) {
                Ok(Some(Paired::Frame(EncodedFrame { meta, jpeg }))) => {
                    let FrameMeta {
                        seq,
                        width,
                        height,
                        captured_at_us,
                        quality,
                    } = meta;
                    let msg = ServerMessage::Frame {
                        seq,
                        width,
                        height,
                        captured_at_us,
                        quality,
                        rects: None,
                    };
                    return (msg, jpeg);
                }
                // The pairing refuses region updates: this client never
                // asks for them.
                Ok(Some(Paired::Region(update))) => {
                    panic!("a region update nobody asked for: {update:?}")
                }
                Ok(Some(Paired::Superseded(meta))) => {
                    panic!("frame message {meta:?} not followed by its image")
                }
                // The agent writes a `frame` message and its image back to
                // back: nothing may come between them.
                Ok(Some(Paired::Message(msg))) if pairing.pending().is_some() => {
                    panic!("frame message not followed by an image: {msg:?}")
                }
                Ok(_) => continue,
                Err(err) => panic!("{err}"),
            }
        }
    }

    /// Whether the agent closes the connection within `within` (skipping
    /// whatever it still sends).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Round-trips a ping: proves the connection is alive and everything
    /// sent before it was processed.
    pub async fn ping(&mut self, id: u64) -> Vec<ServerMessage> {
        self.send(ClientMessage::Ping { id }).await;
        let mut before = Vec::new();
        for _ in 0..1000 {
            match self.next().await {
                Some(ServerFrame::Control(ServerMessage::Pong { id: got })) if got == id => {
                    return before;
                }
                Some(ServerFrame::Control(msg)) => before.push(msg),
                Some(ServerFrame::Image(_)) => {}
                None => panic!("connection closed while waiting for pong {id}"),
            }
        }
        panic!("no pong {id} among 1000 frames");
    }
}

/// Decodes a JPEG to RGB8.
pub fn decode(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory(jpeg).unwrap().to_rgb8()
}

/// Handshake steps one at a time, for tests that hold a connection between
/// `hello` and `auth` or send what no viewer would.
impl Client {
    /// Connects and reads `hello`; returns its challenge.
    pub async fn hello(endpoint: impl Into<Endpoint>) -> (Self, lookout_protocol::Challenge) {
        let mut client = Self::connect(endpoint).await;
        let ServerMessage::Hello { challenge, .. } = client.message().await else {
            panic!("expected hello first");
        };
        (client, challenge)
    }

    /// Sends the `auth` for `challenge` with `token`, bound to this
    /// connection, without reading the answer.
    pub async fn prove(&mut self, challenge: &lookout_protocol::Challenge, token: &str) {
        let response = auth_response(token, challenge, &self.binding);
        self.send(ClientMessage::Auth {
            protocol: PROTOCOL_VERSION,
            client: "test".into(),
            response,
        })
        .await;
    }

    /// Sends `payload` as one control (`HC`) frame, whatever it holds.
    pub async fn send_raw(&mut self, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut frame = Vec::with_capacity(10 + payload.len());
        frame.extend_from_slice(b"HC");
        frame.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        frame.extend_from_slice(payload);
        let stream = self.framed.get_mut();
        timeout(WAIT, stream.write_all(&frame))
            .await
            .unwrap()
            .unwrap();
        timeout(WAIT, stream.flush()).await.unwrap().unwrap();
    }
}
