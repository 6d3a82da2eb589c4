//! One connection to an agent: TCP connect, TLS with the agent's identity
//! checked ([`crate::trust`]), the token handshake, then a reading half that
//! yields typed [`Event`]s and a writing half that sends commands. Both the
//! window's network thread (`network`) and `--snapshot` use it.
//!
//! ```text
//! connect ─▶ TLS ─▶ hello ─▶ auth ─▶ welcome ─┬─▶ FrameReader: frames, region updates, pong, notices
//!                                             └─▶ CommandWriter: start/stop, input, ping
//! ```
//!
//! The token proof in `auth` covers the challenge and this connection's TLS
//! exporter ([`channel_binding`]); on TLS, a `hello` that asks for no
//! binding is refused before any proof is sent.
//!
//! Every wait has a limit from [`Timeouts`]: `handshake` for all of
//! connecting, and `silence` for each read afterwards.

mod binding;
mod error;
mod halves;
mod heard;

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{ServerFrame, ViewerCodec};
use lookout_protocol::{
    AuthMode, ChannelBinding, ClientMessage, Limits, MonitorInfo, PROTOCOL_VERSION, ServerMessage,
    Timeouts, auth_response,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};

pub use binding::channel_binding;
pub use error::SessionError;
pub use halves::{CommandWriter, Event, FrameReader};
// The pairing of `frame` messages with images is the protocol crate's; its
// types are re-exported where viewer code has always found them.
pub use lookout_protocol::{EncodedFrame, FrameMeta};

use crate::cli::Token;
use crate::target::Target;
use crate::trust::{self, Trust};
use heard::{Heard, LastHeard};

/// A byte stream the protocol can run over: TLS, or plain TCP with
/// `--no-tls`.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug> Transport for T {}

type Stream = Box<dyn Transport>;

/// What the viewer calls itself in `auth`.
const CLIENT_NAME: &str = concat!("lookout-viewer ", env!("CARGO_PKG_VERSION"));

/// What `welcome` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The agent's self-description from `hello` (escaped for display).
    pub server: String,
    /// The agent's name for people (escaped for display; may be empty).
    pub name: String,
    /// The monitor this viewer sees at first.
    pub monitor: u32,
    /// Whether the agent carries out input commands.
    pub control: bool,
    /// The monitors the viewer may select.
    pub monitors: Vec<MonitorInfo>,
    /// The optional parts of the protocol the agent supports (§2.1), as it
    /// named them; compared, never shown.
    pub features: Vec<String>,
}

/// The feature name of region updates (protocol §2.3).
pub const REGIONS: &str = "regions";

impl Welcome {
    /// Whether the agent listed `feature` in `welcome.features`.
    pub fn offers(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// An authenticated connection, not yet split.
#[derive(Debug)]
pub struct Connection {
    /// What the agent offered.
    pub welcome: Welcome,
    reader: FramedRead<ReadHalf<Stream>, ViewerCodec>,
    writer: FramedWrite<WriteHalf<Stream>, ViewerCodec>,
    /// How long the reading half waits for a byte.
    silence: std::time::Duration,
    /// When the last byte arrived.
    heard: Arc<LastHeard>,
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
    /// `handshake` bounds connecting, `silence` each read afterwards.
    pub timeouts: Timeouts,
}

impl<'a> From<&'a crate::Config> for Dial<'a> {
    fn from(config: &'a crate::Config) -> Self {
        Self {
            target: &config.target,
            trust: &config.trust,
            token: config.token.as_ref(),
            limits: config.limits(),
            timeouts: config.timeouts,
        }
    }
}

/// Connects, secures and authenticates, all within `dial.timeouts.handshake`.
pub async fn connect(dial: Dial<'_>) -> Result<Connection, SessionError> {
    let timeout = dial.timeouts.handshake;
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
        timeouts,
    } = dial;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| SessionError::Connect {
            target: target.to_string(),
            source,
        })?;
    // Input commands are tiny and latency-sensitive.
    tcp.set_nodelay(true)?;
    // Silence is counted in bytes at the socket, under TLS.
    let heard = LastHeard::new();
    let tcp = Heard::new(tcp, Arc::clone(&heard));
    let (stream, binding): (Stream, ChannelBinding) = match trust {
        Trust::Plain => (Box::new(tcp), ChannelBinding::None),
        trust => {
            let tls = trust::secure(tcp, target, trust)
                .await
                .map_err(|err| SessionError::from_tls(err, target))?;
            let binding = channel_binding(&tls)?;
            (Box::new(tls), binding)
        }
    };
    let (read, write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, ViewerCodec::with_limits(limits));
    let mut writer = FramedWrite::new(write, ViewerCodec::with_limits(limits));

    let (server, auth, challenge) = match next_control(&mut reader).await? {
        ServerMessage::Hello {
            protocol,
            server,
            auth,
            binding: mode,
            challenge,
        } => {
            if protocol != PROTOCOL_VERSION {
                return Err(SessionError::Version(protocol));
            }
            // On TLS the proof must be bound to this connection: an agent
            // (or a relay) that asks for an unbound proof gets none.
            if mode != binding.mode() {
                return Err(SessionError::Binding {
                    asked: mode,
                    ours: binding.mode(),
                });
            }
            (server, auth, challenge)
        }
        ServerMessage::Error { code, message, .. } => {
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
        (AuthMode::Token, Some(token)) => auth_response(token.expose(), &challenge, &binding),
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
            name,
            monitor,
            control,
            monitors,
            features,
        } => {
            if protocol != PROTOCOL_VERSION {
                return Err(SessionError::Version(protocol));
            }
            Ok(Connection {
                welcome: Welcome {
                    server: crate::untrusted::shown(&server),
                    name: crate::untrusted::shown(&name),
                    monitor,
                    control,
                    monitors,
                    features,
                },
                reader,
                writer,
                silence: timeouts.silence,
                heard,
            })
        }
        ServerMessage::Error { code, message, .. } => Err(SessionError::from_server(code, message)),
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
            FrameReader::new(self.reader, self.silence, self.heard),
            CommandWriter::new(self.writer),
        )
    }
}
