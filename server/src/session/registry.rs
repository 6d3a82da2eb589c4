//! The table of live sessions that `lookout-server status` lists and
//! `kick` reaches: one entry per admitted viewer, added when its session
//! starts and removed (by the [`Registered`] guard) however it ends.
//!
//! Counters are atomics the session's two tasks bump as they go; the table
//! lock is taken only to add, remove, list or kick, never per frame.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use lookout_protocol::{ErrorCode, ServerMessage};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::downlink::Outgoing;
use super::handshake::Role;
use super::view::View;

/// What a session has done so far.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    frames: AtomicU64,
    bytes: AtomicU64,
    inputs: AtomicU64,
}

impl Counters {
    /// A frame of `bytes` went to the viewer.
    pub(crate) fn sent(&self, bytes: usize) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// An input action was carried out.
    pub(crate) fn input(&self) {
        self.inputs.fetch_add(1, Ordering::Relaxed);
    }
}

/// One live session as the table keeps it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub peer: SocketAddr,
    pub role: Role,
    pub since: SystemTime,
    pub started: Instant,
    pub view: Arc<watch::Sender<View>>,
    pub counters: Arc<Counters>,
    /// To send the kicked viewer its `error` before the session closes.
    /// Weak: the session's writer ends when its reader lets go of the
    /// outbox, and the registry must not keep it waiting.
    pub outbox: mpsc::WeakSender<Outgoing>,
    pub cancel: CancellationToken,
}

/// One session as `status` reports it. Rates are averages over the
/// session's life so far (frames and bits sent divided by its age).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionStatus {
    /// The viewer's number in this agent's log.
    pub id: u64,
    /// Its address.
    pub peer: SocketAddr,
    /// `control` or `view` (the token it proved).
    pub role: String,
    /// When it was admitted, in seconds since the Unix epoch.
    pub since_unix: u64,
    /// How long ago, in seconds.
    pub age_secs: f64,
    /// Whether it asked for frames (`start_monitor`).
    pub monitoring: bool,
    /// The monitor it watches or would watch.
    pub monitor: u32,
    /// Frames sent.
    pub frames: u64,
    /// Frames a second, averaged over its life.
    pub fps: f64,
    /// Kilobits a second, averaged over its life.
    pub kbit_s: f64,
    /// Input actions carried out.
    pub inputs: u64,
}

/// The agent's live sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: Mutex<BTreeMap<u64, Entry>>,
}

/// Removes its session from the table when dropped.
pub(crate) struct Registered<'a> {
    sessions: &'a Sessions,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds session `id` until the returned guard is dropped.
    pub(crate) fn add(&self, id: u64, entry: Entry) -> Registered<'_> {
        self.lock().insert(id, entry);
        Registered { sessions: self, id }
    }

    /// Every session, by id, as of `now`.
    pub(crate) fn list(&self, now: Instant) -> Vec<SessionStatus> {
        self.lock()
            .iter()
            .map(|(&id, e)| {
                let age = now.saturating_duration_since(e.started).as_secs_f64();
                let frames = e.counters.frames.load(Ordering::Relaxed);
                let bytes = e.counters.bytes.load(Ordering::Relaxed);
                let per_sec = |n: f64| if age > 0.0 { n / age } else { 0.0 };
                let view = *e.view.borrow();
                SessionStatus {
                    id,
                    peer: e.peer,
                    role: e.role.as_str().to_owned(),
                    since_unix: e
                        .since
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    age_secs: age,
                    monitoring: view.monitoring,
                    monitor: view.monitor,
                    frames,
                    fps: per_sec(frames as f64),
                    kbit_s: per_sec(bytes as f64 * 8.0 / 1000.0),
                    inputs: e.counters.inputs.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Ends session `id`: its viewer is sent `error` (code `internal`, the
    /// contract's only code for "the agent ended this") with `message`,
    /// then the connection closes. `false` when there is no such session.
    pub(crate) fn kick(&self, id: u64, message: &str) -> bool {
        let table = self.lock();
        let Some(entry) = table.get(&id) else {
            return false;
        };
        let error = ServerMessage::error(ErrorCode::Internal, message);
        tracing::info!(viewer = id, peer = %entry.peer, "viewer {id} kicked by the agent's user");
        let sent = entry
            .outbox
            .upgrade()
            .is_some_and(|outbox| outbox.try_send(Outgoing::Close(error)).is_ok());
        if !sent {
            // Its outbox is full (a viewer that does not read): no message.
            entry.cancel.cancel();
        }
        true
    }
}
