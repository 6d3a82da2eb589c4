//! LAN discovery, the agent's side (contract §4): a UDP socket on the
//! listener's own address and port, and a task that answers probes.
//!
//! ```text
//!  viewer ──probe (≥ 512 bytes)──▶ UDP addr:port ──▶ Responder::answer ──▶ reply (≤ probe) ──▶ viewer
//!                                  (same as TCP)     size, JSON, nonce;     unicast, at most
//!                                                    20 replies a second    20 a second in all
//! ```
//!
//! * Reads are bounded: one fixed buffer of [`MAX_DATAGRAM_LEN`] + 1 bytes,
//!   so a longer datagram (cut by the kernel to the buffer) is seen as too
//!   long and ignored.
//! * A reply is never longer than the probe, and at most
//!   [`budget::MAX_REPLIES`] go out in any second, to everyone together:
//!   the agent cannot be used to amplify a flood at a forged address.
//! * Nothing is logged per datagram: ignored datagrams are counted and
//!   summed up at debug level at most once a minute.
//! * Sending never waits: a reply the socket cannot take at once is
//!   dropped, as UDP may drop it anyway; the task never blocks the executor.
//! * `--no-discovery` (config `discovery = false`) starts none of this, and
//!   neither does `--no-tls`: a plain-TCP agent has no identity to give,
//!   and it listens on loopback only, where nobody broadcasts.

mod answer;
mod budget;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use lookout_protocol::MAX_DATAGRAM_LEN;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use answer::{Advert, Ignored, Responder, SUMMARY_EVERY};
pub use budget::{MAX_REPLIES, ReplyBudget, WINDOW};

use crate::hub::MonitorList;

/// How long the task pauses after a read error other than an ICMP report.
const READ_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// A bound discovery socket, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct Discovery {
    socket: UdpSocket,
    responder: Responder,
}

impl Discovery {
    /// Binds UDP at `addr`: the TCP listener's address, with the port it
    /// got (so a listener on port 0 shares its port number).
    pub async fn bind(addr: SocketAddr, advert: Advert) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind(addr).await?,
            responder: Responder::new(advert),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Answers probes until `shutdown` fires; `monitors` is the agent's
    /// current monitor list, counted for each reply.
    pub async fn run(self, monitors: watch::Receiver<MonitorList>, shutdown: CancellationToken) {
        let Discovery {
            socket,
            mut responder,
        } = self;
        // One byte more than any datagram we accept: a datagram that fills
        // it was longer, and is refused as too long.
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = socket.recv_from(&mut buf) => received,
            };
            let now = Instant::now();
            match received {
                Ok((len, peer)) => {
                    let datagram = buf.get(..len).unwrap_or_default();
                    let count = monitor_count(&monitors.borrow());
                    if let Some(reply) = responder.answer(datagram, count, now) {
                        // Never waits; a full socket buffer drops the reply.
                        let _ = socket.try_send_to(&reply, peer);
                    }
                }
                Err(err) => {
                    responder.read_failed();
                    // An ICMP error about an earlier reply says nothing
                    // about the next datagram; anything else (out of
                    // memory, say) is waited out briefly rather than spun on.
                    if !matches!(
                        err.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) {
                        tokio::time::sleep(READ_ERROR_PAUSE).await;
                    }
                }
            }
            if let Some(ignored) = responder.summary(now) {
                tracing::debug!(
                    malformed = ignored.malformed,
                    over_budget = ignored.over_budget,
                    read_errors = ignored.read_errors,
                    "discovery: datagrams ignored since the last summary"
                );
            }
        }
    }
}

/// The monitors a viewer can pick one at a time (the whole-desktop entry
/// is not a monitor of its own).
fn monitor_count(monitors: &MonitorList) -> u32 {
    let count = monitors.iter().filter(|m| !m.all).count();
    u32::try_from(count).unwrap_or(u32::MAX)
}
