//! Admission of new TCP connections: a global cap (every connection holds a descriptor, HTTP
//! or upgraded WebSocket alike) and a cap per client address on HTTP connections.
//!
//! A connection is admitted or refused the moment it is accepted, before anything is read
//! from it. An [`Admission`] is its two places: the global [`Place`], which the connection's
//! stream holds so that it lasts exactly as long as the descriptor (upgraded sockets included),
//! and the [`AddressPlace`], which a WebSocket upgrade hands back because the realtime hub keeps
//! a limit of its own on sockets per address.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

/// Why a new connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server holds its maximum of {0} connections")]
    Full(usize),
    #[error("more than {0} concurrent HTTP connections from one address")]
    TooManyFromAddress(usize),
}

/// The shared counters behind both caps.
pub struct ConnectionLimits {
    /// Most connections held at once (`http.max_connections`, or derived from the descriptor
    /// limit).
    max_connections: usize,
    /// Most HTTP connections one address may hold (`http.max_connections_per_address`).
    max_per_address: usize,
    /// Connections admitted and not yet closed, upgraded ones included.
    open: AtomicUsize,
    /// HTTP (not upgraded) connections per client address; entries at zero are removed.
    addresses: DashMap<IpAddr, usize>,
    /// The "cap reached" episode, so the log says it once rather than per connection.
    episode: Episode,
}

impl ConnectionLimits {
    pub fn new(max_connections: usize, max_per_address: usize) -> Self {
        Self {
            max_connections,
            max_per_address,
            open: AtomicUsize::new(0),
            addresses: DashMap::new(),
            episode: Episode::default(),
        }
    }

    /// Admits a connection from `ip` or says why not. Logs (warn) when the global cap is
    /// first reached and (info) when connections are admitted again after it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        if open >= self.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            if self.episode.refused() {
                tracing::warn!(
                    limit = self.max_connections,
                    "connection limit reached: new connections are refused until some close \
                     (http.max_connections)"
                );
            }
            return Err(Refusal::Full(self.max_connections));
        }
        {
            let mut count = self.addresses.entry(ip).or_insert(0);
            if *count >= self.max_per_address {
                drop(count);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::TooManyFromAddress(self.max_per_address));
            }
            *count += 1;
        }
        if let Some(refused) = self.episode.admitted(open, self.max_connections) {
            tracing::info!(
                refused,
                open = open + 1,
                "below the connection limit again: accepting new connections"
            );
        }
        Ok(Admission {
            place: Place {
                limits: self.clone(),
            },
            address: AddressPlace {
                limits: self.clone(),
                ip,
                held: AtomicBool::new(true),
            },
        })
    }

    /// Connections held now, upgraded sockets included.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// HTTP connections held now from `ip`.
    pub fn from_address(&self, ip: IpAddr) -> usize {
        self.addresses.get(&ip).map(|count| *count).unwrap_or(0)
    }

    fn release_address(&self, ip: IpAddr) {
        if let Some(mut count) = self.addresses.get_mut(&ip) {
            *count = count.saturating_sub(1);
        }
        self.addresses.remove_if(&ip, |_, count| *count == 0);
    }
}

/// One admitted connection's places under the two caps.
pub struct Admission {
    pub place: Place,
    pub address: AddressPlace,
}

/// A place under the global cap, given back when dropped.
pub struct Place {
    limits: Arc<ConnectionLimits>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A place under the per-address cap, given back when released or dropped.
pub struct AddressPlace {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
    /// Cleared when the place is given back.
    held: AtomicBool,
}

impl AddressPlace {
    /// The connection became a WebSocket: it no longer counts as an HTTP connection of its
    /// address (idempotent).
    pub fn release(&self) {
        if self.held.swap(false, Ordering::AcqRel) {
            self.limits.release_address(self.ip);
        }
    }

    /// Whether [`AddressPlace::release`] was called: the connection was upgraded.
    pub fn is_released(&self) -> bool {
        !self.held.load(Ordering::Acquire)
    }
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        self.release();
    }
}

/// An episode starts with the first refusal at the cap and ends once a connection is admitted
/// while a tenth of the places (at least one) were free, so a server hovering at its cap logs
/// one line rather than one per connection that closes and is replaced.
#[derive(Default)]
struct Episode {
    active: AtomicBool,
    refused: AtomicU64,
}

impl Episode {
    /// Counts a refusal at the cap; true when it starts an episode.
    fn refused(&self) -> bool {
        self.refused.fetch_add(1, Ordering::Relaxed);
        !self.active.swap(true, Ordering::AcqRel)
    }

    /// A connection was admitted while `open` others were held; the connections refused in
    /// the episode when this ends one.
    fn admitted(&self, open: usize, cap: usize) -> Option<u64> {
        let free = cap.saturating_sub(open);
        if !self.active.load(Ordering::Acquire) || free < (cap / 10).max(1) {
            return None;
        }
        self.active
            .swap(false, Ordering::AcqRel)
            .then(|| self.refused.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn per_address_cap_counts_each_address_apart() {
        let limits = Arc::new(ConnectionLimits::new(100, 2));
        let a1 = limits.admit(A).unwrap();
        let _a2 = limits.admit(A).unwrap();
        assert_eq!(limits.admit(A).err(), Some(Refusal::TooManyFromAddress(2)));
        let _b1 = limits.admit(B).unwrap();
        assert_eq!((limits.from_address(A), limits.from_address(B)), (2, 1));
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.from_address(A), 1);
        assert!(limits.admit(A).is_ok());
    }

    #[test]
    fn a_refusal_holds_nothing() {
        let limits = Arc::new(ConnectionLimits::new(100, 1));
        let _a = limits.admit(A).unwrap();
        for _ in 0..10 {
            assert!(limits.admit(A).is_err());
        }
        assert_eq!((limits.open(), limits.from_address(A)), (1, 1));
    }

    #[test]
    fn an_upgrade_frees_the_address_but_not_the_global_place() {
        let limits = Arc::new(ConnectionLimits::new(2, 1));
        let socket = limits.admit(A).unwrap();
        socket.address.release();
        socket.address.release(); // idempotent
        assert!(socket.address.is_released());
        assert_eq!((limits.open(), limits.from_address(A)), (1, 0));
        let http = limits.admit(A).unwrap();
        assert_eq!(limits.admit(B).err(), Some(Refusal::Full(2)));
        drop(socket.address);
        assert_eq!((limits.open(), limits.from_address(A)), (2, 1));
        drop(socket.place);
        assert_eq!((limits.open(), limits.from_address(A)), (1, 1));
        drop(http);
        assert_eq!((limits.open(), limits.from_address(A)), (0, 0));
        assert!(limits.addresses.is_empty(), "no entry left at zero");
    }

    #[test]
    fn global_cap_refuses_every_address() {
        let limits = Arc::new(ConnectionLimits::new(3, 10));
        let held: Vec<_> = (0..3).map(|_| limits.admit(A).unwrap()).collect();
        assert_eq!(limits.admit(B).err(), Some(Refusal::Full(3)));
        assert_eq!(limits.from_address(B), 0);
        drop(held);
        assert!(limits.admit(B).is_ok());
    }

    #[test]
    fn an_episode_is_reported_once_and_ends_below_the_cap() {
        let episode = Episode::default();
        assert!(episode.refused(), "the first refusal starts the episode");
        assert!(!episode.refused());
        assert!(!episode.refused());
        // Hovering at the cap (100): a place freed and taken again is still the same episode.
        assert_eq!(episode.admitted(99, 100), None);
        assert_eq!(episode.admitted(91, 100), None);
        assert!(!episode.refused());
        // A tenth of the places free ends it, reporting the refusals.
        assert_eq!(episode.admitted(90, 100), Some(4));
        assert_eq!(episode.admitted(10, 100), None, "no episode to end");
        assert!(episode.refused(), "a new episode");
        // With a tiny cap, any admission (one place free) ends it.
        let small = Episode::default();
        small.refused();
        assert_eq!(small.admitted(0, 1), Some(1));
    }
}
