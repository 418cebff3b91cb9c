//! What a hostile client did to Tainá, kept fixed: uploads that are read before they are
//! allowed, quota races, oversize pushes, alerts across communities, protocol violations and
//! the guest role's limits. Runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.

mod communities;
mod content;
mod graphql_limits;
mod quota;
mod sockets;
mod uploads;
