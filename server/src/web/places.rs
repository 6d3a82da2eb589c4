//! Places for HTTP connections that are not viewers yet: a bound in all,
//! and a smaller one per address (a browser opens at most six connections
//! to one host).
//!
//! When an address's share is full, a new connection from it displaces
//! its connection idle longest (not upgraded to a WebSocket, the oldest
//! last request); when the whole table is full, the idlest connection of
//! the address that holds the most places goes, so that many addresses
//! opening fresh connections displace their own and not a browser's. Holding
//! silent connections open therefore keeps nobody out for long: a
//! browser's fresh connection outranks them, as in the native pending
//! table (`session/pending.rs`). Upgraded connections are never displaced
//! (their sign-in deadline bounds them); when every place is upgraded, the
//! new connection is refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// HTTP connections one address (an IPv4 address, an IPv6 /64) may have.
pub(crate) const MAX_HTTP_PER_ADDRESS: usize = 8;

/// The table of places: at most `max` entries, one per place taken.
#[derive(Debug)]
pub(crate) struct HttpPlaces {
    max: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    entries: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    address: IpAddr,
    /// When its connection last began a request (or was accepted).
    active: Instant,
    upgraded: bool,
    evicted: CancellationToken,
}

/// One connection's place; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct HttpPlace {
    id: u64,
    places: Arc<HttpPlaces>,
    /// Cancelled when a newer connection took this place.
    pub(crate) evicted: CancellationToken,
}

impl HttpPlaces {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            table: Mutex::default(),
        })
    }

    /// A place for a connection from `ip` at `now`, displacing the longest
    /// idle connection (of the same address when it is the address's
    /// share that is full); `None` when nothing may be displaced.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<HttpPlace> {
        let address = crate::limiter::key(ip);
        let mut table = self.lock();
        let mine = table
            .entries
            .values()
            .filter(|e| e.address == address)
            .count();
        if mine >= MAX_HTTP_PER_ADDRESS {
            table.evict_idlest(|e| e.address == address)?;
        } else if table.entries.len() >= self.max {
            // From the address holding the most: many addresses opening
            // fresh connections displace their own, not a browser's.
            let crowded = table.most_crowded()?;
            table.evict_idlest(|e| e.address == crowded)?;
        }
        let id = table.next;
        table.next += 1;
        let evicted = CancellationToken::new();
        table.entries.insert(
            id,
            Entry {
                address,
                active: now,
                upgraded: false,
                evicted: evicted.clone(),
            },
        );
        Some(HttpPlace {
            id,
            places: Arc::clone(self),
            evicted,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// The address with the most displaceable entries (of two with as
    /// many, the one whose idlest is older).
    fn most_crowded(&self) -> Option<IpAddr> {
        let mut held: HashMap<IpAddr, (usize, (Instant, u64))> = HashMap::new();
        for (&id, e) in self.entries.iter().filter(|(_, e)| !e.upgraded) {
            let (count, idlest) = held.entry(e.address).or_insert((0, (e.active, id)));
            *count += 1;
            *idlest = (*idlest).min((e.active, id));
        }
        held.into_iter()
            .max_by_key(|(_, (count, idlest))| (*count, std::cmp::Reverse(*idlest)))
            .map(|(address, _)| address)
    }

    /// Removes the entry idle longest among those `which` picks, and tells
    /// its connection; `None` if there is none to displace.
    fn evict_idlest(&mut self, which: impl Fn(&Entry) -> bool) -> Option<()> {
        let (&id, _) = self
            .entries
            .iter()
            .filter(|(_, e)| !e.upgraded && which(e))
            .min_by_key(|(id, e)| (e.active, **id))?;
        let entry = self.entries.remove(&id)?;
        entry.evicted.cancel();
        Some(())
    }
}

impl HttpPlace {
    /// Its connection began a request at `now`: it ranks as fresh.
    pub(crate) fn active(&self, now: Instant) {
        if let Some(entry) = self.places.lock().entries.get_mut(&self.id) {
            entry.active = now;
        }
    }

    /// Its connection became a WebSocket: never displaced from here on.
    pub(crate) fn upgraded(&self) {
        if let Some(entry) = self.places.lock().entries.get_mut(&self.id) {
            entry.upgraded = true;
        }
    }
}

impl Drop for HttpPlace {
    fn drop(&mut self) {
        self.places.lock().entries.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_address_cannot_take_more_than_its_share_and_places_come_back() {
        let places = HttpPlaces::new(12);
        let t0 = Instant::now();
        let greedy: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_HTTP_PER_ADDRESS)
            .map(|i| {
                places
                    .take(greedy, t0 + Duration::from_millis(i as u64))
                    .unwrap()
            })
            .collect();
        // Over its share: its own idlest goes, nobody else's.
        let ninth = places.take(greedy, t0 + Duration::from_secs(1)).unwrap();
        assert!(held[0].evicted.is_cancelled());
        assert!(held[1..].iter().all(|p| !p.evicted.is_cancelled()));
        // The same /64 is the same address.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let v6: Vec<_> = [a, a, b, b]
            .iter()
            .map(|ip| places.take(*ip, t0).unwrap())
            .collect();
        assert_eq!(places.lock().entries.len(), 12);
        drop((held, ninth, v6));
        assert!(
            places.lock().entries.is_empty(),
            "no entry outlives its place"
        );
    }

    #[test]
    fn silent_connections_that_fill_the_table_give_way_to_a_browser() {
        let places = HttpPlaces::new(4);
        let t0 = Instant::now();
        let silent: Vec<_> = (0..4)
            .map(|i| {
                let ip = IpAddr::from([10, 0, 0, i]);
                places.take(ip, t0).unwrap()
            })
            .collect();
        // One of them made a request later: it is not the idlest.
        silent[0].active(t0 + Duration::from_secs(2));
        let browser = places
            .take("192.0.2.7".parse().unwrap(), t0 + Duration::from_secs(3))
            .expect("a place for the browser");
        assert!(
            !silent[0].evicted.is_cancelled(),
            "the recently active stays"
        );
        assert!(silent[1].evicted.is_cancelled(), "the idlest goes");
        assert_eq!(places.lock().entries.len(), 4);
        drop(browser);
    }

    #[test]
    fn upgraded_connections_are_never_displaced() {
        let places = HttpPlaces::new(2);
        let t0 = Instant::now();
        let ws: Vec<_> = (0..2)
            .map(|i| places.take(IpAddr::from([10, 0, 0, i]), t0).unwrap())
            .collect();
        ws.iter().for_each(HttpPlace::upgraded);
        assert!(places.take("192.0.2.7".parse().unwrap(), t0).is_none());
        assert!(ws.iter().all(|p| !p.evicted.is_cancelled()));
    }

    /// Four addresses (four IPv6 /64s) holding every place and opening
    /// ever fresher connections: they displace their own. (Only an
    /// attacker with about as many addresses as there are places could
    /// bring every address down to one place, where age decides again.)
    #[test]
    fn a_few_addresses_opening_fresh_connections_displace_their_own_not_a_browser() {
        let places = HttpPlaces::new(32);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let attacker = |i: u64| IpAddr::from([10, 0, 0, (i % 4) as u8]);
        let mut held: Vec<HttpPlace> = (0..32)
            .map(|i| places.take(attacker(i), at(i)).unwrap())
            .collect();
        let browser = places
            .take("192.0.2.7".parse().unwrap(), at(100))
            .expect("a place for the browser");
        for i in 0..200 {
            held.push(places.take(attacker(i), at(200 + i)).expect("a place"));
            assert!(
                !browser.evicted.is_cancelled(),
                "the browser was displaced at {i}"
            );
        }
        held.retain(|p| !p.evicted.is_cancelled());
        assert_eq!(held.len() + 1, places.lock().entries.len());
    }
}
