//! A byte-counting TCP relay between a viewer and its server, in this
//! process: it counts what the server sends (on the server's side of the
//! relay, so every byte the server wrote is seen, whatever the protocol or
//! encryption), and the bursts it comes in.
//!
//! A burst is data after at least [`BURST_GAP`] of silence: one screen
//! update, for VNC and lookout alike, is written at once, so bursts a
//! second are the updates a second either system sent, measured the same
//! way for both.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Silence that separates two updates: well under a 60 fps frame interval
/// (16.7 ms), well over the gaps inside one update's writes on loopback.
const BURST_GAP: std::time::Duration = std::time::Duration::from_millis(4);

/// What the relay counted so far.
#[derive(Debug, Default)]
struct Counts {
    bytes: AtomicU64,
    bursts: AtomicU64,
}

/// A snapshot of the counts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counted {
    /// Bytes from the server to the viewer.
    pub(crate) bytes: u64,
    /// Bursts of them (see the module docs).
    pub(crate) bursts: u64,
}

impl Counted {
    /// What was counted between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Counted) -> Counted {
        Counted {
            bytes: self.bytes - earlier.bytes,
            bursts: self.bursts - earlier.bursts,
        }
    }
}

/// A relay listening on 127.0.0.1; closes every relayed connection on drop.
#[derive(Debug)]
pub(crate) struct Relay {
    addr: SocketAddr,
    counts: Arc<Counts>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Relays every connection to `target`.
    pub(crate) fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let counts = Arc::new(Counts::default());
        let open = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, o, s) = (Arc::clone(&counts), Arc::clone(&open), Arc::clone(&stop));
        std::thread::spawn(move || accept(&listener, target, &c, &o, &s));
        Self {
            addr,
            counts,
            open,
            stop,
        }
    }

    /// Where viewers connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counts now.
    pub(crate) fn counted(&self) -> Counted {
        Counted {
            bytes: self.counts.bytes.load(Ordering::SeqCst),
            bursts: self.counts.bursts.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
        for stream in self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept(
    listener: &TcpListener,
    target: SocketAddr,
    counts: &Arc<Counts>,
    open: &Mutex<Vec<TcpStream>>,
    stop: &AtomicBool,
) {
    // Ends when the relay is dropped (its drop connects once to wake this).
    for viewer in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(viewer) = viewer else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        let _ = viewer.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let clones = (viewer.try_clone(), server.try_clone());
        let (Ok(viewer_up), Ok(server_up)) = clones else {
            continue;
        };
        {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            open.extend(viewer.try_clone().ok());
            open.extend(server.try_clone().ok());
        }
        let counts = Arc::clone(counts);
        std::thread::spawn(move || copy(server, viewer, Some(&counts)));
        std::thread::spawn(move || copy(viewer_up, server_up, None));
    }
}

/// Copies until either side closes; counts into `counts` when given.
fn copy(mut from: TcpStream, mut to: TcpStream, counts: Option<&Counts>) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut last: Option<Instant> = None;
    // Ends when either socket closes or fails (the relay's drop shuts them).
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(counts) = counts {
            let now = Instant::now();
            if last.is_none_or(|t| now.duration_since(t) >= BURST_GAP) {
                counts.bursts.fetch_add(1, Ordering::SeqCst);
            }
            last = Some(now);
            counts.bytes.fetch_add(n as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Checks the relay's counting against a server that writes three bursts
/// of known sizes, 50 ms apart (run by the smoke version under
/// `cargo test`): every byte relayed and counted once, each burst counted
/// once.
pub(crate) fn self_check() {
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = server.local_addr().expect("address");
    let writer = std::thread::spawn(move || {
        let (mut stream, _) = server.accept().expect("accept");
        for size in [1000, 70_000, 5] {
            stream.write_all(&vec![7u8; size]).expect("write a burst");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let relay = Relay::start(target);
    let mut viewer = TcpStream::connect(relay.addr()).expect("connect to the relay");
    let mut got = Vec::new();
    viewer
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = viewer.read_to_end(&mut got);
    writer.join().expect("writer");
    assert_eq!(got.len(), 71_005, "the relay lost or added bytes");
    let counted = relay.counted();
    assert_eq!(counted.bytes, 71_005, "bytes counted");
    assert_eq!(counted.bursts, 3, "bursts counted");
}
