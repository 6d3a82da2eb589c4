//! Protocol 2's handshake against the real agent library over TLS: the token
//! proof is bound to the TLS connection (§2.1), so a man in the middle who
//! relays it gets `auth_failed`; the viewer never sends an unbound proof on
//! TLS; ALPN selects `lookout/2` and never anything else.
//!
//! The man in the middle here is the strongest one trust on first use
//! allows: the viewer has pinned *his* certificate (as it would have after
//! a first connection through him, or after the user deleted the
//! known-hosts line as a refusal message told them to), and he holds a
//! correctly pinned TLS connection to the real agent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{ServerCodec, ServerFrame, ViewerCodec};
use lookout_protocol::{
    BindingMode, ClientMessage, ErrorCode, Fingerprint, Limits, PROTOCOL_VERSION, ServerMessage,
    Timeouts, auth_response,
};
use lookout_tests::agent::{Options, TOKEN, TestAgent};
use lookout_tests::client::{Client, Endpoint};
use lookout_viewer::connection::{self, Dial};
use lookout_viewer::{SessionError, Target, Token, Trust};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use crate::web_support::AnyCertificate;

const WAIT: Duration = Duration::from_secs(5);

async fn tls_agent() -> (TestAgent, Fingerprint) {
    let agent = TestAgent::start(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    let pin = agent.endpoint.pin.expect("a TLS agent has a fingerprint");
    (agent, pin)
}

/// The man in the middle's own certificate and TLS server configuration.
fn mitm_identity() -> (Arc<rustls::ServerConfig>, Fingerprint) {
    let made = rcgen::generate_simple_self_signed(vec!["lookout-server".into()]).unwrap();
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key))
        .unwrap();
    (Arc::new(config), Fingerprint::of_certificate(&cert))
}

/// How the man in the middle treats the traffic he relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    /// Every byte both ways, untouched.
    Verbatim,
    /// The agent's `hello` rewritten to ask for an unbound proof, which he
    /// could then replay to the agent if the viewer sent one.
    StripBinding,
}

/// Accepts one viewer on his own TLS, opens his own (correctly pinned) TLS
/// to the agent, and relays. Counts the `auth` messages he saw.
async fn start_mitm(
    agent: SocketAddr,
    agent_pin: Fingerprint,
    relay: Relay,
) -> (SocketAddr, Fingerprint, Arc<AtomicUsize>) {
    let (config, fingerprint) = mitm_identity();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auths = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&auths);
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut viewer) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else {
            return;
        };
        let tcp = TcpStream::connect(agent).await.unwrap();
        let (mut upstream, _) = lookout_viewer::trust::handshake(tcp, Some(agent_pin))
            .await
            .expect("the man in the middle reaches the real agent");
        let work = async {
            match relay {
                Relay::Verbatim => {
                    let _ = tokio::io::copy_bidirectional(&mut viewer, &mut upstream).await;
                }
                Relay::StripBinding => strip_binding(viewer, upstream, &counted).await,
            }
        };
        let _ = tokio::time::timeout(WAIT, work).await;
    });
    (addr, fingerprint, auths)
}

/// Forwards the agent's `hello` with `binding: none`, then whatever `auth`
/// the viewer answers (counted), then the agent's answer.
async fn strip_binding<V, A>(viewer: V, agent: A, auths: &AtomicUsize)
where
    V: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut viewer = Framed::new(viewer, ServerCodec::default());
    let mut agent = Framed::new(agent, ViewerCodec::default());
    let Some(Ok(ServerFrame::Control(ServerMessage::Hello {
        protocol,
        server,
        auth,
        challenge,
        ..
    }))) = agent.next().await
    else {
        return;
    };
    let forged = ServerMessage::Hello {
        protocol,
        server,
        auth,
        binding: BindingMode::None,
        challenge,
    };
    if viewer.send(ServerFrame::Control(forged)).await.is_err() {
        return;
    }
    let Some(Ok(auth @ ClientMessage::Auth { .. })) = viewer.next().await else {
        return;
    };
    auths.fetch_add(1, Ordering::SeqCst);
    let _ = agent.send(auth).await;
    if let Some(Ok(answer)) = agent.next().await {
        let _ = viewer.send(answer).await;
    }
}

/// The real viewer library, trusting `pin` for `addr`, proving [`TOKEN`].
async fn viewer_connects(addr: SocketAddr, pin: Fingerprint) -> Result<(), SessionError> {
    let target = Target {
        host: "127.0.0.1".into(),
        port: addr.port(),
    };
    let trust = Trust::Pinned(pin);
    let token = Token::new(TOKEN);
    let dial = Dial {
        target: &target,
        trust: &trust,
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
async fn a_relaying_man_in_the_middle_is_refused_by_the_channel_binding() {
    let (agent, pin) = tls_agent().await;
    // The same viewer and token, straight to the agent: welcomed.
    viewer_connects(agent.addr, pin)
        .await
        .expect("the viewer is welcomed without a relay");

    let (mitm, mitm_pin, _) = start_mitm(agent.addr, pin, Relay::Verbatim).await;
    let relayed = viewer_connects(mitm, mitm_pin).await;
    assert!(
        matches!(relayed, Err(SessionError::AuthFailed(_))),
        "a proof relayed to the agent over another TLS connection must fail, got {relayed:?}"
    );
    assert_eq!(agent.captures(), 0, "no frame was made for the relay");
    agent.stop().await;
}

#[tokio::test]
async fn a_relay_asking_for_an_unbound_proof_gets_none() {
    let (agent, pin) = tls_agent().await;
    let (mitm, mitm_pin, auths) = start_mitm(agent.addr, pin, Relay::StripBinding).await;
    let result = viewer_connects(mitm, mitm_pin).await;
    assert!(
        matches!(
            result,
            Err(SessionError::Binding {
                asked: BindingMode::None,
                ours: BindingMode::TlsExporter
            })
        ),
        "the viewer must refuse an unbound hello on TLS, got {result:?}"
    );
    assert!(result.as_ref().is_err_and(SessionError::is_fatal));
    assert_eq!(
        auths.load(Ordering::SeqCst),
        0,
        "no proof, bound or not, reached the man in the middle"
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_proof_made_on_another_tls_connection_is_refused() {
    let (agent, pin) = tls_agent().await;
    let endpoint = Endpoint {
        addr: agent.addr,
        pin: Some(pin),
    };
    let mut first = Client::connect(endpoint).await;
    let mut second = Client::connect(endpoint).await;
    let ServerMessage::Hello {
        binding,
        challenge: first_challenge,
        ..
    } = first.message().await
    else {
        panic!("expected hello");
    };
    assert_eq!(
        binding,
        BindingMode::TlsExporter,
        "every TLS hello is bound"
    );
    let ServerMessage::Hello {
        challenge: second_challenge,
        ..
    } = second.message().await
    else {
        panic!("expected hello");
    };

    // The second connection's challenge, proved over the first connection's
    // exporter: what a relay would hold.
    let misbound = auth_response(TOKEN, &second_challenge, &first.binding);
    second
        .send(ClientMessage::Auth {
            protocol: PROTOCOL_VERSION,
            client: "relay".into(),
            response: misbound,
        })
        .await;
    let answer = second.message().await;
    assert!(
        matches!(
            answer,
            ServerMessage::Error {
                code: ErrorCode::AuthFailed,
                ..
            }
        ),
        "expected auth_failed, got {answer:?}"
    );

    // The same token, bound to its own connection: welcomed.
    let bound = auth_response(TOKEN, &first_challenge, &first.binding);
    first
        .send(ClientMessage::Auth {
            protocol: PROTOCOL_VERSION,
            client: "viewer".into(),
            response: bound,
        })
        .await;
    let welcome = first.message().await;
    let ServerMessage::Welcome {
        protocol,
        name,
        features,
        ..
    } = welcome
    else {
        panic!("expected welcome, got {welcome:?}");
    };
    assert_eq!(protocol, PROTOCOL_VERSION);
    assert_eq!(name, "test-agent");
    assert_eq!(features, ["profiles", "regions"]);
    agent.stop().await;
}

/// A TLS handshake with the agent offering `alpn`; the protocol it selected.
async fn negotiate(addr: SocketAddr, alpn: &[&[u8]]) -> std::io::Result<Option<Vec<u8>>> {
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
    let tls = tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
    Ok(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
}

#[tokio::test]
async fn alpn_selects_lookout_2_and_never_h2() {
    let (agent, _) = tls_agent().await;
    assert_eq!(
        negotiate(agent.addr, &[b"h2", b"lookout/2"]).await.unwrap(),
        Some(b"lookout/2".to_vec())
    );
    assert_eq!(
        negotiate(agent.addr, &[]).await.unwrap(),
        None,
        "no ALPN is this protocol too"
    );
    assert!(
        negotiate(agent.addr, &[b"h2"]).await.is_err(),
        "a client that offers only h2 is refused in the TLS handshake"
    );
    agent.stop().await;
}
