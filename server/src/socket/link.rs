//! What a GraphQL operation needs to act on the socket it arrived on ([`SocketLink`]), and
//! how a refreshed session reaches that socket's driver ([`Refreshed`]).

use std::sync::Arc;

use crate::contexts::auth::Principal;
use crate::realtime::{Conn, Hub};

/// What an operation needs to act on the socket it arrived on.
pub struct SocketLink {
    pub hub: Arc<Hub>,
    pub conn: Arc<Conn>,
    /// The connection driver waits on this to adopt a refreshed session (expiry, principal).
    pub refreshed: Arc<Refreshed>,
}

/// A refreshed session handed from a GraphQL operation to its connection's driver: the
/// latest one wins. (A watch channel did this too, at ~480 bytes per connection.)
#[derive(Default)]
pub struct Refreshed {
    latest: std::sync::Mutex<Option<(Principal, String)>>,
    notify: tokio::sync::Notify,
}

impl Refreshed {
    pub fn hand_over(&self, principal: Principal, token: String) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some((principal, token));
        self.notify.notify_one();
    }

    /// The next refreshed session handed over.
    pub async fn next(&self) -> (Principal, String) {
        loop {
            if let Some(fresh) = self.latest.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return fresh;
            }
            self.notify.notified().await;
        }
    }
}

impl std::fmt::Debug for SocketLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketLink")
            .field("conn", &self.conn.id)
            .finish()
    }
}
