//! The process's open-file limit and the connection cap derived from it.
//!
//! Every connection costs a descriptor, so the global cap has to stay below `RLIMIT_NOFILE`
//! with room left for everything else the process opens: the database, files being uploaded or
//! streamed, the object store's connections, logs, the runtime's own descriptors.
//!
//! The limit is read with `rustix::process::getrlimit`, a safe wrapper over the system call.
//! `libc::getrlimit` would need an `unsafe` block, and this crate is `#![forbid(unsafe_code)]`
//! (which no inner `allow` can lift); rustix was already in the lock file (through `tempfile`
//! and `async-io`), so using it adds no new code to trust.

/// What "unlimited" (`RLIM_INFINITY`) is taken to mean: Linux's default `fs.nr_open`, the
/// most descriptors a process can have whatever its limit says.
const UNLIMITED: u64 = 1 << 20;

/// Descriptors kept free for everything but connections, at the least.
const MIN_HEADROOM: u64 = 128;

/// Descriptors one pooled database connection may hold: SQLite opens the database, its
/// write-ahead log and the shared-memory index; a PostgreSQL connection is one socket.
const DESCRIPTORS_PER_DATABASE_CONNECTION: u64 = 3;

/// The smallest derived cap: below it the server could not do its job anyway, and a start
/// with a tiny limit should still answer a few clients (a warning says why it is so low).
pub const MIN_DERIVED_CONNECTIONS: usize = 16;

/// The soft `RLIMIT_NOFILE` of this process, `None` when unlimited (or not a Unix system).
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Descriptors left for everything but connections: a tenth of `limit`, at least 128, plus
/// three per pooled database connection.
pub fn headroom(limit: u64, database_connections: u32) -> u64 {
    (limit / 10).max(MIN_HEADROOM)
        + DESCRIPTORS_PER_DATABASE_CONNECTION * u64::from(database_connections)
}

/// The connection cap for `http.max_connections = 0`: `limit − headroom(limit, database)`,
/// never below [`MIN_DERIVED_CONNECTIONS`].
pub fn derived_max_connections(limit: Option<u64>, database_connections: u32) -> usize {
    let limit = limit.unwrap_or(UNLIMITED).min(UNLIMITED);
    let cap = limit.saturating_sub(headroom(limit, database_connections));
    usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .max(MIN_DERIVED_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_leaves_a_tenth_and_the_database() {
        // The development machine: 20000 descriptors, 16 pooled database connections.
        assert_eq!(headroom(20_000, 16), 2_000 + 48);
        assert_eq!(derived_max_connections(Some(20_000), 16), 17_952);
        // The common default limit of 1024: the minimum headroom applies.
        assert_eq!(derived_max_connections(Some(1_024), 16), 1_024 - 128 - 48);
    }

    #[test]
    fn tiny_and_unlimited_limits() {
        assert_eq!(
            derived_max_connections(Some(100), 16),
            MIN_DERIVED_CONNECTIONS
        );
        assert_eq!(
            derived_max_connections(None, 16),
            (UNLIMITED - UNLIMITED / 10 - 48) as usize
        );
        assert_eq!(
            derived_max_connections(Some(u64::MAX), 16),
            derived_max_connections(None, 16)
        );
    }

    #[test]
    fn this_process_has_a_limit_the_cap_stays_under() {
        let limit = descriptor_limit();
        let cap = derived_max_connections(limit, 16) as u64;
        if let Some(limit) = limit.filter(|l| *l > 1_000) {
            assert!(cap < limit, "cap {cap} under limit {limit}");
        }
    }
}
