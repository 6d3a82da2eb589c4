//! What the browser-transport tests share: TLS to the agent with a chosen
//! ALPN (any certificate: these tests are about the transport, not the
//! identity), a WebSocket client on it, and raw HTTP/1.1 requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::{ClientMessage, FrameDecoder, Limits, RawFrame, ServerMessage};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A browser's WebSocket to the agent.
pub(crate) type Socket = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

/// Accepts whatever certificate the agent presents.
#[derive(Debug)]
pub(crate) struct AnyCertificate(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS to `addr` offering `alpn`.
pub(crate) async fn tls(addr: SocketAddr, alpn: &[&[u8]]) -> std::io::Result<TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("lookout-server").unwrap();
    tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

/// One HTTP/1.1 request (`Connection: close`); the whole response as text
/// (status line and headers lowercased).
pub(crate) async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = tls(addr, &[b"http/1.1"]).await.unwrap();
    let host = format!("127.0.0.1:{}", addr.port());
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// A WebSocket to `/ws` with `origin` (the page's own when `None`); the
/// refusal's status otherwise.
pub(crate) async fn websocket(addr: SocketAddr, origin: Option<&str>) -> Result<Socket, u16> {
    let stream = tls(addr, &[b"http/1.1"]).await.unwrap();
    let host = format!("127.0.0.1:{}", addr.port());
    let own = format!("https://{host}");
    let mut request = format!("wss://{host}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.unwrap_or(&own).parse().unwrap());
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(err) => panic!("WebSocket handshake: {err}"),
    }
}

/// A WebSocket upgrade request to `/ws` without an `Origin` header (as a
/// non-browser program would send); the response's status.
pub(crate) async fn websocket_without_origin(addr: SocketAddr) -> u16 {
    let stream = tls(addr, &[b"http/1.1"]).await.unwrap();
    let host = format!("127.0.0.1:{}", addr.port());
    let request = format!("wss://{host}/ws").into_client_request().unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(err) => panic!("WebSocket handshake: {err}"),
    }
}

/// Sends `msg` as one binary message holding one frame.
pub(crate) async fn send(socket: &mut Socket, msg: &ClientMessage) {
    let mut buf = bytes::BytesMut::new();
    msg.encode(&mut buf).unwrap();
    socket.send(Message::Binary(buf.freeze())).await.unwrap();
}

/// The next frame: each binary message must be exactly one. `None` when
/// the socket closed.
pub(crate) async fn next(socket: &mut Socket) -> Option<RawFrame> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                let mut buf = bytes::BytesMut::from(&bytes[..]);
                let frame = FrameDecoder::new(Limits::viewer())
                    .decode(&mut buf)
                    .unwrap()
                    .expect("a whole frame in one message");
                assert!(buf.is_empty(), "one frame per message");
                return Some(frame);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }
}

/// The next control message.
pub(crate) async fn message(socket: &mut Socket) -> ServerMessage {
    match next(socket).await {
        Some(RawFrame::Control(json)) => ServerMessage::parse(&json).unwrap(),
        other => panic!("expected a control message, got {other:?}"),
    }
}
