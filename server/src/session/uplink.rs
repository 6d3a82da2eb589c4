//! Commands up: one loop per viewer reads its messages and carries them
//! out, in order. Pointer moves are paced by a [`MoveCoalescer`]; a viewer
//! silent for [`Timeouts::silence`](lookout_protocol::Timeouts) is dropped.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use lookout_protocol::codec::{CodecError, ServerCodec};
use lookout_protocol::{ClientMessage, ErrorCode, MAX_TEXT_CHARS, ServerMessage};
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::downlink::Outgoing;
use super::shared::Shared;
use super::view::{SentSize, View};
use crate::coalesce::MoveCoalescer;
use crate::input::{InputAction, ViewerId};
use crate::mapping::frame_to_desktop;
use crate::rendition::Ask;

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Why a session ended, for the disconnect log line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ended {
    #[error("viewer closed the connection")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(lookout_protocol::ProtocolError),
    #[error("transport: {0}")]
    Io(std::io::Error),
    #[error("agent shutting down or writer stopped")]
    Cancelled,
    #[error("viewer silent for {0:?}")]
    Silent(std::time::Duration),
}

/// Commands up: reads the viewer's messages and carries them out.
pub(crate) struct Uplink<'a> {
    pub id: ViewerId,
    pub shared: &'a Shared,
    /// Whether this viewer may steer (its role, and the agent's setting).
    pub control: bool,
    pub view: Arc<watch::Sender<View>>,
    /// The size of the frames this viewer was last sent.
    pub sent_size: Arc<SentSize>,
    pub outbox: mpsc::Sender<Outgoing>,
    pub cancel: CancellationToken,
    /// Input actions carried out.
    pub inputs: u64,
    /// The same count, for `lookout-server status`.
    pub counters: Arc<super::registry::Counters>,
    pub moves: MoveCoalescer,
}

impl Uplink<'_> {
    /// Serves the viewer's commands until the session ends, and says why.
    pub(crate) async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut FramedRead<R, ServerCodec>,
    ) -> Ended {
        let mut heard = Instant::now();
        let silence = self.shared.timeouts.silence;
        loop {
            let due = self.moves.due();
            let next = tokio::select! {
                () = self.cancel.cancelled() => return Ended::Cancelled,
                () = sleep_until(due) => {
                    if let Some(pos) = self.moves.take(Instant::now())
                        && let Err(ended) = self.move_to(pos).await
                    {
                        return ended;
                    }
                    continue;
                }
                next = tokio::time::timeout_at((heard + silence).into(), reader.next()) => match next {
                    Ok(next) => next,
                    Err(_) => return Ended::Silent(silence),
                },
            };
            heard = Instant::now();
            match next {
                None => return Ended::Closed,
                // A viewer that hangs up without a TLS close_notify has
                // still just hung up: messages are length-framed, so a
                // half-received one is never acted on.
                Some(Err(CodecError::Io(err)))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ended::Closed;
                }
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
            ClientMessage::StartMonitor(settings) => {
                // Refused, it changes nothing: not the settings, not whether
                // this viewer is monitoring.
                if let Err(err) = settings.check() {
                    self.reply(ServerMessage::error(
                        ErrorCode::BadRequest,
                        format!("{err}; the settings stay as they were"),
                    ));
                    return Ok(());
                }
                // Every start asks for a full frame next (a viewer that
                // lost track of its picture sends one to get back in step).
                self.view.send_modify(|v| {
                    v.monitoring = true;
                    v.regions = settings.regions;
                    v.ask = Ask::from_settings(&settings, self.shared.quality);
                    v.fps = settings.fps;
                    v.restarts += 1;
                });
                true
            }
            ClientMessage::StopMonitor => self
                .view
                .send_if_modified(|v| std::mem::replace(&mut v.monitoring, false)),
            ClientMessage::SelectMonitor { id } => {
                if self.shared.monitor(id).is_some() {
                    // The first frame after `select_monitor` is full, even
                    // of the monitor already shown (§2.3).
                    self.view.send_modify(|v| {
                        v.monitor = id;
                        v.restarts += 1;
                    });
                    // Until its first frame, positions are in its size.
                    self.sent_size.clear();
                    true
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
        if !self.control {
            self.reply(ServerMessage::error(
                ErrorCode::ControlDisabled,
                if self.shared.control() {
                    "this viewer's token allows watching only"
                } else {
                    "this agent is view-only"
                },
            ));
            return Ok(());
        }
        let now = Instant::now();
        if let ClientMessage::MouseMove { x, y } = msg {
            // Mapped now, with the monitor the viewer sees now.
            let Some(pos) = self.to_desktop((x, y)) else {
                return Ok(());
            };
            return match self.moves.offer(pos, now) {
                Some(pos) => self.move_to(pos).await,
                None => Ok(()),
            };
        }
        // A held move goes first, so a click lands where the pointer was.
        if let Some(pos) = self.moves.take(now) {
            self.move_to(pos).await?;
        }
        let action = match msg {
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
        self.act(action).await
    }

    /// A point of the frames this viewer receives, on the desktop.
    fn to_desktop(&self, (x, y): (i32, i32)) -> Option<(i32, i32)> {
        let monitor_id = self.view.borrow().monitor;
        let monitor = self.shared.monitor(monitor_id)?;
        // The pixel space of the frames it was sent (scaled, maybe), else
        // the monitor's own.
        let frame_size = self
            .sent_size
            .get()
            .unwrap_or((monitor.width, monitor.height));
        Some(frame_to_desktop(&monitor, frame_size, (x, y)))
    }

    /// Moves the pointer to a desktop point.
    async fn move_to(&mut self, (x, y): (i32, i32)) -> Result<(), Ended> {
        self.act(InputAction::MoveTo { x, y }).await
    }

    async fn act(&mut self, action: InputAction) -> Result<(), Ended> {
        let Some(input) = self.shared.input.as_ref() else {
            return Ok(());
        };
        if self.inputs == 0 {
            tracing::info!("viewer {} started steering", self.id);
        }
        self.inputs += 1;
        self.counters.input();
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
