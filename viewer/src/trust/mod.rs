//! Who the viewer is talking to. Agents make their own self-signed
//! certificate, so there is no authority to ask; the viewer pins the
//! certificate's SHA-256 [`Fingerprint`] instead, the way SSH pins host keys:
//!
//! * `--fingerprint sha256:HEX` pins it for this run;
//! * otherwise the known-hosts file decides: a recorded agent must present
//!   the recorded fingerprint, and an agent met for the first time is
//!   recorded (trust on first use). The file fails closed: a line that does
//!   not parse, a file others may change, or a symlink refuses the
//!   connection (`known_hosts.rs`, `strict.rs`); agents are recorded under one
//!   spelling of their address (`host_key.rs`);
//! * `--no-tls` talks plain TCP to an agent started with `--no-tls`.
//!
//! Pinning replaces only the certificate chain check. The TLS 1.3 handshake
//! signature is still verified against the pinned certificate's key, so an
//! impostor that replays the real certificate without its key fails.

mod host_key;
mod known_hosts;
mod strict;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use lookout_protocol::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::target::Target;

pub use host_key::HostKey;
use known_hosts::Recorded;
pub use known_hosts::{KnownHostsError, LineProblem};

/// How the viewer decides whether to trust an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// TLS; the agent must present this fingerprint (`--fingerprint`).
    Pinned(Fingerprint),
    /// TLS; the known-hosts file at this path decides, and learns agents
    /// met for the first time.
    KnownHosts(PathBuf),
    /// Plain TCP (`--no-tls`): no encryption, no identity check.
    Plain,
}

impl Trust {
    /// The default: TLS with the known-hosts file in the user's config
    /// directory, `None` when there is no such directory.
    pub fn default_known_hosts() -> Option<Self> {
        default_known_hosts_path().map(Trust::KnownHosts)
    }
}

/// `known_hosts` in `lookout-viewer` in the user's config directory
/// (`~/.config/lookout-viewer/known_hosts` on Linux).
pub fn default_known_hosts_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("lookout-viewer").join("known_hosts"))
}

/// Where an expected fingerprint came from, for the refusal message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `--fingerprint`.
    Flag,
    /// A line of the known-hosts file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// The agent presented another certificate than the pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The agent.
    pub target: String,
    /// What was pinned.
    pub expected: Fingerprint,
    /// What the agent presented.
    pub got: Fingerprint,
    /// Where the pin came from.
    pub source: PinSource,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Mismatch {
            target,
            expected,
            got,
            source,
        } = self;
        write!(
            f,
            "REFUSED: the agent at {target} is not the one you pinned. It presented {got}, \
             expected {expected}. Someone may be impersonating it, or it got a new identity \
             (reinstalled, or its identity directory was removed). "
        )?;
        match source {
            PinSource::Flag => write!(
                f,
                "Check the fingerprint the agent prints at start and pass that to --fingerprint."
            ),
            PinSource::File { path, line } => write!(
                f,
                "If you trust the new identity, delete line {line} of {} and connect again.",
                path.display()
            ),
        }
    }
}

/// Why the TLS layer did not come up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The agent's certificate is not the pinned one.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// The handshake failed: not a TLS agent, a bad signature, a reset...
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    /// The known-hosts file could not be read or written, or cannot be
    /// trusted (a line that does not parse, others may change it, a
    /// symlink). Unless the OS failed, `source` wraps a [`KnownHostsError`].
    #[error("known-hosts file {path}: {source}")]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}

/// The name sent in the TLS ClientHello. The certificate is pinned, not
/// matched against a name, so this is just the name agents put in theirs.
const SERVER_NAME: &str = "lookout-server";

/// Runs the TLS handshake over `io`; fails unless the agent presents
/// `expected` (when given) and proves it holds that certificate's key.
/// Returns the stream and the fingerprint the agent presented.
pub async fn handshake<IO>(
    io: IO,
    expected: Option<Fingerprint>,
) -> Result<(TlsStream<IO>, Fingerprint), HandshakeFailure>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let verifier = Arc::new(PinnedVerifier::new(expected));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|err| HandshakeFailure::Io(io::Error::other(err)))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let mut config = config;
    config.alpn_protocols = vec![lookout_protocol::ALPN_LOOKOUT.to_vec()];
    let name = ServerName::try_from(SERVER_NAME).map_err(io::Error::other)?;
    let connector = TlsConnector::from(Arc::new(config));
    match connector.connect(name, io).await {
        Ok(stream) => match verifier.seen() {
            Some(seen) => Ok((stream, seen)),
            None => Err(HandshakeFailure::Io(io::Error::other(
                "no certificate was checked",
            ))),
        },
        Err(err) => match (expected, verifier.seen()) {
            (Some(expected), Some(got)) if expected != got => {
                Err(HandshakeFailure::Mismatch { expected, got })
            }
            _ => Err(HandshakeFailure::Io(err)),
        },
    }
}

/// Why [`handshake`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    /// The certificate is not the expected one.
    #[error("the agent presented {got}, expected {expected}")]
    Mismatch {
        /// Pinned.
        expected: Fingerprint,
        /// Presented.
        got: Fingerprint,
    },
    /// Anything else.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Secures a fresh connection to `target` as `trust` says: the TLS
/// handshake and, with a known-hosts file, the lookup before and the record
/// after a first meeting.
pub async fn secure<IO>(io: IO, target: &Target, trust: &Trust) -> Result<TlsStream<IO>, TlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let (expected, source) = match trust {
        Trust::Pinned(fingerprint) => (Some(*fingerprint), PinSource::Flag),
        Trust::KnownHosts(path) => {
            let (file, key) = (path.clone(), HostKey::of(target));
            match on_file(path, move || known_hosts::lookup(&file, &key)).await? {
                Some((fingerprint, line)) => (Some(fingerprint), file_pin(path, line)),
                None => (None, PinSource::Flag),
            }
        }
        Trust::Plain => {
            return Err(TlsError::Handshake(io::Error::other(
                "--no-tls asks for plain TCP, not TLS",
            )));
        }
    };
    let mismatch = |expected, got, source| {
        TlsError::Mismatch(Box::new(Mismatch {
            target: target.to_string(),
            expected,
            got,
            source,
        }))
    };
    let (stream, got) = match handshake(io, expected).await {
        Ok(done) => done,
        Err(HandshakeFailure::Mismatch { expected, got }) => {
            return Err(mismatch(expected, got, source));
        }
        Err(HandshakeFailure::Io(err)) => return Err(TlsError::Handshake(err)),
    };
    if let (Trust::KnownHosts(path), None) = (trust, expected) {
        let (file, key) = (path.clone(), HostKey::of(target));
        match on_file(path, move || known_hosts::record(&file, &key, got)).await? {
            Recorded::Added => tracing::warn!(
                "first connection to {target}: trusting its fingerprint {got} from now on \
                 (recorded in {})",
                path.display()
            ),
            // Another viewer recorded the agent since the lookup.
            Recorded::Known { fingerprint, .. } if fingerprint == got => {}
            Recorded::Known { fingerprint, line } => {
                return Err(mismatch(fingerprint, got, file_pin(path, line)));
            }
        }
    }
    Ok(stream)
}

/// The fingerprint the known-hosts file at `path` pins for `target`, and
/// its line; `None` when the file or the entry does not exist. Reads only
/// (discovery shows what the file says, and never records). Blocking.
pub fn pinned(
    path: &Path,
    target: &Target,
) -> Result<Option<(Fingerprint, usize)>, KnownHostsError> {
    known_hosts::lookup(path, &HostKey::of(target))
}

fn file_pin(path: &Path, line: usize) -> PinSource {
    PinSource::File {
        path: path.to_owned(),
        line,
    }
}

/// Runs blocking known-hosts work off the executor.
async fn on_file<T, F>(path: &Path, work: F) -> Result<T, TlsError>
where
    F: FnOnce() -> Result<T, KnownHostsError> + Send + 'static,
    T: Send + 'static,
{
    let done = tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| KnownHostsError::Io(io::Error::other(err)))
        .and_then(|result| result);
    done.map_err(|err| TlsError::KnownHosts {
        path: path.to_owned(),
        source: err.into_io(),
    })
}

/// Accepts exactly the certificate with the expected fingerprint (any, when
/// none is expected, for a first meeting), then checks the handshake
/// signature against that certificate like any TLS client would.
#[derive(Debug)]
struct PinnedVerifier {
    expected: Option<Fingerprint>,
    seen: Mutex<Option<Fingerprint>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    fn new(expected: Option<Fingerprint>) -> Self {
        Self {
            expected,
            seen: Mutex::new(None),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    fn seen(&self) -> Option<Fingerprint> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of_certificate(end_entity);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(got);
        match self.expected {
            Some(expected) if expected != got => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const B: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn the_refusal_names_the_file_and_line_to_edit() {
        let m = Mismatch {
            target: "box:6868".into(),
            expected: A.parse().unwrap(),
            got: B.parse().unwrap(),
            source: PinSource::File {
                path: "/home/u/.config/lookout-viewer/known_hosts".into(),
                line: 3,
            },
        };
        let text = m.to_string();
        assert!(
            text.contains("line 3 of /home/u/.config/lookout-viewer/known_hosts"),
            "{text}"
        );
        assert!(text.contains(A) && text.contains(B), "{text}");
    }
}
