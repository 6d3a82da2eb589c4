//! `--discover`: find agents on the local network (contract §4).
//!
//! ```text
//!  one UDP socket ──probe (512 bytes, fresh nonce)──▶ every IPv4 broadcast address :6868
//!  (0.0.0.0:0,                                   └──▶ every --probe ADDR[:PORT]
//!   SO_BROADCAST)  ◀──replies (unicast)── agents
//!                  keep: parses, echoes our nonce, no longer than the probe;
//!                  one per (address, port); until the timeout
//! ```
//!
//! [`discover`] is the library call (the wall uses it too); [`list`] prints
//! what it found, one line per agent, with what the known-hosts file says
//! of each. Discovery writes nothing to known-hosts: a found agent is
//! pinned on its first connection, like any other. A reply proves nothing
//! by itself (anyone on the network can send one): what it says is only
//! believed by the TLS handshake that follows, against the pinned identity,
//! which is why a reply whose fingerprint differs from the pin is shown
//! loudly.
//!
//! Blocking: [`discover`] waits for the timeout on a std socket. Call it
//! from a plain thread (or `spawn_blocking`), never on an async executor.

mod interfaces;
mod listing;

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use lookout_protocol::{
    AuthMode, DEFAULT_PORT, Fingerprint, MAX_DATAGRAM_LEN, Nonce, Probe, Reply,
};

pub use interfaces::broadcast_addresses;
pub use listing::{Standing, line, list, standing};

use crate::target::Target;

/// The most agents one discovery keeps: a bound on memory whatever floods
/// the socket (a wall of more than this is not a wall).
pub const MAX_FOUND: usize = 1024;

/// The most datagrams one discovery reads, besides the timeout: a flood of
/// junk ends the wait early instead of holding it for the whole timeout.
const MAX_DATAGRAMS: usize = 65_536;

/// What to probe and how long to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long to collect replies (`--discover-timeout`, default 1 s).
    pub timeout: Duration,
    /// Broadcast on every IPv4 interface that can.
    pub broadcast: bool,
    /// The port broadcasts go to ([`DEFAULT_PORT`]).
    pub port: u16,
    /// `--probe ADDR[:PORT]`: hosts probed directly (networks without
    /// broadcast, or another port).
    pub probes: Vec<Target>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            broadcast: true,
            port: DEFAULT_PORT,
            probes: Vec::new(),
        }
    }
}

/// An agent that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its name, as it says (escape before showing: [`crate::untrusted`]).
    pub name: String,
    /// Where to connect: the reply's source address and the port it gave.
    pub addr: SocketAddr,
    /// The identity it claims (checked only by a TLS connection).
    pub fingerprint: Fingerprint,
    /// Whether it wants a token.
    pub auth: AuthMode,
    /// How many monitors it lists.
    pub monitors: u32,
}

impl Found {
    /// Where to connect, as a [`Target`] (also the known-hosts key).
    pub fn target(&self) -> Target {
        Target {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
        }
    }
}

/// Why discovery could not run at all (no reply is not an error).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The UDP socket could not be made.
    #[error("cannot open a UDP socket: {0}")]
    Socket(#[source] io::Error),
    /// The OS random number generator failed.
    #[error("cannot make a nonce: {0}")]
    Random(#[source] io::Error),
    /// A `--probe` that names no IPv4 address.
    #[error("--probe {0}: no IPv4 address")]
    Resolve(String),
    /// Nothing to probe: no interface can broadcast and no `--probe`.
    #[error("no IPv4 interface can broadcast here; name agents with --probe ADDR[:PORT]")]
    Nowhere,
    /// Every probe failed to go out.
    #[error("no probe could be sent: {0}")]
    Send(#[source] io::Error),
}

/// Sends a probe to every broadcast address and every `--probe`, then
/// collects replies until `options.timeout`: those that parse, echo the
/// probe's nonce and are no longer than the probe, one per (address,
/// port), in the order they came. Blocking (see the [module](self) docs).
pub fn discover(options: &Options) -> Result<Vec<Found>, DiscoverError> {
    let mut destinations = Vec::new();
    if options.broadcast {
        destinations.extend(
            broadcast_addresses()
                .into_iter()
                .map(|ip| SocketAddr::V4(SocketAddrV4::new(ip, options.port))),
        );
    }
    for probe in &options.probes {
        destinations.push(resolve(probe)?);
    }
    if destinations.is_empty() {
        return Err(DiscoverError::Nowhere);
    }
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(DiscoverError::Socket)?;
    socket.set_broadcast(true).map_err(DiscoverError::Socket)?;
    let nonce = Nonce::random().map_err(|err| DiscoverError::Random(io::Error::other(err)))?;
    let probe = Probe::new(nonce);
    let datagram = probe.encode();
    send_all(&socket, &datagram, &destinations)?;
    let started = Instant::now();
    let deadline = started + options.timeout;
    // UDP may lose a probe: one more at half time, answered by the same
    // agents (the duplicates are dropped below).
    let mut resend = Some(started + options.timeout / 2);
    let mut found: Vec<Found> = Vec::new();
    let mut seen = HashSet::new();
    // One byte more than any reply we accept (see the agent's read).
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
    for _ in 0..MAX_DATAGRAMS {
        let now = Instant::now();
        if now >= deadline || found.len() >= MAX_FOUND {
            break;
        }
        if resend.is_some_and(|at| now >= at) {
            resend = None;
            let _ = send_all(&socket, &datagram, &destinations);
        }
        let wake = resend.map_or(deadline, |at| at.min(deadline));
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        socket
            .set_read_timeout(Some(wait))
            .map_err(DiscoverError::Socket)?;
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // The wait ran out (WouldBlock or TimedOut), or an ICMP error
            // from an earlier probe: look at the clock again.
            Err(_) => continue,
        };
        let Some(reply) = buf
            .get(..len)
            .filter(|bytes| bytes.len() <= datagram.len())
            .and_then(|bytes| Reply::parse(bytes).ok())
            .filter(|reply| reply.nonce == probe.nonce)
        else {
            continue;
        };
        let addr = SocketAddr::new(canonical(from).ip(), reply.port);
        if seen.insert(addr) {
            found.push(Found {
                name: reply.name,
                addr,
                fingerprint: reply.fingerprint,
                auth: reply.auth,
                monitors: reply.monitors,
            });
        }
    }
    Ok(found)
}

/// The first IPv4 address of a `--probe` (the socket is IPv4: broadcast has
/// no IPv6 counterpart). Blocking: names are looked up.
fn resolve(probe: &Target) -> Result<SocketAddr, DiscoverError> {
    (probe.host.as_str(), probe.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4))
        .ok_or_else(|| DiscoverError::Resolve(probe.to_string()))
}

/// Sends `datagram` everywhere; fails only when it went nowhere.
fn send_all(
    socket: &UdpSocket,
    datagram: &[u8],
    destinations: &[SocketAddr],
) -> Result<(), DiscoverError> {
    let mut last_error = None;
    let mut sent = 0;
    for &to in destinations {
        match socket.send_to(datagram, to) {
            Ok(_) => sent += 1,
            Err(err) => {
                tracing::debug!(%to, error = %err, "probe not sent");
                last_error = Some(err);
            }
        }
    }
    match (sent, last_error) {
        (0, Some(err)) => Err(DiscoverError::Send(err)),
        _ => Ok(()),
    }
}

/// An IPv4-mapped source address as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
