//! One viewer connection, from accept to close: handshake, then two small
//! tasks, frames down ([`Downlink`]) and commands up (the loop here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lookout_protocol::codec::{CodecError, ServerCodec};
use lookout_protocol::{
    ClientMessage, ErrorCode, HANDSHAKE_TIMEOUT, MAX_TEXT_CHARS, PROTOCOL_VERSION, ServerMessage,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::agent::Shared;
use crate::downlink::{Downlink, Outgoing, View};
use crate::handshake::{self, HandshakeError};
use crate::input::{InputAction, ViewerId};
use crate::mapping::frame_to_desktop;

/// Control replies waiting for the writer. Replies are small and a reading
/// viewer drains them at once; a viewer that does not read loses replies
/// beyond this (see [`Uplink::reply`]) instead of growing memory.
const OUTBOX: usize = 16;

/// How long a closing error message may take to reach a viewer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves one accepted connection to the end. `pending` is the handshake
/// slot; it is released as soon as the handshake is over.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: OwnedSemaphorePermit,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = FramedRead::new(read, ServerCodec::default());

    let handshake = tokio::select! {
        () = cancel.cancelled() => return,
        res = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            run_handshake(&mut reader, &mut write, &shared),
        ) => res,
    };
    drop(pending);
    let client = match handshake {
        Ok(Ok(auth)) => auth.client,
        Ok(Err(err)) => {
            tracing::warn!(%peer, error = %err, "handshake failed");
            if let Some(reply) = err.reply() {
                send_and_close(&mut write, &reply).await;
            }
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "handshake timed out after {HANDSHAKE_TIMEOUT:?}");
            return;
        }
    };

    let Ok(_viewer_slot) = Arc::clone(&shared.viewers).try_acquire_owned() else {
        tracing::warn!(%peer, %client, "turned away: already {} viewers", shared.max_viewers);
        let busy = ServerMessage::error(
            ErrorCode::Busy,
            format!("this agent already serves {} viewers", shared.max_viewers),
        );
        send_and_close(&mut write, &busy).await;
        return;
    };

    let id = shared.next_viewer_id();
    let monitor = shared.default_monitor;
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        monitor,
        control: shared.control(),
        monitors: shared.hub.monitors().to_vec(),
    };
    let mut buf = bytes::BytesMut::new();
    if welcome.encode(&mut buf).is_err() || write.write_all(&buf).await.is_err() {
        return;
    }
    tracing::info!(%peer, viewer = id, %client, control = shared.control(), "viewer authenticated");

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
        view: view_tx,
        outbox: outbox_tx,
        cancel: session.clone(),
        inputs: 0,
    };
    let ended = uplink.run(&mut reader).await;
    let inputs = uplink.inputs;
    // Let the writer send what is queued (a closing error, say), but not
    // for long: a stalled viewer must not hold the session open.
    drop(uplink);
    let mut downlink = downlink;
    let frames = match tokio::time::timeout(CLOSE_GRACE, &mut downlink).await {
        Ok(joined) => joined.map(|(frames, _)| frames).unwrap_or(0),
        Err(_) => {
            session.cancel();
            downlink.await.map(|(frames, _)| frames).unwrap_or(0)
        }
    };
    if let Some(input) = &shared.input {
        input.release_all(id);
    }
    tracing::info!(
        %peer,
        viewer = id,
        duration = ?started.elapsed(),
        frames,
        inputs,
        reason = %ended,
        "viewer disconnected"
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

/// Why a session ended, for the disconnect log line.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("viewer closed the connection")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(lookout_protocol::ProtocolError),
    #[error("transport: {0}")]
    Io(std::io::Error),
    #[error("agent shutting down or writer stopped")]
    Cancelled,
}

/// Commands up: reads the viewer's messages and carries them out.
struct Uplink<'a> {
    id: ViewerId,
    shared: &'a Shared,
    view: watch::Sender<View>,
    outbox: mpsc::Sender<Outgoing>,
    cancel: CancellationToken,
    inputs: u64,
}

impl Uplink<'_> {
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut FramedRead<R, ServerCodec>,
    ) -> Ended {
        loop {
            let next = tokio::select! {
                () = self.cancel.cancelled() => return Ended::Cancelled,
                next = reader.next() => next,
            };
            match next {
                None => return Ended::Closed,
                Some(Err(CodecError::Io(err))) => return Ended::Io(err),
                Some(Err(CodecError::Protocol(err))) => {
                    self.close(ServerMessage::error(ErrorCode::Protocol, err.to_string()));
                    return Ended::Protocol(err);
                }
                Some(Ok(msg)) => {
                    if let Err(err) = self.handle(msg).await {
                        return err;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, msg: ClientMessage) -> Result<(), Ended> {
        if msg.is_input() {
            return self.input(msg).await;
        }
        match msg {
            ClientMessage::StartMonitor => self
                .view
                .send_if_modified(|v| !std::mem::replace(&mut v.monitoring, true)),
            ClientMessage::StopMonitor => self
                .view
                .send_if_modified(|v| std::mem::replace(&mut v.monitoring, false)),
            ClientMessage::SelectMonitor { id } => {
                if self.shared.monitor(id).is_some() {
                    self.view
                        .send_if_modified(|v| std::mem::replace(&mut v.monitor, id) != id)
                } else {
                    self.reply(ServerMessage::error(
                        ErrorCode::BadRequest,
                        format!("no monitor with id {id}"),
                    ));
                    false
                }
            }
            ClientMessage::Ping { id } => {
                self.reply(ServerMessage::Pong { id });
                false
            }
            ClientMessage::Auth { .. } => {
                let err = lookout_protocol::ProtocolError::InvalidValue {
                    kind: "auth",
                    reason: "already authenticated",
                };
                self.close(ServerMessage::error(ErrorCode::Protocol, err.to_string()));
                return Err(Ended::Protocol(err));
            }
            // Input commands were handled above.
            _ => false,
        };
        Ok(())
    }

    async fn input(&mut self, msg: ClientMessage) -> Result<(), Ended> {
        let Some(input) = self.shared.input.as_ref().filter(|_| self.shared.control()) else {
            self.reply(ServerMessage::error(
                ErrorCode::ControlDisabled,
                "this agent is view-only",
            ));
            return Ok(());
        };
        let action = match msg {
            ClientMessage::MouseMove { x, y } => {
                let monitor_id = self.view.borrow().monitor;
                let Some(monitor) = self.shared.monitor(monitor_id) else {
                    return Ok(());
                };
                let frame_size = self
                    .shared
                    .hub
                    .frame_size(monitor_id)
                    .unwrap_or((monitor.width, monitor.height));
                let (x, y) = frame_to_desktop(monitor, frame_size, (x, y));
                InputAction::MoveTo { x, y }
            }
            ClientMessage::MouseButton { button, pressed } => {
                InputAction::Button { button, pressed }
            }
            ClientMessage::Scroll { dx, dy } => InputAction::Scroll {
                // A wheel has no business turning hundreds of notches at once.
                dx: dx.clamp(-MAX_SCROLL_STEPS, MAX_SCROLL_STEPS),
                dy: dy.clamp(-MAX_SCROLL_STEPS, MAX_SCROLL_STEPS),
            },
            ClientMessage::Key { key, pressed } => InputAction::Key { key, pressed },
            ClientMessage::Text { text } => {
                if text.chars().count() > MAX_TEXT_CHARS {
                    self.reply(ServerMessage::error(
                        ErrorCode::BadRequest,
                        format!("text is limited to {MAX_TEXT_CHARS} characters"),
                    ));
                    return Ok(());
                }
                InputAction::Text(text)
            }
            _ => return Ok(()),
        };
        self.inputs += 1;
        tokio::select! {
            () = self.cancel.cancelled() => Err(Ended::Cancelled),
            sent = input.act(self.id, action) => {
                if !sent {
                    self.reply(ServerMessage::error(ErrorCode::Internal, "input is unavailable"));
                }
                Ok(())
            }
        }
    }

    /// Queues a reply. A viewer that lets 16 replies pile up is not reading;
    /// it loses the extra replies rather than growing our memory.
    fn reply(&self, msg: ServerMessage) {
        if self.outbox.try_send(Outgoing::Message(msg)).is_err() {
            tracing::debug!(viewer = self.id, "reply dropped: viewer is not reading");
        }
    }

    /// Queues a final message; the writer sends it and ends the session.
    fn close(&self, msg: ServerMessage) {
        if self.outbox.try_send(Outgoing::Close(msg)).is_err() {
            self.cancel.cancel();
        }
    }
}

/// Most wheel steps one `scroll` command may turn, each way.
const MAX_SCROLL_STEPS: i32 = 100;
