//! The live session of an admitted viewer: two small tasks, frames down
//! ([`Downlink`]) and commands up ([`Uplink`]), and the accounting when
//! they end (held input released, one log line).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use lookout_protocol::codec::ServerCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::CLOSE_GRACE;
use super::UnsentLimit;
use super::adapt::Adapt;
use super::downlink::{Downlink, DownlinkError};
use super::handshake::Role;
use super::registry::{Counters, Entry};
use super::shared::Shared;
use super::uplink::{Ended, Uplink};
use super::view::{SentSize, View};
use crate::coalesce::MoveCoalescer;
use crate::hub::MonitorList;
use crate::input::ViewerId;
use crate::rendition::Ask;

/// Control replies waiting for the writer. Replies are small and a reading
/// viewer drains them at once; a viewer that does not read loses replies
/// beyond this (see [`Uplink`]'s `reply`) instead of growing memory.
const OUTBOX: usize = 16;

/// A viewer that passed the handshake and got a place and a `welcome`.
#[derive(Debug)]
pub(super) struct Admitted {
    pub id: ViewerId,
    pub role: Role,
    /// Whether this viewer may steer.
    pub control: bool,
    /// The monitor it sees first.
    pub monitor: u32,
    /// The monitor list as of its `welcome`, to follow from there.
    pub layout: watch::Receiver<MonitorList>,
    /// Its place among `--max-viewers`, held until the session ends.
    pub _place: OwnedSemaphorePermit,
    /// Its socket's limit on unsent bytes.
    pub unsent: Option<UnsentLimit>,
}

/// Runs the session until either side ends it, then logs how it went.
pub(super) async fn run<R, W>(
    mut reader: FramedRead<R, ServerCodec>,
    write: W,
    shared: &Shared,
    viewer: Admitted,
    peer: SocketAddr,
    cancel: &CancellationToken,
    started: Instant,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    // Dropped last, however this ends: releases what the viewer holds.
    let _release = shared
        .input
        .as_ref()
        .map(|input| input.release_on_drop(viewer.id));
    let session = cancel.child_token();
    let view_tx = Arc::new(watch::Sender::new(View {
        monitoring: false,
        monitor: viewer.monitor,
        regions: false,
        restarts: 0,
        ask: Ask::native(shared.quality),
        fps: None,
    }));
    let sent_size = Arc::new(SentSize::default());
    let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX);
    let counters = Arc::new(Counters::default());
    let _registered = shared.sessions.add(
        viewer.id,
        Entry {
            peer,
            role: viewer.role,
            since: std::time::SystemTime::now(),
            started: Instant::now(),
            view: Arc::clone(&view_tx),
            counters: Arc::clone(&counters),
            outbox: outbox_tx.downgrade(),
            cancel: session.clone(),
        },
    );
    let downlink = tokio::spawn(
        Downlink {
            write,
            hub: shared.hub.clone(),
            view: view_tx.subscribe(),
            view_tx: Arc::clone(&view_tx),
            layout: viewer.layout,
            availability: shared.hub.watch_availability(),
            paused: shared.hub.watch_paused(),
            counters: Arc::clone(&counters),
            watching: false,
            told: None,
            have: None,
            sent_size: Arc::clone(&sent_size),
            next_at: None,
            restarted_at: None,
            adapt: Adapt::new(std::time::Instant::now()),
            unsent: viewer.unsent,
            switched: false,
            viewer: viewer.id,
            outbox: outbox_rx,
            cancel: session.clone(),
            write_deadline: shared.timeouts.write,
        }
        .run(),
    );
    let mut uplink = Uplink {
        id: viewer.id,
        shared,
        control: viewer.control,
        view: view_tx,
        sent_size,
        outbox: outbox_tx,
        cancel: session.clone(),
        inputs: 0,
        counters,
        moves: MoveCoalescer::default(),
    };
    let ended = uplink.run(&mut reader).await;
    let inputs = uplink.inputs;
    if inputs > 0 {
        tracing::info!("viewer {} stopped steering", viewer.id);
    }
    drop(uplink);
    let (frames, written) = finish(downlink, &session).await;
    // The writer's failure (a stalled viewer, say) explains more than the
    // reader's "cancelled".
    let reason = match (&ended, written) {
        (Ended::Cancelled, Err(err)) if !matches!(err, DownlinkError::Cancelled) => err.to_string(),
        _ => ended.to_string(),
    };
    tracing::info!(
        %peer,
        role = viewer.role.as_str(),
        viewer = viewer.id,
        duration = ?started.elapsed(),
        frames,
        inputs,
        %reason,
        "session ended"
    );
}

/// Lets the writer send what is queued, but not for long: a stalled viewer
/// must not hold the session open. Returns the frames it sent and how it
/// ended; a writer that panicked (a bug) says so rather than pass for a
/// clean end.
async fn finish(
    mut downlink: JoinHandle<(u64, Result<(), DownlinkError>)>,
    session: &CancellationToken,
) -> (u64, Result<(), DownlinkError>) {
    let joined = match tokio::time::timeout(CLOSE_GRACE, &mut downlink).await {
        Ok(joined) => joined,
        Err(_) => {
            session.cancel();
            downlink.await
        }
    };
    joined.unwrap_or_else(|err| {
        if err.is_panic() {
            tracing::error!(error = %err, "the session's writer task panicked");
            (0, Err(DownlinkError::Panicked))
        } else {
            (0, Err(DownlinkError::Cancelled))
        }
    })
}
