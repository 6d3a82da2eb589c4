//! The handshake: `hello` with a fresh challenge, the viewer's `auth`, then
//! `welcome` or `auth_failed`. Nothing else is read or run before it ends.
//!
//! The proof covers the challenge and the connection's [`ChannelBinding`]
//! (the TLS exporter), so a proof relayed from another TLS connection (a
//! man in the middle's) does not verify here.

use futures_util::StreamExt;
use lookout_protocol::codec::{CodecError, ServerCodec};
use lookout_protocol::untrusted::Escaped;
use lookout_protocol::{
    AuthMode, Challenge, ChannelBinding, ClientMessage, PROTOCOL_VERSION, ProtocolError,
    ServerMessage, verify_response,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use super::shared::Shared;
use crate::config::Access;
use crate::limiter::Refused;

/// Longest self-description of a viewer kept for the logs, in characters.
const MAX_CLIENT_CHARS: usize = 64;

/// What an authenticated viewer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Watch and steer (the `--token`, or an open agent).
    Control,
    /// Watch only (the `--view-token`).
    View,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Control => "control",
            Role::View => "view",
        }
    }
}

/// A viewer that proved who it is.
#[derive(Debug)]
pub(crate) struct Authenticated {
    /// The viewer's self-description, for logs (escaped and cut).
    pub client: String,
    /// Which token it proved.
    pub role: Role,
}

/// Why a handshake did not produce a viewer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("wrong token")]
    WrongToken,
    #[error("proof not checked: {0}")]
    Refused(Refused),
    #[error("unsupported protocol version {0}")]
    Version(u32),
    #[error("expected auth, got {0}")]
    Unexpected(&'static str),
    #[error("closed before authenticating")]
    Closed,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot make a challenge: {0}")]
    Random(#[from] getrandom::Error),
}

impl HandshakeError {
    /// The `error` message the viewer should get, if any.
    pub(crate) fn reply(&self) -> Option<ServerMessage> {
        use lookout_protocol::ErrorCode::{AuthFailed, Internal, Protocol};
        Some(match self {
            HandshakeError::WrongToken => ServerMessage::error(AuthFailed, "authentication failed"),
            HandshakeError::Refused(why) => ServerMessage::error(
                AuthFailed,
                format!("authentication failed: {why}; try again later"),
            ),
            HandshakeError::Version(v) => ServerMessage::error(
                Protocol,
                format!(
                    "protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"
                ),
            ),
            HandshakeError::Unexpected(kind) => {
                ServerMessage::error(Protocol, format!("expected an auth message, got {kind}"))
            }
            HandshakeError::Protocol(err) => ServerMessage::error(Protocol, err.to_string()),
            HandshakeError::Random(_) => ServerMessage::error(Internal, "internal error"),
            HandshakeError::Closed | HandshakeError::Io(_) => return None,
        })
    }

    /// Whether the peer broke the protocol during the handshake (garbage,
    /// an unknown or unexpected message): counted against its address like
    /// a wrong proof. A wrong proof is counted where it is checked; a
    /// version mismatch, a silent or vanished peer is not counted.
    pub(crate) fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            HandshakeError::Protocol(_) | HandshakeError::Unexpected(_)
        )
    }
}

impl From<CodecError> for HandshakeError {
    fn from(err: CodecError) -> Self {
        match err {
            CodecError::Protocol(err) => err.into(),
            CodecError::Io(err) => err.into(),
        }
    }
}

/// The whole exchange: sends `hello`, reads and checks `auth`. The caller
/// bounds it in time and sends `welcome`. `binding` is what this end of the
/// connection computed: the TLS exporter, or nothing without TLS.
pub(crate) async fn run<R, W>(
    reader: &mut FramedRead<R, ServerCodec>,
    write: &mut W,
    shared: &Shared,
    peer: std::net::SocketAddr,
    binding: &ChannelBinding,
) -> Result<Authenticated, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (hello, challenge) = hello(&shared.access, binding)?;
    let mut buf = bytes::BytesMut::new();
    hello.encode(&mut buf)?;
    write.write_all(&buf).await?;
    authenticate(reader, shared, peer, &challenge, binding).await
}

/// The `hello` to send and the challenge it carries.
fn hello(
    access: &Access,
    binding: &ChannelBinding,
) -> Result<(ServerMessage, Challenge), HandshakeError> {
    let challenge = Challenge::generate()?;
    let auth = match access {
        Access::Token { .. } => AuthMode::Token,
        Access::Open => AuthMode::None,
    };
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server: concat!("lookout-server ", env!("CARGO_PKG_VERSION")).into(),
        auth,
        binding: binding.mode(),
        challenge,
    };
    Ok((hello, challenge))
}

/// Reads the viewer's `auth` and checks it. The caller bounds it in time.
async fn authenticate<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, ServerCodec>,
    shared: &Shared,
    peer: std::net::SocketAddr,
    challenge: &Challenge,
    binding: &ChannelBinding,
) -> Result<Authenticated, HandshakeError> {
    let msg = reader.next().await.ok_or(HandshakeError::Closed)??;
    let ClientMessage::Auth {
        protocol,
        client,
        response,
    } = msg
    else {
        return Err(HandshakeError::Unexpected(msg.kind()));
    };
    if protocol != PROTOCOL_VERSION {
        return Err(HandshakeError::Version(protocol));
    }
    let role = match &shared.access {
        Access::Token {
            token, view_token, ..
        } => {
            // Asked right before the proof is verified, not only at accept:
            // a proof in flight when its address got blocked is not checked.
            // Until `succeeded`, the attempt counts as a failure.
            let attempt = shared.attempt(peer).map_err(HandshakeError::Refused)?;
            // Both checks always run, each in constant time, so the answer's
            // timing does not tell which token a guess came close to.
            let control = verify_response(token, challenge, binding, &response);
            let view = view_token
                .as_ref()
                .is_some_and(|view| verify_response(view, challenge, binding, &response));
            let role = match (control, view) {
                (true, _) => Role::Control,
                (false, true) => Role::View,
                (false, false) => return Err(HandshakeError::WrongToken),
            };
            attempt.succeeded();
            role
        }
        Access::Open => Role::Control,
    };
    Ok(Authenticated {
        client: Escaped::new(&client, MAX_CLIENT_CHARS).to_string(),
        role,
    })
}
