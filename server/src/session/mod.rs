//! One viewer connection, from accept to close: TLS, the token handshake,
//! then two small tasks, frames down ([`Downlink`]) and commands up
//! ([`Uplink`]), and one log line for the attempt and one for the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_protocol::codec::ServerCodec;
use lookout_protocol::{ErrorCode, HANDSHAKE_TIMEOUT, PROTOCOL_VERSION, ServerMessage};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::agent::{MAX_PENDING_HANDSHAKES, Shared};
use crate::coalesce::MoveCoalescer;
use crate::downlink::{Downlink, DownlinkError, View, WRITE_DEADLINE};
use crate::handshake::{self, HandshakeError, Role};
use crate::pending::PendingSlot;
use crate::uplink::{Ended, Uplink};

/// Control replies waiting for the writer. Replies are small and a reading
/// viewer drains them at once; a viewer that does not read loses replies
/// beyond this (see [`Uplink::reply`]) instead of growing memory.
const OUTBOX: usize = 16;

/// How long a closing error message may take to reach a viewer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves one accepted connection to the end: TLS (unless `--no-tls`), the
/// token handshake, then the session. `pending` is the connection's place
/// among pending handshakes; it is given up as soon as the handshake is
/// over, and dropping it early (a newer connection displaced this one) ends
/// the connection.
pub(crate) async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: PendingSlot,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    // One deadline covers TLS and the token exchange.
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let Some(acceptor) = shared.tls.clone().map(tokio_rustls::TlsAcceptor::from) else {
        return serve_stream(tcp, peer, shared, pending, cancel, deadline, started).await;
    };
    let accepted = tokio::select! {
        () = cancel.cancelled() => return,
        () = pending.evicted.cancelled() => Err(Refusal::Displaced),
        res = tokio::time::timeout_at(deadline, secure(acceptor, tcp, &pending)) => match res {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(err)) => Err(Refusal::Tls(err)),
            Err(_) => Err(Refusal::Timeout),
        },
    };
    match accepted {
        Ok(tls) => serve_stream(tls, peer, shared, pending, cancel, deadline, started).await,
        Err(refusal) => refusal.log(peer),
    }
}

/// The TLS handshake. Once the peer has said anything at all, it ranks
/// above idle connections in the pending table.
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
enum Refusal {
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("handshake timed out after {HANDSHAKE_TIMEOUT:?}")]
    Timeout,
    #[error("dropped: {MAX_PENDING_HANDSHAKES} newer handshakes pending")]
    Displaced,
}

impl Refusal {
    fn log(&self, peer: SocketAddr) {
        tracing::warn!(%peer, role = "none", outcome = %self, "connection");
    }
}

/// The token handshake and the session over an established stream.
async fn serve_stream<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: PendingSlot,
    cancel: CancellationToken,
    deadline: tokio::time::Instant,
    started: Instant,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    pending.progressed();
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, ServerCodec::default());

    let handshake = tokio::select! {
        () = cancel.cancelled() => return,
        () = pending.evicted.cancelled() => return Refusal::Displaced.log(peer),
        res = tokio::time::timeout_at(
            deadline,
            run_handshake(&mut reader, &mut write, &shared),
        ) => res,
    };
    drop(pending);
    let auth = match handshake {
        Ok(Ok(auth)) => auth,
        Ok(Err(err)) => {
            let blocked = matches!(err, HandshakeError::WrongToken)
                .then(|| shared.auth_failed(peer))
                .flatten();
            tracing::warn!(
                %peer,
                role = "none",
                outcome = %format_args!("refused: {err}"),
                blocked_for = ?blocked,
                "connection"
            );
            if let Some(reply) = err.reply() {
                send_and_close(&mut write, &reply).await;
            }
            return;
        }
        Err(_) => return Refusal::Timeout.log(peer),
    };
    let client = auth.client;
    let role = auth.role.as_str();

    let Ok(_viewer_slot) = Arc::clone(&shared.viewers).try_acquire_owned() else {
        tracing::warn!(
            %peer,
            role,
            %client,
            outcome = %format_args!("refused: already {} viewers", shared.max_viewers),
            "connection"
        );
        let busy = ServerMessage::error(
            ErrorCode::Busy,
            format!("this agent already serves {} viewers", shared.max_viewers),
        );
        send_and_close(&mut write, &busy).await;
        return;
    };

    let id = shared.next_viewer_id();
    let monitor = shared.default_monitor;
    let control = shared.control() && auth.role == Role::Control;
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        monitor,
        control,
        monitors: shared.hub.monitors().to_vec(),
    };
    let mut buf = bytes::BytesMut::new();
    let sent = welcome.encode(&mut buf).is_ok()
        && matches!(
            tokio::time::timeout(WRITE_DEADLINE, write.write_all(&buf)).await,
            Ok(Ok(()))
        );
    if !sent {
        return;
    }
    tracing::info!(%peer, role, %client, viewer = id, control, outcome = "accepted", "connection");

    let session = cancel.child_token();
    let (view_tx, view_rx) = watch::channel(View {
        monitoring: false,
        monitor,
    });
    let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX);
    let downlink = tokio::spawn(
        Downlink {
            write,
            hub: shared.hub.clone(),
            view: view_rx,
            outbox: outbox_rx,
            cancel: session.clone(),
        }
        .run(),
    );
    let mut uplink = Uplink {
        id,
        shared: &shared,
        control,
        view: view_tx,
        outbox: outbox_tx,
        cancel: session.clone(),
        inputs: 0,
        moves: MoveCoalescer::default(),
    };
    let ended = uplink.run(&mut reader).await;
    let inputs = uplink.inputs;
    // Let the writer send what is queued (a closing error, say), but not
    // for long: a stalled viewer must not hold the session open.
    drop(uplink);
    let mut downlink = downlink;
    let (frames, written) = match tokio::time::timeout(CLOSE_GRACE, &mut downlink).await {
        Ok(joined) => joined.unwrap_or((0, Ok(()))),
        Err(_) => {
            session.cancel();
            downlink.await.unwrap_or((0, Ok(())))
        }
    };
    if let Some(input) = &shared.input {
        input.release_all(id);
    }
    // The writer's failure (a stalled viewer, say) explains more than the
    // reader's "cancelled".
    let reason = match (&ended, written) {
        (Ended::Cancelled, Err(err)) if !matches!(err, DownlinkError::Cancelled) => err.to_string(),
        _ => ended.to_string(),
    };
    tracing::info!(
        %peer,
        role,
        viewer = id,
        duration = ?started.elapsed(),
        frames,
        inputs,
        %reason,
        "session ended"
    );
}

async fn run_handshake<R, W>(
    reader: &mut FramedRead<R, ServerCodec>,
    write: &mut W,
    shared: &Shared,
) -> Result<handshake::Authenticated, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (hello, challenge) = handshake::hello(&shared.access)?;
    let mut buf = bytes::BytesMut::new();
    hello.encode(&mut buf)?;
    write.write_all(&buf).await?;
    handshake::authenticate(reader, &shared.access, &challenge).await
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
