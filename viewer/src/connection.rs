//! One connection to an agent: TCP connect, TLS with the agent's identity
//! checked ([`crate::trust`]), the token handshake, then a
//! reading half that yields typed [`Event`]s and a writing half that sends
//! commands. Both the window's network thread and `--snapshot` use it.
//!
//! ```text
//! connect ─▶ TLS ─▶ hello ─▶ auth ─▶ welcome ─┬─▶ FrameReader: frame+HT pairs, pong, notices
//!                                             └─▶ CommandWriter: start/stop, input, ping
//! ```

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{CodecError, ServerFrame, ViewerCodec};
use lookout_protocol::{
    AuthMode, ClientMessage, ErrorCode, Limits, MonitorInfo, PROTOCOL_VERSION, ProtocolError,
    ServerMessage, auth_response,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::cli::{Target, Token};
use crate::trust::{self, Mismatch, TlsError, Trust};

/// A byte stream the protocol can run over: TLS, or plain TCP with
/// `--no-tls`.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug> Transport for T {}

type Stream = Box<dyn Transport>;

/// The viewer pings every [`PING_INTERVAL`]; the agent drops a viewer it
/// has not heard from for [`lookout_protocol::SILENCE_LIMIT`].
pub use lookout_protocol::PING_INTERVAL;

/// An agent that says nothing for this long is dead (frozen, unplugged, or
/// behind a dead link that closed nothing). A live agent answers every ping
/// at once, so this is two missed pongs and then some; it is shorter than
/// the agent's own limit so that a dead agent is noticed within 15 s.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(12);

/// What the viewer calls itself in `auth`.
const CLIENT_NAME: &str = concat!("lookout-viewer ", env!("CARGO_PKG_VERSION"));

/// Why a connection could not be made or ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// TCP connect failed (refused, unreachable, name not found).
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// `host:port`.
        target: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The agent is not the one pinned (`--fingerprint` or known hosts).
    #[error("{0}")]
    Impostor(Box<Mismatch>),
    /// TLS did not come up (not a TLS agent, a bad handshake signature...).
    #[error(
        "no secure connection to {target}: {source} (an agent started with --no-tls needs --no-tls here too)"
    )]
    Tls {
        /// `host:port`.
        target: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The known-hosts file could not be read or written.
    #[error("known-hosts file {path}: {source}")]
    KnownHosts {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Connecting and the handshake took longer than allowed.
    #[error("no answer from the agent within {0:?}")]
    Timeout(Duration),
    /// The agent refused the token (`auth_failed`).
    #[error("the agent refused the token ({0}); check --token or LOOKOUT_TOKEN")]
    AuthFailed(String),
    /// The agent wants a token and none was given.
    #[error("the agent requires a token: pass --token or set LOOKOUT_TOKEN")]
    TokenRequired,
    /// The agent serves too many viewers (`busy`).
    #[error("the agent is busy: {0}")]
    Busy(String),
    /// The agent speaks another protocol version.
    #[error("the agent speaks protocol version {0}; this viewer speaks {PROTOCOL_VERSION}")]
    Version(u32),
    /// The agent closed the connection with an error of another code.
    #[error("the agent closed the connection ({code:?}): {message}")]
    Refused {
        /// The error's code.
        code: ErrorCode,
        /// The agent's words.
        message: String,
    },
    /// The agent sent bytes that break the protocol.
    #[error("the agent broke the protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The agent sent a valid message where it is not allowed.
    #[error("unexpected {got} from the agent (expected {expected})")]
    Unexpected {
        /// What the state allows.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// We could not encode a command (a bug on our side, not the agent's).
    #[error("cannot encode a command: {0}")]
    Encode(#[source] ProtocolError),
    /// The agent closed the connection.
    #[error("the agent closed the connection")]
    Closed,
    /// Nothing heard for [`SILENCE_LIMIT`].
    #[error("the agent has been silent for {0:?}")]
    Silent(Duration),
    /// Reading or writing the socket failed.
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
}

impl SessionError {
    /// Whether trying again cannot help (wrong or missing token, another
    /// protocol version, an impostor, an unusable known-hosts file): the
    /// viewer gives up instead of reconnecting.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SessionError::AuthFailed(_)
                | SessionError::TokenRequired
                | SessionError::Version(_)
                | SessionError::Impostor(_)
                | SessionError::KnownHosts { .. }
        )
    }

    /// Whether the agent is not the one pinned (exit status 3).
    pub fn is_impostor(&self) -> bool {
        matches!(self, SessionError::Impostor(_))
    }

    fn from_tls(err: TlsError, target: &Target) -> Self {
        match err {
            TlsError::Mismatch(mismatch) => SessionError::Impostor(mismatch),
            TlsError::Handshake(source) => SessionError::Tls {
                target: target.to_string(),
                source,
            },
            TlsError::KnownHosts { path, source } => SessionError::KnownHosts { path, source },
        }
    }

    /// Whether the token was the problem (exit status 2).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            SessionError::AuthFailed(_) | SessionError::TokenRequired
        )
    }

    fn from_read(err: CodecError) -> Self {
        match err {
            CodecError::Protocol(err) => SessionError::Protocol(err),
            CodecError::Io(err) => SessionError::Io(err),
        }
    }

    fn from_write(err: CodecError) -> Self {
        match err {
            CodecError::Protocol(err) => SessionError::Encode(err),
            CodecError::Io(err) => SessionError::Io(err),
        }
    }

    /// An `error` message that ends the connection.
    fn from_server(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::AuthFailed => SessionError::AuthFailed(message),
            ErrorCode::Busy => SessionError::Busy(message),
            code => SessionError::Refused { code, message },
        }
    }
}

/// What `welcome` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The agent's self-description from `hello`.
    pub server: String,
    /// The monitor this viewer sees at first.
    pub monitor: u32,
    /// Whether the agent carries out input commands.
    pub control: bool,
    /// The monitors the viewer may select.
    pub monitors: Vec<MonitorInfo>,
}

/// The `frame` message that announces an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// The agent's frame counter.
    pub seq: u64,
    /// Announced width.
    pub width: u32,
    /// Announced height.
    pub height: u32,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_at_us: u64,
}

/// An image as received: its announcement and the JPEG.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The `frame` message.
    pub meta: FrameMeta,
    /// The `HT` payload.
    pub jpeg: Bytes,
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("meta", &self.meta)
            .field("jpeg_len", &self.jpeg.len())
            .finish()
    }
}

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

/// An authenticated connection, not yet split.
#[derive(Debug)]
pub struct Connection {
    /// What the agent offered.
    pub welcome: Welcome,
    reader: FramedRead<ReadHalf<Stream>, ViewerCodec>,
    writer: FramedWrite<WriteHalf<Stream>, ViewerCodec>,
}

/// Where and how to connect.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    /// The agent.
    pub target: &'a Target,
    /// How to check who answers.
    pub trust: &'a Trust,
    /// The token to prove, if the agent asks for one.
    pub token: Option<&'a Token>,
    /// What the viewer accepts.
    pub limits: Limits,
}

impl<'a> From<&'a crate::Config> for Dial<'a> {
    fn from(config: &'a crate::Config) -> Self {
        Self {
            target: &config.target,
            trust: &config.trust,
            token: config.token.as_ref(),
            limits: config.limits(),
        }
    }
}

/// Connects, secures and authenticates, all within `timeout`.
pub async fn connect(dial: Dial<'_>, timeout: Duration) -> Result<Connection, SessionError> {
    tokio::time::timeout(timeout, connect_and_authenticate(dial))
        .await
        .unwrap_or_else(|_| Err(SessionError::Timeout(timeout)))
}

async fn connect_and_authenticate(dial: Dial<'_>) -> Result<Connection, SessionError> {
    let Dial {
        target,
        trust,
        token,
        limits,
    } = dial;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| SessionError::Connect {
            target: target.to_string(),
            source,
        })?;
    // Input commands are tiny and latency-sensitive.
    tcp.set_nodelay(true)?;
    let stream: Stream = match trust {
        Trust::Plain => Box::new(tcp),
        trust => Box::new(
            trust::secure(tcp, target, trust)
                .await
                .map_err(|err| SessionError::from_tls(err, target))?,
        ),
    };
    let (read, write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, ViewerCodec::with_limits(limits));
    let mut writer = FramedWrite::new(write, ViewerCodec::with_limits(limits));

    let (server, auth, challenge) = match next_control(&mut reader).await? {
        ServerMessage::Hello {
            protocol,
            server,
            auth,
            challenge,
        } => {
            if protocol != PROTOCOL_VERSION {
                return Err(SessionError::Version(protocol));
            }
            (server, auth, challenge)
        }
        ServerMessage::Error { code, message } => {
            return Err(SessionError::from_server(code, message));
        }
        other => {
            return Err(SessionError::Unexpected {
                expected: "hello",
                got: other.kind(),
            });
        }
    };
    let response = match (auth, token) {
        (AuthMode::None, _) => String::new(),
        (AuthMode::Token, Some(token)) => auth_response(token.expose(), &challenge),
        (AuthMode::Token, None) => return Err(SessionError::TokenRequired),
    };
    writer
        .send(ClientMessage::Auth {
            protocol: PROTOCOL_VERSION,
            client: CLIENT_NAME.to_owned(),
            response,
        })
        .await
        .map_err(SessionError::from_write)?;

    match next_control(&mut reader).await? {
        ServerMessage::Welcome {
            protocol,
            monitor,
            control,
            monitors,
        } => {
            if protocol != PROTOCOL_VERSION {
                return Err(SessionError::Version(protocol));
            }
            Ok(Connection {
                welcome: Welcome {
                    server,
                    monitor,
                    control,
                    monitors,
                },
                reader,
                writer,
            })
        }
        ServerMessage::Error { code, message } => Err(SessionError::from_server(code, message)),
        other => Err(SessionError::Unexpected {
            expected: "welcome",
            got: other.kind(),
        }),
    }
}

/// The next message of the handshake; images are not allowed yet.
async fn next_control(
    reader: &mut FramedRead<ReadHalf<Stream>, ViewerCodec>,
) -> Result<ServerMessage, SessionError> {
    match reader.next().await {
        None => Err(SessionError::Closed),
        Some(Err(err)) => Err(SessionError::from_read(err)),
        Some(Ok(ServerFrame::Control(msg))) => Ok(msg),
        Some(Ok(ServerFrame::Image(_))) => Err(SessionError::Unexpected {
            expected: "a control message",
            got: "image",
        }),
    }
}

impl Connection {
    /// Splits into the reading and the writing half.
    pub fn split(self) -> (Welcome, FrameReader, CommandWriter) {
        (
            self.welcome,
            FrameReader {
                inner: self.reader,
                pending: None,
            },
            CommandWriter { inner: self.writer },
        )
    }
}

/// The reading half: pairs each `frame` message with its `HT` image.
#[derive(Debug)]
pub struct FrameReader {
    inner: FramedRead<ReadHalf<Stream>, ViewerCodec>,
    pending: Option<FrameMeta>,
}

impl FrameReader {
    /// The next event. Fails when the connection ends, breaks the protocol
    /// or stays silent for [`SILENCE_LIMIT`].
    pub async fn next_event(&mut self) -> Result<Event, SessionError> {
        loop {
            let next = tokio::time::timeout(SILENCE_LIMIT, self.inner.next())
                .await
                .map_err(|_| SessionError::Silent(SILENCE_LIMIT))?;
            let frame = match next {
                None => return Err(SessionError::Closed),
                Some(Err(err)) => return Err(SessionError::from_read(err)),
                Some(Ok(frame)) => frame,
            };
            match frame {
                ServerFrame::Image(jpeg) => {
                    let meta = self.pending.take().ok_or(SessionError::Unexpected {
                        expected: "a frame message before the image",
                        got: "image",
                    })?;
                    return Ok(Event::Frame(EncodedFrame { meta, jpeg }));
                }
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
                    if self.pending.replace(meta).is_some() {
                        tracing::debug!(seq, "frame message without its image");
                    }
                }
                ServerFrame::Control(ServerMessage::Pong { id }) => return Ok(Event::Pong(id)),
                ServerFrame::Control(ServerMessage::Error { code, message }) => {
                    return match code {
                        ErrorCode::BadRequest | ErrorCode::ControlDisabled => {
                            Ok(Event::Notice { code, message })
                        }
                        code => Err(SessionError::from_server(code, message)),
                    };
                }
                ServerFrame::Control(other) => {
                    return Err(SessionError::Unexpected {
                        expected: "frame, pong or error",
                        got: other.kind(),
                    });
                }
            }
        }
    }
}

/// The writing half.
#[derive(Debug)]
pub struct CommandWriter {
    inner: FramedWrite<WriteHalf<Stream>, ViewerCodec>,
}

impl CommandWriter {
    /// Sends one command and flushes it.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), SessionError> {
        self.inner.send(msg).await.map_err(SessionError::from_write)
    }
}
