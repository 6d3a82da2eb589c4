//! The viewer's side of TLS against small TLS agents on loopback: trust on
//! first use, pinning, impostors (another key, or the real certificate
//! replayed without its key) and plain-TCP agents. An impostor must be
//! refused before the viewer sends its token proof.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::ServerCodec;
use lookout_protocol::{
    AuthMode, BindingMode, Challenge, ClientMessage, Fingerprint, Limits, PROTOCOL_VERSION,
    ServerMessage, Timeouts,
};
use lookout_tests::process::TempDir;
use lookout_viewer::connection::{self, Dial};
use lookout_viewer::{SessionError, Target, Token, Trust};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(5);

/// A key and certificate, as an agent makes them.
struct Id {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Id {
    fn new() -> Self {
        let made = rcgen::generate_simple_self_signed(vec!["lookout-server".into()]).unwrap();
        Self {
            cert: made.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()),
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_certificate(&self.cert)
    }
}

/// Presents `cert` signed with `key`, whether or not they belong together.
#[derive(Debug)]
struct Present(Arc<CertifiedKey>);

impl ResolvesServerCert for Present {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

fn server_config(cert: &Id, key: &Id) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.key.clone_key()))
        .unwrap();
    let certified = Arc::new(CertifiedKey::new(vec![cert.cert.clone()], signing));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Present(certified)));
    Arc::new(config)
}

/// A TLS agent that greets, counts the `auth` messages it receives and
/// welcomes every one. `tls: None` speaks plain TCP.
struct Agent {
    addr: SocketAddr,
    auths: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
    async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), tls)
    }

    /// On `port`, which was just freed by another agent (bounded retries).
    async fn start_on(port: u16, tls: Arc<rustls::ServerConfig>) -> Self {
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
                return Self::serve(listener, Some(tls));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("port {port} did not come free");
    }

    fn serve(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let addr = listener.local_addr().unwrap();
        let auths = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&auths);
        let task = tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let counter = Arc::clone(&counter);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                greet(stream, BindingMode::TlsExporter, &counter).await;
                            }
                        }
                        None => greet(tcp, BindingMode::None, &counter).await,
                    }
                });
            }
        });
        Self { addr, auths, task }
    }

    fn auths(&self) -> usize {
        self.auths.load(Ordering::SeqCst)
    }

    fn target(&self) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
        }
    }
}

/// `binding` is what `hello` asks for: `tls-exporter` on TLS, as a real
/// agent does, `none` on plain TCP.
async fn greet<S>(stream: S, binding: BindingMode, auths: &AtomicUsize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut framed = Framed::new(stream, ServerCodec::default());
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server: "fake".into(),
        auth: AuthMode::Token,
        binding,
        challenge: Challenge::from_bytes([7; 32]),
    };
    let mut buf = bytes::BytesMut::new();
    hello.encode(&mut buf).unwrap();
    if framed.get_mut().write_all_buf(&mut buf).await.is_err() {
        return;
    }
    if let Some(Ok(ClientMessage::Auth { .. })) = framed.next().await {
        auths.fetch_add(1, Ordering::SeqCst);
        let welcome = ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            name: "fake".into(),
            monitor: 0,
            control: false,
            features: Vec::new(),
            monitors: Vec::new(),
        };
        let mut buf = bytes::BytesMut::new();
        welcome.encode(&mut buf).unwrap();
        let _ = framed.get_mut().write_all_buf(&mut buf).await;
        let _ = framed.flush().await;
        // Hold the connection until the viewer goes.
        let _ = tokio::time::timeout(WAIT, framed.next()).await;
    }
}

async fn dial(agent: &Agent, trust: &Trust) -> Result<(), SessionError> {
    let target = agent.target();
    let token = Token::new("t");
    let dial = Dial {
        target: &target,
        trust,
        token: Some(&token),
        limits: Limits::viewer(),
        timeouts: Timeouts {
            handshake: WAIT,
            ..Timeouts::DEFAULT
        },
    };
    connection::connect(dial).await.map(drop)
}

#[tokio::test]
async fn first_use_is_recorded_and_a_new_key_is_then_refused_before_the_token_proof() {
    let dir = TempDir::new("tofu");
    let known = dir.path().join("sub").join("known_hosts");
    let trust = Trust::KnownHosts(known.clone());
    let real = Id::new();
    let agent = Agent::start(Some(server_config(&real, &real))).await;

    dial(&agent, &trust).await.expect("first connection");
    let text = std::fs::read_to_string(&known).unwrap();
    assert_eq!(
        text,
        format!("127.0.0.1:{} {}\n", agent.addr.port(), real.fingerprint())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&known).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    dial(&agent, &trust).await.expect("second connection");
    assert_eq!(agent.auths(), 2);
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        text,
        "recorded once"
    );

    // Another agent on the same address, with another key.
    let port = agent.addr.port();
    drop(agent);
    let impostor_id = Id::new();
    let impostor = Agent::start_on(port, server_config(&impostor_id, &impostor_id)).await;
    let err = dial(&impostor, &trust).await.unwrap_err();
    assert!(err.is_impostor() && err.is_fatal(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&impostor_id.fingerprint().to_string()),
        "{text}"
    );
    assert!(text.contains("line 1 of"), "{text}");
    assert!(text.contains(known.to_str().unwrap()), "{text}");
    assert_eq!(impostor.auths(), 0, "the token proof went to an impostor");
}

#[tokio::test]
async fn a_pinned_fingerprint_admits_its_agent_and_refuses_others() {
    let real = Id::new();
    let other = Id::new();
    let agent = Agent::start(Some(server_config(&real, &real))).await;
    dial(&agent, &Trust::Pinned(real.fingerprint()))
        .await
        .expect("the pinned agent");
    let err = dial(&agent, &Trust::Pinned(other.fingerprint()))
        .await
        .unwrap_err();
    assert!(err.is_impostor(), "{err}");
    assert!(err.to_string().contains("--fingerprint"), "{err}");
    assert_eq!(agent.auths(), 1);
}

#[tokio::test]
async fn the_real_certificate_without_its_key_is_refused() {
    // The classic pinning bug is a verifier that checks the certificate and
    // then accepts any handshake signature. This impostor presents the real
    // certificate but signs with its own key.
    let real = Id::new();
    let thief = Id::new();
    let impostor = Agent::start(Some(server_config(&real, &thief))).await;
    let err = dial(&impostor, &Trust::Pinned(real.fingerprint()))
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::Tls { .. }), "{err}");
    assert_eq!(impostor.auths(), 0);
}

#[tokio::test]
async fn a_plain_tcp_agent_is_not_mistaken_for_a_secure_one() {
    let plain = Agent::start(None).await;
    let err = dial(&plain, &Trust::Pinned(Id::new().fingerprint()))
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("--no-tls"), "{err}");
    assert_eq!(plain.auths(), 0);
    // And with --no-tls it works.
    dial(&plain, &Trust::Plain).await.expect("plain TCP");
    assert_eq!(plain.auths(), 1);
}

#[tokio::test]
async fn a_cut_short_known_hosts_line_for_the_agent_refuses_instead_of_trusting_anew() {
    let dir = TempDir::new("cut-line");
    let known = dir.path().join("known_hosts");
    let id = Id::new();
    let agent = Agent::start(Some(server_config(&id, &id))).await;
    let old = Id::new().fingerprint().to_string();
    // A crash cut the line for this agent short.
    let text = format!("127.0.0.1:{} {}", agent.addr.port(), &old[..40]);
    std::fs::write(&known, &text).unwrap();

    let err = dial(&agent, &Trust::KnownHosts(known.clone()))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SessionError::KnownHosts { .. }), "{message}");
    assert!(message.contains(known.to_str().unwrap()), "{message}");
    assert!(message.contains("line 1"), "{message}");
    assert_eq!(agent.auths(), 0);
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        text,
        "nothing recorded"
    );
}

#[tokio::test]
async fn a_pin_written_in_another_spelling_still_refuses_an_impostor() {
    let dir = TempDir::new("spelling");
    let known = dir.path().join("known_hosts");
    let id = Id::new();
    let impostor = Agent::start(Some(server_config(&id, &id))).await;
    // The real agent was recorded as its IPv4-mapped IPv6 address.
    let real = Id::new().fingerprint();
    let line = format!("[::FFFF:127.0.0.1]:{} {real}\n", impostor.addr.port());
    std::fs::write(&known, &line).unwrap();

    let err = dial(&impostor, &Trust::KnownHosts(known.clone()))
        .await
        .unwrap_err();
    assert!(err.is_impostor(), "{err}");
    assert_eq!(impostor.auths(), 0);
    assert_eq!(std::fs::read_to_string(&known).unwrap(), line);
}
