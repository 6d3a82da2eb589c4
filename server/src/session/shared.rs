//! What every session reads: the agent's configuration and the handles of
//! its shared threads, behind one `Arc`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lookout_protocol::{MonitorInfo, Timeouts};
use tokio::sync::Semaphore;

use crate::config::Access;
use crate::hub::FrameHub;
use crate::input::InputHandle;
use crate::limiter::{Attempt, AuthLimiter, Refused};

/// The agent's state that sessions share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub access: Access,
    /// `None` with `--no-tls`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub timeouts: Timeouts,
    /// The agent's name for people, sent in `welcome`.
    pub name: String,
    pub limiter: Mutex<AuthLimiter>,
    /// `false` with `--view-only`.
    pub allow_control: bool,
    pub hub: FrameHub,
    /// The agent's JPEG quality: the ceiling of every viewer's.
    pub quality: u8,
    pub input: Option<InputHandle>,
    pub default_monitor: u32,
    pub viewers: Arc<Semaphore>,
    pub max_viewers: NonZeroUsize,
    pub next_viewer: AtomicU64,
    /// The live sessions, for the control socket.
    pub sessions: super::registry::Sessions,
    /// The browser transport; `None` with `--no-web` or `--no-tls`.
    pub web: Option<crate::web::Web>,
}

impl Shared {
    /// Whether viewers may steer: not view-only, and input is available.
    pub(crate) fn control(&self) -> bool {
        self.allow_control && self.input.is_some()
    }

    /// Monitor `id` as listed now.
    pub(crate) fn monitor(&self, id: u32) -> Option<MonitorInfo> {
        self.hub.monitor(id)
    }

    pub(crate) fn next_viewer_id(&self) -> u64 {
        self.next_viewer.fetch_add(1, Ordering::Relaxed)
    }

    /// Records a failed authentication (or a protocol error during the
    /// handshake) from `peer`; returns the block it starts, if any.
    pub(crate) fn auth_failed(&self, peer: SocketAddr) -> Option<Duration> {
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .misbehaviour(peer.ip(), Instant::now())
    }

    /// A proof from `peer` may be verified now, or why not. The limiter
    /// stays locked until the attempt is settled (see [`Attempt`]).
    pub(crate) fn attempt(&self, peer: SocketAddr) -> Result<Attempt<'_>, Refused> {
        Attempt::begin(&self.limiter, peer.ip(), Instant::now())
    }

    /// How much longer `peer` is refused, if it is.
    pub(crate) fn blocked(&self, peer: SocketAddr) -> Option<Duration> {
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocked(peer.ip(), Instant::now())
    }
}
