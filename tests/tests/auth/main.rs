//! The auth suite, end to end over HTTP (mail against the SMTP sink `scripts/test` starts). Runs on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set (scripts/test runs both).

mod accounts;
mod invites;
mod lifecycle;
mod mail;
mod rate_limits;
mod roles;
mod sign_in;
mod sign_up;
mod tokens;
mod totp;
