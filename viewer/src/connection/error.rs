//! Why a connection could not be made or ended, and which of those end the
//! viewer for good.

use std::io;
use std::time::Duration;

use lookout_protocol::codec::CodecError;
use lookout_protocol::{BindingMode, ErrorCode, PROTOCOL_VERSION, PairingError, ProtocolError};

use crate::target::Target;
use crate::trust::{Mismatch, TlsError};
use crate::untrusted::shown;

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
    /// The agent refused the token (`auth_failed`). This and the other
    /// variants that carry the agent's words hold them escaped and cut
    /// (where they are made, in `from_server`).
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
    /// The agent's `hello` asked for another channel binding than this
    /// connection has: on TLS, `none`, which is what a relay in the middle
    /// would ask for.
    #[error(
        "the agent asked for a token proof with binding {asked:?} on a connection with {ours:?}: \
         refusing to send one (a relay in the middle could reuse it)"
    )]
    Binding {
        /// What `hello.binding` said.
        asked: BindingMode,
        /// What this connection can bind to.
        ours: BindingMode,
    },
    /// The agent closed the connection with an error of another code.
    #[error("the agent closed the connection ({code:?}): {message}")]
    Refused {
        /// The error's code.
        code: ErrorCode,
        /// The agent's words.
        message: String,
    },
    /// The agent sent bytes that break the protocol. The error's text can
    /// echo what the agent sent (a message type, a JSON parser's excerpt),
    /// so it is shown escaped and cut.
    #[error("the agent broke the protocol: {}", shown(&.0.to_string()))]
    Protocol(#[from] ProtocolError),
    /// The agent sent a valid message where it is not allowed.
    #[error("unexpected {got} from the agent (expected {expected})")]
    Unexpected {
        /// What the state allows.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// The agent's `frame` messages and images do not fit together: an
    /// image without its `frame` message, bad rects or quality, a region
    /// update this viewer did not ask for, an update cut short.
    #[error("the agent broke the protocol: {0}")]
    Pairing(#[from] PairingError),
    /// We could not encode a command (a bug on our side, not the agent's).
    #[error("cannot encode a command: {0}")]
    Encode(#[source] ProtocolError),
    /// The agent closed the connection.
    #[error("the agent closed the connection")]
    Closed,
    /// The agent said `internal` and then closed the connection: its user
    /// ended this session (`lookout-server kick`), which reconnecting
    /// would undo. The agent's words, escaped.
    #[error("the agent ended the session: {0}")]
    Ended(String),
    /// Nothing heard for `timeouts.silence` ([`crate::Config::timeouts`]).
    #[error("the agent has been silent for {0:?}")]
    Silent(Duration),
    /// Reading or writing the socket failed.
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
    /// `--monitor` names no monitor the agent lists.
    #[error(transparent)]
    NoSuchMonitor(#[from] crate::choice::NoSuchMonitor),
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
                | SessionError::Binding { .. }
                | SessionError::Impostor(_)
                | SessionError::KnownHosts { .. }
                | SessionError::NoSuchMonitor(_)
                | SessionError::Ended(_)
        )
    }

    /// Whether the agent is not the one pinned (exit status 3).
    pub fn is_impostor(&self) -> bool {
        matches!(self, SessionError::Impostor(_))
    }

    pub(super) fn from_tls(err: TlsError, target: &Target) -> Self {
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

    pub(super) fn from_read(err: CodecError) -> Self {
        match err {
            CodecError::Protocol(err) => SessionError::Protocol(err),
            CodecError::Io(err) => SessionError::Io(err),
        }
    }

    pub(super) fn from_write(err: CodecError) -> Self {
        match err {
            CodecError::Protocol(err) => SessionError::Encode(err),
            CodecError::Io(err) => SessionError::Io(err),
        }
    }

    /// An `error` message that ends the connection.
    pub(super) fn from_server(code: ErrorCode, message: String) -> Self {
        let message = shown(&message);
        match code {
            ErrorCode::AuthFailed => SessionError::AuthFailed(message),
            ErrorCode::Busy => SessionError::Busy(message),
            code => SessionError::Refused { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use lookout_protocol::ServerMessage;

    use super::*;

    /// What a terminal or a log reader would be fooled by.
    fn assert_inert(shown: &str) {
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "raw control characters in {shown:?}"
        );
        assert!(shown.chars().count() < 400, "{} characters", shown.len());
    }

    #[test]
    fn an_escape_sequence_in_the_agents_error_is_not_printed_raw() {
        let forged = "\x1b[2J\x1b[Hbusy\nlookout-viewer: connected, token accepted\u{202e}";
        for code in [ErrorCode::Busy, ErrorCode::AuthFailed, ErrorCode::Internal] {
            let shown = SessionError::from_server(code, forged.repeat(100)).to_string();
            assert_inert(&shown);
            assert!(shown.contains("\\u{1b}[2J"), "{shown}");
        }
    }

    #[test]
    fn a_protocol_error_echoing_the_agents_bytes_is_not_printed_raw() {
        // The JSON parser's error quotes the bad value, decoded: an ESC
        // and a newline the agent wrote as JSON escapes.
        let value = format!("{}\\u001b[31m\\nforged line", "x".repeat(2000));
        let json = format!(r#"{{"type":"hello","protocol":2,"server":"a","auth":"{value}"}}"#);
        let err = ServerMessage::parse(json.as_bytes()).unwrap_err();
        // The premise: the parser's own words carry the raw ESC.
        let raw = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            raw.is_some_and(|raw| raw.contains('\x1b')),
            "the premise: {err:?}"
        );
        assert_inert(&SessionError::Protocol(err).to_string());
    }
}
