//! Connections that have not finished the handshake yet, bounded.
//!
//! When the table is full, a new connection does not wait and is not turned
//! away: an older pending handshake is dropped instead, chosen by how far it
//! has got, oldest first within a rank:
//!
//! ```text
//!  dropped first                                            dropped last
//!  Gone: peer closed  <  Silent: no byte has arrived  <  Spoke: its first
//!  or the socket failed                                  bytes are here, or
//!                                                        the agent read them
//! ```
//!
//! Progress is read from the kernel at the moment of eviction (a peek at
//! the socket), not from what the connection's task has done: on a busy
//! agent the task of a viewer that connected a moment ago may not have run
//! yet, although its TLS ClientHello already waits in the socket. A real
//! viewer speaks at once (its ClientHello), so a flood of half-open
//! connections, however long, only ever displaces itself, while a viewer
//! that arrives during the flood gets through. Over plain TCP (`--no-tls`,
//! loopback only) the agent speaks first, so a viewer waits as silent
//! until its `auth` arrives: the guarantee is a TLS one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// The bounded table of pending handshakes.
#[derive(Debug)]
pub(crate) struct PendingHandshakes {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Oldest first.
    queue: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    evicted: CancellationToken,
    /// The agent has read from the peer (past the first bytes, the socket
    /// itself may be empty while TLS waits for the next flight).
    progressed: bool,
    /// A second handle on the connection's socket, to ask the kernel
    /// whether the peer has sent anything. `None` where that cannot be
    /// asked; the entry then ranks by `progressed` alone.
    probe: Option<Probe>,
}

/// How far a pending handshake has got, lowest evicted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Progress {
    /// The peer hung up or the socket failed: nothing to lose.
    Gone,
    /// Not one byte has arrived.
    Silent,
    /// Its first bytes have arrived, or the agent has read some.
    Spoke,
}

impl Entry {
    fn progress(&self) -> Progress {
        if self.progressed {
            return Progress::Spoke;
        }
        self.probe
            .as_ref()
            .map_or(Progress::Silent, Probe::progress)
    }
}

/// One connection's place in the table; leaving it (drop) frees the place.
#[derive(Debug)]
pub(crate) struct PendingSlot {
    table: Arc<PendingHandshakes>,
    id: u64,
    /// Fires when a newer connection displaced this one.
    pub evicted: CancellationToken,
}

/// A connection's place among those not yet authenticated: a slot of
/// [`PendingHandshakes`], or, for a browser's WebSocket, the place it held
/// as an HTTP connection (`web`). Dropping it gives the place up.
pub(crate) trait Place: Send + 'static {
    /// Fires when the place was taken away (a newer connection displaced
    /// this one): the connection then ends.
    fn evicted(&self) -> &CancellationToken;
}

impl Place for PendingSlot {
    fn evicted(&self) -> &CancellationToken {
        &self.evicted
    }
}

impl PendingHandshakes {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            state: Mutex::default(),
        })
    }

    /// Takes a place for the connection on `socket`; returns it and whether
    /// an older handshake had to be dropped for it.
    pub(crate) fn admit(self: &Arc<Self>, socket: &tokio::net::TcpStream) -> (PendingSlot, bool) {
        let probe = Probe::new(socket);
        let mut state = self.lock();
        let mut displaced = false;
        while state.queue.len() >= self.max {
            // `min_by_key` keeps the first of equals: the oldest of the
            // lowest rank.
            let victim = state
                .queue
                .iter()
                .enumerate()
                .min_by_key(|(_, entry)| entry.progress())
                .map_or(0, |(at, _)| at);
            if let Some(victim) = state.queue.remove(victim) {
                victim.evicted.cancel();
                displaced = true;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let evicted = CancellationToken::new();
        state.queue.push_back(Entry {
            id,
            evicted: evicted.clone(),
            progressed: false,
            probe,
        });
        let slot = PendingSlot {
            table: Arc::clone(self),
            id,
            evicted,
        };
        (slot, displaced)
    }

    /// Handshakes in progress (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PendingSlot {
    /// The agent has read from the peer: it is dropped only after silent
    /// connections, even once its socket is empty again.
    pub(crate) fn progressed(&self) {
        let mut state = self.table.lock();
        if let Some(entry) = state.queue.iter_mut().find(|e| e.id == self.id) {
            entry.progressed = true;
            // Nothing more to ask the kernel: close the second handle now.
            entry.probe = None;
        }
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut state = self.table.lock();
        if let Some(at) = state.queue.iter().position(|e| e.id == self.id) {
            state.queue.remove(at);
        }
    }
}

/// A duplicate of a connection's socket descriptor, used only to peek. It
/// shares the socket (and its non-blocking mode) with the connection's own
/// handle, so a peek never waits and never consumes a byte. One extra
/// descriptor per pending handshake, at most the table's size.
#[derive(Debug)]
struct Probe(std::net::TcpStream);

impl Probe {
    #[cfg(unix)]
    fn new(socket: &tokio::net::TcpStream) -> Option<Self> {
        use std::os::fd::AsFd;
        let fd = socket.as_fd().try_clone_to_owned().ok()?;
        Some(Self(std::net::TcpStream::from(fd)))
    }

    #[cfg(not(unix))]
    fn new(_socket: &tokio::net::TcpStream) -> Option<Self> {
        None
    }

    fn progress(&self) -> Progress {
        let mut byte = [0u8; 1];
        match self.0.peek(&mut byte) {
            Ok(0) => Progress::Gone,
            Ok(_) => Progress::Spoke,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => Progress::Silent,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => Progress::Silent,
            Err(_) => Progress::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Loopback connections: the agent's ends and the peers' ends.
    struct Conns {
        listener: TcpListener,
        held: Vec<(TcpStream, TcpStream)>,
    }

    impl Conns {
        async fn new() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            Self {
                listener,
                held: Vec::new(),
            }
        }

        /// A new connection; returns its index.
        async fn connect(&mut self) -> usize {
            let addr = self.listener.local_addr().unwrap();
            let peer = TcpStream::connect(addr).await.unwrap();
            let (agent, _) = self.listener.accept().await.unwrap();
            self.held.push((agent, peer));
            self.held.len() - 1
        }

        fn agent(&self, i: usize) -> &TcpStream {
            &self.held[i].0
        }

        /// `n` new connections, each admitted to `table`.
        async fn admit(&mut self, table: &Arc<PendingHandshakes>, n: usize) -> Vec<PendingSlot> {
            let mut slots = Vec::with_capacity(n);
            for _ in 0..n {
                let i = self.connect().await;
                slots.push(table.admit(self.agent(i)).0);
            }
            slots
        }

        /// The peer of `i` sends its first bytes, and they arrive.
        async fn speak(&mut self, i: usize) {
            self.held[i].1.write_all(b"\x16\x03\x01").await.unwrap();
            self.held[i].0.readable().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_full_table_drops_its_oldest_entry() {
        let mut conns = Conns::new().await;
        let table = PendingHandshakes::new(3);
        let admit = async |conns: &mut Conns| {
            let i = conns.connect().await;
            table.admit(conns.agent(i))
        };
        let (a, displaced) = admit(&mut conns).await;
        assert!(!displaced);
        let (b, _) = admit(&mut conns).await;
        let (c, _) = admit(&mut conns).await;
        assert_eq!(table.len(), 3);
        let (d, displaced) = admit(&mut conns).await;
        assert!(displaced);
        assert!(a.evicted.is_cancelled());
        assert!(!b.evicted.is_cancelled() && !c.evicted.is_cancelled());
        assert_eq!(table.len(), 3);
        // A finished handshake frees its place; nobody else is dropped.
        drop(c);
        assert_eq!(table.len(), 2);
        let (_e, displaced) = admit(&mut conns).await;
        assert!(!displaced);
        assert!(!b.evicted.is_cancelled() && !d.evicted.is_cancelled());
        // Dropping an already evicted slot changes nothing.
        drop(a);
        assert_eq!(table.len(), 3);
    }

    #[tokio::test]
    async fn idle_connections_go_before_ones_that_got_past_tls() {
        let mut conns = Conns::new().await;
        let table = PendingHandshakes::new(3);
        let slots = conns.admit(&table, 3).await;
        let [viewer, idle_1, idle_2] = <[PendingSlot; 3]>::try_from(slots).unwrap();
        viewer.progressed();
        let i = conns.connect().await;
        let (_new_1, displaced) = table.admit(conns.agent(i));
        assert!(displaced);
        assert!(idle_1.evicted.is_cancelled());
        assert!(
            !viewer.evicted.is_cancelled(),
            "the viewer is older but busy"
        );
        let i = conns.connect().await;
        let (_new_2, _) = table.admit(conns.agent(i));
        assert!(idle_2.evicted.is_cancelled());
        assert!(!viewer.evicted.is_cancelled());
    }

    /// The flood bug: a viewer whose ClientHello had arrived, but whose
    /// task had not run yet, was evicted as silent by the flood behind it.
    #[tokio::test]
    async fn a_viewer_whose_first_bytes_arrived_outlives_a_flood_before_its_task_runs() {
        let mut conns = Conns::new().await;
        let table = PendingHandshakes::new(4);
        let i = conns.connect().await;
        let (viewer, _) = table.admit(conns.agent(i));
        // Its bytes are in the socket; nobody has read them or called
        // `progressed`.
        conns.speak(i).await;
        let mut flood = Vec::new();
        for _ in 0..40 {
            let i = conns.connect().await;
            flood.push(table.admit(conns.agent(i)).0);
        }
        assert!(!viewer.evicted.is_cancelled(), "the viewer was evicted");
        let evicted = flood.iter().filter(|s| s.evicted.is_cancelled()).count();
        assert_eq!(evicted, 40 - 3, "the flood displaces itself");
    }

    #[tokio::test]
    async fn a_peer_that_hung_up_goes_before_silent_ones() {
        let mut conns = Conns::new().await;
        let table = PendingHandshakes::new(3);
        let slots = conns.admit(&table, 3).await;
        // The newest peer hangs up; its FIN arrives.
        let (agent, peer) = &mut conns.held[2];
        peer.shutdown().await.unwrap();
        agent.readable().await.unwrap();
        let i = conns.connect().await;
        let (_new, displaced) = table.admit(conns.agent(i));
        assert!(displaced);
        assert!(slots[2].evicted.is_cancelled(), "the closed one goes");
        assert!(!slots[0].evicted.is_cancelled() && !slots[1].evicted.is_cancelled());
    }
}
