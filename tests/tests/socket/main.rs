//! The Phoenix V2 socket end to end through the Rust protocol client: handshake routing,
//! joins, chat, presence, recovery, live auth, limits and bad input. Runs on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set.

mod chat;
mod handshake;
mod joins;
mod limits;
mod live_auth;
mod presence;
mod recovery;
