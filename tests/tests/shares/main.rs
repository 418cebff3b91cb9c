//! Files' shares end to end: public links over HTTP (password, expiry, file drop, read-only
//! links refusing uploads) and shares through GraphQL. Runs on both backends.

mod links;
