//! One viewer connection, from accept to close, as a short pipeline of
//! named steps; each step either hands the connection on or logs why it
//! ended (one line per attempt, one per session end).
//!
//! ```text
//!  accept ─▶ pending table ─▶ TLS ─▶ handshake ─▶ admission ─▶ live session
//!  (agent)   (pending.rs)            hello/auth    max viewers,  ├─ downlink task: replies + frames ─▶ socket
//!                                    (handshake.rs) welcome       └─ uplink loop: commands ─▶ input thread
//!            ◀──── one deadline: Timeouts::handshake ────▶        (live.rs, downlink.rs, uplink.rs)
//! ```
//!
//! Until the handshake ends, the connection holds a place in the bounded
//! [`PendingHandshakes`] table and is dropped if a newer one displaces it.

mod adapt;
mod downlink;
mod handshake;
mod live;
mod pending;
mod registry;
mod shared;
mod uplink;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_protocol::codec::ServerCodec;
use lookout_protocol::{
    ChannelBinding, EXPORTER_LABEL, EXPORTER_LEN, ErrorCode, PROTOCOL_VERSION, ServerMessage,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

pub(crate) use pending::Place;
pub(crate) use pending::{PendingHandshakes, PendingSlot};
pub use registry::SessionStatus;
pub(crate) use shared::Shared;

use crate::limiter::Refused;
use handshake::{Authenticated, HandshakeError, Role};
use live::Admitted;

/// How long a closing message may take to reach a viewer, and how long a
/// session's writer may go on after its reader ended, to send what is
/// queued (a closing error, say).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A handle on a viewer's socket to set how many bytes it may hold that
/// the kernel has not sent yet (`TCP_NOTSENT_LOWAT`): beyond it the socket
/// takes no more, so the downlink waits and then sends the newest picture
/// instead of queueing stale ones in the kernel. Without it Linux lets
/// several megabytes wait in a slow viewer's send buffer (seconds of delay
/// on a slow link), and the viewer is never skipped, only late. It starts
/// at [`adapt::UNSENT_MAX`] and follows the link
/// ([`adapt::Adapt::unsent_limit`]); bytes in flight are not counted, so a
/// long fat link is not slowed.
#[derive(Debug)]
pub(crate) struct UnsentLimit {
    /// A second descriptor of the viewer's socket, closed with the session.
    socket: socket2::Socket,
    bytes: u32,
}

impl UnsentLimit {
    /// Sets the limit on `tcp` and keeps a handle to change it; `None` (and
    /// no limit) where the platform has none.
    fn of(tcp: &TcpStream) -> Option<Self> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let socket = socket2::SockRef::from(tcp).try_clone().ok()?;
            let mut limit = Self { socket, bytes: 0 };
            limit.set(adapt::UNSENT_MAX);
            Some(limit)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = tcp;
            None
        }
    }

    /// Lets the socket hold `bytes` unsent (a change of less than a
    /// quarter is not worth a system call).
    pub(crate) fn set(&mut self, bytes: u32) {
        if self.bytes.abs_diff(bytes) <= self.bytes / 4 && self.bytes != 0 {
            return;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match self.socket.set_tcp_notsent_lowat(bytes) {
            Ok(()) => self.bytes = bytes,
            Err(err) => tracing::debug!(error = %err, "cannot limit unsent bytes"),
        }
    }
}

/// Serves one accepted connection to the end: TLS (unless `--no-tls`), the
/// token handshake, admission, then the live session. `pending` is the
/// connection's place among pending handshakes; it is given up as soon as
/// the handshake is over, and dropping it early (a newer connection
/// displaced this one) ends the connection.
pub(crate) async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: PendingSlot,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    let unsent = UnsentLimit::of(&tcp);
    // One deadline covers TLS and the token exchange.
    let accepted_at = tokio::time::Instant::now();
    let deadline = accepted_at + shared.timeouts.handshake;
    let Some(acceptor) = shared.tls.clone().map(tokio_rustls::TlsAcceptor::from) else {
        let binding = ChannelBinding::None;
        return serve_stream(
            tcp, binding, peer, shared, pending, cancel, deadline, started, unsent,
        )
        .await;
    };
    let accepted = tokio::select! {
        () = cancel.cancelled() => return,
        () = pending.evicted.cancelled() => Err(Refusal::Displaced),
        res = tokio::time::timeout_at(deadline, secure(acceptor, tcp, &pending)) => match res {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(err)) => Err(Refusal::Tls(err)),
            Err(_) => Err(Refusal::Timeout(shared.timeouts.handshake)),
        },
    };
    if let Ok(tls) = &accepted
        && shared.web.is_some()
        && tls.get_ref().1.alpn_protocol() == Some(crate::web::ALPN_HTTP)
    {
        // The browser transport: HTTP/1.1 has its own bounds (`web`), and
        // a WebSocket takes a place of its own for its token handshake.
        drop(pending);
        let Ok(tls) = accepted else { return };
        return crate::web::serve(tls, peer, shared, cancel, unsent, accepted_at).await;
    }
    let binding = accepted.and_then(|tls| Ok((exporter(&tls)?, tls)));
    match binding {
        Ok((binding, tls)) => {
            serve_stream(
                tls, binding, peer, shared, pending, cancel, deadline, started, unsent,
            )
            .await;
        }
        Err(refusal) => refusal.log(peer),
    }
}

/// This end's channel binding: the TLS 1.3 exporter of §2.1. A connection
/// that cannot give one is refused (never downgraded to no binding).
fn exporter(tls: &tokio_rustls::server::TlsStream<TcpStream>) -> Result<ChannelBinding, Refusal> {
    tls.get_ref()
        .1
        .export_keying_material([0u8; EXPORTER_LEN], EXPORTER_LABEL, Some(&[]))
        .map(ChannelBinding::TlsExporter)
        .map_err(Refusal::Exporter)
}

/// The TLS handshake. Once the agent has seen the peer's first bytes, the
/// connection ranks above silent ones in the pending table.
async fn secure(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    pending: &PendingSlot,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    pending.progressed();
    acceptor.accept(tcp).await
}

/// Why a connection ended before the token handshake began.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("handshake timed out after {0:?}")]
    Timeout(Duration),
    #[error("dropped: the table of pending handshakes is full of newer ones")]
    Displaced,
    #[error("no TLS exporter for the channel binding: {0}")]
    Exporter(rustls::Error),
}

impl Refusal {
    pub(crate) fn log(&self, peer: SocketAddr) {
        tracing::warn!(%peer, role = "none", outcome = "refused", reason = ?self.to_string(), "connection");
    }
}

/// The token handshake, admission and the session over an established
/// stream: a TCP or TLS socket, or the browser's WebSocket bridged to a
/// byte stream (`web`). `pending` is the connection's place among those
/// not yet authenticated, given up when the handshake ends.
#[allow(clippy::too_many_arguments)] // one call site per transport, all named
pub(crate) async fn serve_stream<S>(
    stream: S,
    binding: ChannelBinding,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: impl Place,
    cancel: CancellationToken,
    deadline: tokio::time::Instant,
    started: Instant,
    unsent: Option<UnsentLimit>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Over TLS the pending slot already knows the peer spoke. Over plain TCP
    // (`--no-tls`, loopback only) the agent speaks first and the viewer
    // ranks as silent until its `auth` arrives: the flood guarantee of the
    // pending table is a TLS one.
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, ServerCodec::default());
    let handshake = tokio::select! {
        () = cancel.cancelled() => return,
        () = pending.evicted().cancelled() => return Refusal::Displaced.log(peer),
        res = tokio::time::timeout_at(
            deadline,
            handshake::run(&mut reader, &mut write, &shared, peer, &binding),
        ) => res,
    };
    drop(pending);
    let auth = match handshake {
        Ok(Ok(auth)) => auth,
        Ok(Err(err)) => return refuse(&mut write, &shared, peer, err).await,
        Err(_) => return Refusal::Timeout(shared.timeouts.handshake).log(peer),
    };
    let Some(mut admitted) = admit(&mut write, &shared, peer, auth).await else {
        return;
    };
    admitted.unsent = unsent;
    live::run(reader, write, &shared, admitted, peer, &cancel, started).await;
}

/// A failed handshake: logged, counted against the address when the peer
/// misbehaved (a wrong token was counted when it was checked), and answered
/// when there is something to say.
async fn refuse<W: AsyncWrite + Unpin>(
    write: &mut W,
    shared: &Shared,
    peer: SocketAddr,
    err: HandshakeError,
) {
    let blocked = if err.is_misbehaviour() {
        shared.auth_failed(peer)
    } else if matches!(err, HandshakeError::WrongToken) {
        shared.blocked(peer)
    } else {
        None
    };
    tracing::warn!(
        %peer,
        role = "none",
        outcome = "refused",
        // Quoted and escaped (`?`): the reason may quote the peer, and a
        // bare value could fake this line's other fields.
        reason = ?err.to_string(),
        blocked_for = ?blocked,
        "connection"
    );
    // The answer that starts (or meets) a block says for how long, so the
    // person at the viewer knows when to try again: the next connection
    // from this address is dropped at accept without a word.
    let reply = match (&err, blocked) {
        (HandshakeError::Refused(Refused::Blocked(left)), _) => Some(
            ServerMessage::error(
                ErrorCode::AuthFailed,
                "authentication failed: too many failed sign-ins from this address",
            )
            .with_retry_after(*left),
        ),
        (_, Some(left)) => err.reply().map(|reply| reply.with_retry_after(left)),
        (_, None) => err.reply(),
    };
    if let Some(reply) = reply {
        send_and_close(write, &reply).await;
    }
}

/// Admission of an authenticated viewer: a place among `--max-viewers`
/// (else `busy`), then `welcome`. `None` when the viewer was turned away or
/// could not be told.
async fn admit<W: AsyncWrite + Unpin>(
    write: &mut W,
    shared: &Shared,
    peer: SocketAddr,
    auth: Authenticated,
) -> Option<Admitted> {
    let role = auth.role.as_str();
    let Some(place) = take_place(shared, auth.role) else {
        let why = if auth.role == Role::View && keeps_control_place(shared) {
            format!(
                "this agent serves at most {} viewers and keeps the last place for a viewer with control",
                shared.max_viewers
            )
        } else {
            format!("this agent already serves {} viewers", shared.max_viewers)
        };
        tracing::warn!(
            %peer,
            role,
            client = ?auth.client,
            outcome = "refused",
            reason = ?why,
            "connection"
        );
        send_and_close(write, &ServerMessage::error(ErrorCode::Busy, why)).await;
        return None;
    };
    let id = shared.next_viewer_id();
    // Taken with the list it sends, so that a change after this point
    // reaches the viewer as a `monitors` message.
    let mut layout = shared.hub.watch_monitors();
    let monitors = layout.borrow_and_update().to_vec();
    let monitor =
        crate::hub::fallback(&monitors, shared.default_monitor).unwrap_or(shared.default_monitor);
    let control = shared.control() && auth.role == Role::Control;
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        name: shared.name.clone(),
        monitor,
        control,
        // Of §2.2–2.3's optional parts: `profiles` and `regions` always,
        // `all-monitors` where the source lists an `all` entry.
        features: if shared.hub.offers_all_monitors() {
            vec![
                "profiles".to_owned(),
                "regions".to_owned(),
                "all-monitors".to_owned(),
            ]
        } else {
            vec!["profiles".to_owned(), "regions".to_owned()]
        },
        monitors,
    };
    let mut buf = bytes::BytesMut::new();
    let sent = welcome.encode(&mut buf).is_ok()
        && matches!(
            tokio::time::timeout(shared.timeouts.write, write.write_all(&buf)).await,
            Ok(Ok(()))
        );
    if !sent {
        tracing::warn!(%peer, role, client = ?auth.client, outcome = "closed before welcome", "connection");
        return None;
    }
    tracing::info!(%peer, role, client = ?auth.client, viewer = id, control, outcome = "accepted", "connection");
    Some(Admitted {
        id,
        role: auth.role,
        control,
        monitor,
        layout,
        _place: place,
        unsent: None,
    })
}

/// A place among `--max-viewers` for a viewer of `role`, or `None` (busy).
///
/// While the agent keeps a place for control ([`keeps_control_place`]), a
/// view-only viewer needs two free places, takes one and leaves the other:
/// view-only viewers get `busy` once `max - 1` places are taken, and a
/// viewer with control can still get the last one. Taking both at once and
/// giving one back makes the check and the take a single step, so viewers
/// arriving together cannot both take "the second-last" place.
fn take_place(shared: &Shared, role: Role) -> Option<OwnedSemaphorePermit> {
    let viewers = Arc::clone(&shared.viewers);
    if role == Role::View && keeps_control_place(shared) {
        let mut two = viewers.try_acquire_many_owned(2).ok()?;
        drop(two.split(1));
        return Some(two);
    }
    viewers.try_acquire_owned().ok()
}

/// Whether one place is held for a viewer with control: there are two
/// tokens (`--view-token`), and viewers may steer (not `--view-only`, and
/// input works). Otherwise every place is alike.
fn keeps_control_place(shared: &Shared) -> bool {
    shared.control()
        && matches!(
            shared.access,
            crate::config::Access::Token {
                view_token: Some(_),
                ..
            }
        )
}

/// Best effort: one last message, then close. Bounded in time because the
/// peer may not be reading.
async fn send_and_close<W: AsyncWrite + Unpin>(write: &mut W, msg: &ServerMessage) {
    let mut buf = bytes::BytesMut::new();
    if msg.encode(&mut buf).is_ok() {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = write.write_all(&buf).await;
            let _ = write.shutdown().await;
        })
        .await;
    }
}
