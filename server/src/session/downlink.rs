//! Frames down: one task per viewer writes control replies and, while the
//! viewer is monitoring, the newest frame of its monitor.
//!
//! While it is monitoring, the viewer is told when frames stop because
//! capture does not work, and when they flow again (`stream`, protocol
//! §2.3.2), so that it never shows a frozen picture as live.
//!
//! Backpressure is the socket itself: while a write is pending this task
//! does not look at new frames, and when it looks again it takes only the
//! newest one. A stalled viewer therefore holds at most one frame and never
//! slows anyone else.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use lookout_protocol::{ServerMessage, StreamState};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::UnsentLimit;
use super::adapt::Adapt;
use super::view::{SentSize, View};
use crate::availability::Availability;
use crate::frame::EncodedFrame;
use crate::hub::{FrameHub, MonitorList, Subscription};
use crate::picture::Picture;
use crate::rendition::{Ask, Profile};

/// The least time between the first frames of two starts of one viewer.
const RESTART_GAP: Duration = Duration::from_millis(250);

/// How long the writer tries to close the stream politely at the end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A control message for the writer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send and carry on.
    Message(ServerMessage),
    /// Send, then end the session.
    Close(ServerMessage),
}

/// Why the writer stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownlinkError {
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("viewer accepted no data for {0:?}")]
    Stalled(Duration),
    #[error("cannot encode a reply: {0}")]
    Encode(#[from] lookout_protocol::ProtocolError),
    #[error("cancelled")]
    Cancelled,
    #[error("the writer task panicked")]
    Panicked,
}

/// What a paused viewer is told (protocol §2.3.2 `stream paused`).
pub(crate) const PAUSED_REASON: &str = "paused by the agent's user";

/// The writer half of a session.
pub(crate) struct Downlink<W> {
    pub write: W,
    pub hub: FrameHub,
    pub view: watch::Receiver<View>,
    /// The same view, to move the viewer off a monitor that is gone.
    pub view_tx: Arc<watch::Sender<View>>,
    /// The monitor list: each change is sent as a `monitors` message.
    pub layout: watch::Receiver<MonitorList>,
    /// Whether capture works: changes are sent as `stream` messages to a
    /// monitoring viewer.
    pub availability: watch::Receiver<Availability>,
    /// Whether the agent's user paused streaming: while it is, this viewer
    /// holds no subscription (nothing is captured for it) and is told
    /// `paused`.
    pub paused: watch::Receiver<bool>,
    /// Frames and bytes sent, for `lookout-server status`.
    pub counters: Arc<super::registry::Counters>,
    /// Whether this viewer gets frames now, for the "watching" log lines.
    pub watching: bool,
    /// What this viewer was last told with `stream` while monitoring
    /// (`None`: nothing, which means live).
    pub told: Option<StreamState>,
    /// The picture this viewer has, as (epoch, seq) of the last frame sent
    /// since its last start and the rendition it was in; `None`: its next
    /// frame must be full.
    pub have: Option<(u64, u64, Profile)>,
    /// The size of what it was sent last, for its uplink.
    pub sent_size: Arc<SentSize>,
    /// When the next frame may go, at the viewer's frame rate.
    pub next_at: Option<Instant>,
    /// When the first frame of the viewer's last start (`start_monitor`,
    /// `select_monitor`) went or is due.
    pub restarted_at: Option<Instant>,
    /// How much this viewer's link carries (adaptive rate).
    pub adapt: Adapt,
    /// Its socket's limit on unsent bytes, lowered on a slow link.
    pub unsent: Option<UnsentLimit>,
    /// The rendition changed since the last frame: the next one is full,
    /// and its size says nothing about the link.
    pub switched: bool,
    /// For the log.
    pub viewer: u64,
    pub outbox: mpsc::Receiver<Outgoing>,
    pub cancel: CancellationToken,
    /// A viewer that accepts not one byte for this long is dropped
    /// ([`lookout_protocol::Timeouts::write`]). Its socket buffers are full
    /// by then, so it holds one frame and its TLS buffer at most; the
    /// deadline frees even that.
    pub write_deadline: Duration,
}

impl<W: AsyncWrite + Unpin> Downlink<W> {
    /// Runs until the session ends; returns the number of frames sent.
    pub(crate) async fn run(mut self) -> (u64, Result<(), DownlinkError>) {
        let mut frames = 0;
        let result = self.serve(&mut frames).await;
        self.log_watching(false, 0);
        // Whatever ended the writer ends the session.
        self.cancel.cancel();
        // A TLS shutdown writes a close_notify, which a stalled viewer
        // never takes: bounded, like every other write.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.write.shutdown()).await;
        (frames, result)
    }

    async fn serve(&mut self, frames: &mut u64) -> Result<(), DownlinkError> {
        let mut sub: Option<Subscription> = None;
        let mut restarts = 0;
        // Ends the adaptive rate's measurements also while nothing is sent,
        // so that a quiet screen is no evidence of a good link.
        let mut ticker = tokio::time::interval(super::adapt::WINDOW);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(DownlinkError::Cancelled),
                _ = ticker.tick() => {
                    if self.adapt.tick(std::time::Instant::now()) {
                        self.adapted(&mut sub, &mut restarts);
                    }
                }
                out = self.outbox.recv() => match out {
                    Some(Outgoing::Message(msg)) => self.send_message(&msg).await?,
                    Some(Outgoing::Close(msg)) => return self.send_message(&msg).await,
                    None => return Ok(()),
                },
                changed = self.layout.changed() => {
                    // Never closed while this task holds the hub.
                    if changed.is_err() {
                        return Ok(());
                    }
                    self.follow_layout().await?;
                    // A new size of the same monitor: a new box for the
                    // adaptive rate's steps.
                    self.follow_view(&mut sub, &mut restarts);
                }
                changed = self.view.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    self.follow_view(&mut sub, &mut restarts);
                    self.tell_stream().await?;
                }
                // Before frames: after an outage, `live` goes out ahead of
                // the first new frame.
                changed = self.availability.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    self.tell_stream().await?;
                }
                changed = self.paused.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    // `paused` goes out before the subscription is dropped,
                    // `live` before the first new (full) frame.
                    self.tell_stream().await?;
                    self.follow_view(&mut sub, &mut restarts);
                }
                // At the viewer's frame rate: the newest picture is taken
                // when the interval is over (a watch keeps only that one).
                () = pace(self.next_at), if self.next_at.is_some() => self.next_at = None,
                picture = next_frame(&mut sub), if self.next_at.is_none() => match picture {
                    Some(picture) => {
                        let Some(given) = sub.as_mut().map(|s| {
                            // Whoever it shared a rendition with may have
                            // left or changed.
                            self.hub.regive(s);
                            s.given()
                        }) else {
                            continue;
                        };
                        let started = Instant::now();
                        if let Some((writing, bytes)) = self.send_picture(&picture, given).await? {
                            *frames += 1;
                            self.counters.sent(bytes);
                            self.next_at = self.interval().map(|i| started + i);
                            let switched = std::mem::take(&mut self.switched);
                            if self.adapt.sent(std::time::Instant::now(), writing, bytes, switched) {
                                self.adapted(&mut sub, &mut restarts);
                            }
                            if let Some(unsent) = &mut self.unsent {
                                unsent.set(self.adapt.unsent_limit());
                            }
                        }
                    }
                    // The monitor's slot was made anew (it went and came
                    // back between two looks at the list): watch the new
                    // one, from a full frame.
                    None => {
                        sub = None;
                        self.follow_view(&mut sub, &mut restarts);
                    }
                },
            }
        }
    }

    /// Tells the viewer the new monitor list and, when its monitor is gone,
    /// moves it to the primary (or first) one: the new subscription's next
    /// frame is a whole picture of that monitor.
    async fn follow_layout(&mut self) -> Result<(), DownlinkError> {
        let monitors = self.layout.borrow_and_update().to_vec();
        let current = self.view.borrow().monitor;
        let moved_to = crate::hub::fallback(&monitors, current).filter(|&id| id != current);
        self.send_message(&ServerMessage::Monitors { monitors })
            .await?;
        if let Some(id) = moved_to {
            tracing::info!(
                viewer = self.viewer,
                from = current,
                to = id,
                "monitor gone; viewer moved"
            );
            self.view_tx.send_modify(|v| v.monitor = id);
        }
        Ok(())
    }

    /// Follows a new step of the adaptive rate: a new rendition is a new
    /// subscription (and a full frame); a new frame rate applies from the
    /// next frame.
    fn adapted(&mut self, sub: &mut Option<Subscription>, restarts: &mut u64) {
        let step = self.adapt.step();
        self.switched = true;
        tracing::debug!(
            viewer = self.viewer,
            level = self.adapt.level(),
            fps = ?step.fps,
            quality = ?step.quality,
            scale = ?step.scale,
            "adaptive rate"
        );
        self.follow_view(sub, restarts);
    }

    /// What this viewer is to be given now: what it asked for, lowered by
    /// the adaptive rate for its monitor's size.
    fn ask_now(&self, view: &View) -> Ask {
        let size = self
            .hub
            .monitor(view.monitor)
            .map_or((u32::MAX, u32::MAX), |m| (m.width, m.height));
        self.adapt.apply(view.ask, size)
    }

    /// Subscribes to, switches or drops the monitor stream as the view says.
    /// A new `start_monitor` or `select_monitor` starts this viewer over
    /// with a full frame of the newest picture.
    fn follow_view(&mut self, sub: &mut Option<Subscription>, restarts: &mut u64) {
        let view = *self.view.borrow();
        let paused = *self.paused.borrow();
        self.log_watching(view.monitoring && !paused, view.monitor);
        if !view.monitoring || paused {
            *sub = None;
            self.have = None;
            return;
        }
        let restarted = std::mem::replace(restarts, view.restarts) != view.restarts;
        if restarted {
            // New settings: a new frame rate from now on. The first frame
            // of a start goes out at once, unless the one of another start
            // went moments ago: each costs a full frame (and a new
            // rendition a scale), so a viewer sending `start_monitor` in a
            // loop gets one every RESTART_GAP, with its newest settings.
            let now = Instant::now();
            let slot = match self.restarted_at {
                // One is due already: this start's frame is that one.
                Some(due) if due > now => Some(due),
                Some(went) if went + RESTART_GAP > now => Some(went + RESTART_GAP),
                _ => None,
            };
            self.next_at = slot;
            self.restarted_at = Some(slot.unwrap_or(now));
        }
        let ask = self.ask_now(&view);
        if let Some(s) = sub.as_mut().filter(|s| {
            s.monitor() == view.monitor
                && s.regions() == view.regions
                && s.asked() == ask
                && s.frames.has_changed().is_ok()
        }) {
            if restarted {
                self.have = None;
                s.frames.mark_changed();
            }
            s.set_fps(self.fps_now());
            return;
        }
        // Drop the old subscription first so its monitor can go idle. The
        // picture this viewer has stays its own: the next one is sent as an
        // update when it is of the same stream and rendition.
        *sub = None;
        if restarted {
            self.have = None;
        }
        *sub = self
            .hub
            .subscribe(view.monitor, view.regions, ask)
            .map(|mut s| {
                // A frame cached by other viewers' capture goes out at once.
                s.frames.mark_changed();
                s
            });
        if let Some(s) = sub.as_ref() {
            s.set_fps(self.fps_now());
        }
    }

    /// Tells a monitoring viewer whether frames can flow, when that differs
    /// from what it was last told. A viewer that is not monitoring is told
    /// nothing (it asked for no frames), and is told afresh when it starts.
    async fn tell_stream(&mut self) -> Result<(), DownlinkError> {
        if !self.view.borrow().monitoring {
            self.told = None;
            return Ok(());
        }
        let paused = *self.paused.borrow_and_update();
        let (state, reason) = match &*self.availability.borrow_and_update() {
            _ if paused => (StreamState::Paused, PAUSED_REASON.to_owned()),
            Availability::Live => (StreamState::Live, "screen capture works again".to_owned()),
            Availability::Unavailable { reason, .. } => (StreamState::Unavailable, reason.clone()),
        };
        // Live is what a viewer assumes: said only to end an outage.
        let said = self.told.unwrap_or(StreamState::Live);
        if state == said {
            return Ok(());
        }
        self.told = Some(state);
        tracing::debug!(viewer = self.viewer, ?state, "stream state told");
        self.send_message(&ServerMessage::Stream { state, reason })
            .await
    }

    /// One line at the default level when this viewer starts or stops
    /// getting frames (the agent's user sees who watches).
    fn log_watching(&mut self, watching: bool, monitor: u32) {
        if std::mem::replace(&mut self.watching, watching) == watching {
            return;
        }
        if watching {
            tracing::info!("viewer {} started watching monitor {monitor}", self.viewer);
        } else {
            tracing::info!("viewer {} stopped watching", self.viewer);
        }
    }

    async fn send_message(&mut self, msg: &ServerMessage) -> Result<(), DownlinkError> {
        let mut buf = BytesMut::with_capacity(256);
        msg.encode(&mut buf)?;
        self.write_parts(&[&buf]).await
    }

    /// The shortest time between two frames to this viewer, if it asked
    /// for fewer frames than the agent makes.
    fn interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1) / self.fps_now()?.max(1))
    }

    /// The most frames a second this viewer takes now: what it asked for,
    /// lowered by the adaptive rate (`None`: every frame the agent makes).
    fn fps_now(&self) -> Option<u32> {
        let asked = self.view.borrow().fps;
        match (asked, self.adapt.step().fps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends what this viewer needs of `picture` in the rendition `given`
    /// selects: the update from the picture it has when it takes region
    /// updates and one can be made, else the full frame. Returns how long
    /// the writing took and how many bytes it wrote, if anything was sent
    /// (nothing when it has this picture already).
    async fn send_picture(
        &mut self,
        picture: &Arc<Picture>,
        given: Ask,
    ) -> Result<Option<(Duration, usize)>, DownlinkError> {
        let regions = self.view.borrow().regions;
        let profile = given.profile(picture.size());
        let have = self
            .have
            .filter(|&(epoch, _, had)| regions && epoch == picture.epoch && had == profile)
            .map(|(_, seq, _)| seq);
        if have.is_some_and(|seq| seq >= picture.seq) {
            return Ok(None);
        }
        let frame = match picture.ready_for(have, profile) {
            Some(frame) => frame,
            // Made on the blocking pool: JPEG encoding is CPU work.
            None => {
                let made = Arc::clone(picture);
                let made = tokio::task::spawn_blocking(move || made.for_viewer(have, profile))
                    .await
                    .map_err(|_| DownlinkError::Panicked)?;
                match made {
                    Ok(frame) => frame,
                    // This picture cannot be sent; the next one is sent
                    // whole. The session goes on.
                    Err(err) => {
                        tracing::warn!(viewer = self.viewer, error = %err, "frame skipped");
                        self.have = None;
                        return Ok(None);
                    }
                }
            }
        };
        let started = Instant::now();
        self.send_frame(&frame).await?;
        let writing = started.elapsed();
        self.have = Some((picture.epoch, picture.seq, profile));
        self.sent_size
            .set((frame.width, frame.height), picture.size(), writing);
        Ok(Some((writing, frame.len())))
    }

    async fn send_frame(&mut self, frame: &EncodedFrame) -> Result<(), DownlinkError> {
        let parts: Vec<&[u8]> = frame.parts.iter().map(|p| &p[..]).collect();
        self.write_parts(&parts).await
    }

    /// Writes every part, giving up as soon as the session is cancelled
    /// (a stalled viewer must not keep a shutdown waiting) or the viewer
    /// takes no byte for the write deadline.
    async fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), DownlinkError> {
        let cancel = self.cancel.clone();
        let deadline = self.write_deadline;
        let write = &mut self.write;
        let all = async {
            for part in parts {
                let mut rest = *part;
                while !rest.is_empty() {
                    let n = progress(deadline, write.write(rest)).await?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                    }
                    rest = rest.get(n..).unwrap_or_default();
                }
            }
            progress(deadline, write.flush()).await
        };
        tokio::select! {
            () = cancel.cancelled() => Err(DownlinkError::Cancelled),
            res = all => res,
        }
    }
}

/// One write step, which must make progress within `deadline`.
async fn progress<T>(
    deadline: Duration,
    step: impl Future<Output = std::io::Result<T>>,
) -> Result<T, DownlinkError> {
    match tokio::time::timeout(deadline, step).await {
        Ok(res) => Ok(res?),
        Err(_) => Err(DownlinkError::Stalled(deadline)),
    }
}

/// Waits until `at` (never, for `None`).
async fn pace(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits for the next picture of the subscribed monitor; never resolves
/// without a subscription. `None` when the monitor's slot is gone (the
/// monitor left the list; if it is back, it has a new slot).
async fn next_frame(sub: &mut Option<Subscription>) -> Option<Arc<Picture>> {
    let Some(sub) = sub else {
        return std::future::pending().await;
    };
    loop {
        sub.frames.changed().await.ok()?;
        if let Some(frame) = sub.frames.borrow_and_update().clone() {
            return Some(frame);
        }
    }
}
