//! Places for HTTP connections that are not viewers yet: a bound in all,
//! and a smaller one per address, so that one host holding silent
//! connections open cannot keep every other browser out (a browser opens
//! at most six connections to one host).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// HTTP connections one address (an IPv4 address, an IPv6 /64) may have.
pub(crate) const MAX_HTTP_PER_ADDRESS: usize = 8;

/// The table of places. Its map has at most one entry per place taken,
/// so it is bounded by the semaphore.
#[derive(Debug)]
pub(crate) struct HttpPlaces {
    all: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct HttpPlace {
    _all: OwnedSemaphorePermit,
    places: Arc<HttpPlaces>,
    address: IpAddr,
}

impl HttpPlaces {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            all: Arc::new(Semaphore::new(max)),
            per_address: Mutex::default(),
        })
    }

    /// A place for a connection from `ip`, or `None` when all are taken
    /// or its address has its share.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<HttpPlace> {
        let address = crate::limiter::key(ip);
        let mut counts = self.lock();
        let count = counts.get(&address).copied().unwrap_or(0);
        if count >= MAX_HTTP_PER_ADDRESS {
            return None;
        }
        let all = Arc::clone(&self.all).try_acquire_owned().ok()?;
        counts.insert(address, count + 1);
        Some(HttpPlace {
            _all: all,
            places: Arc::clone(self),
            address,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for HttpPlace {
    fn drop(&mut self) {
        let mut counts = self.places.lock();
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_place_and_places_come_back() {
        let places = HttpPlaces::new(12);
        let greedy: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_HTTP_PER_ADDRESS)
            .map(|_| places.take(greedy).expect("within its share"))
            .collect();
        assert!(places.take(greedy).is_none(), "over its share");
        // The same /64 is the same address.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let mut v6: Vec<_> = (0..2).map(|_| places.take(a).unwrap()).collect();
        v6.extend((0..2).map(|_| places.take(b).unwrap()));
        assert!(
            places.take("10.0.0.2".parse().unwrap()).is_none(),
            "all 12 taken"
        );
        drop(held);
        let again = places.take(greedy);
        assert!(again.is_some(), "given back");
        assert_eq!(places.lock().get(&greedy), Some(&1));
        drop((again, v6));
        assert!(places.lock().is_empty(), "no entry outlives its places");
    }
}
