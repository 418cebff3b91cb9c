//! Telling systemd how the server is doing under `Type=notify` (deploy/taina.service):
//! `READY=1` once the port is bound and background work started, `WATCHDOG=1` at half the
//! unit's `WatchdogSec` while the runtime keeps scheduling tasks, `STOPPING=1` when a
//! shutdown begins. Without `NOTIFY_SOCKET` (not under systemd) each call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// The server listens and works.
pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// A graceful shutdown has begun.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Pings the watchdog at half its interval, when the unit asks for one.
pub fn spawn_watchdog() {
    let mut micros = 0;
    if !sd_notify::watchdog_enabled(false, &mut micros) || micros == 0 {
        return;
    }
    let every = Duration::from_micros(micros) / 2;
    tracing::info!(
        seconds = every.as_secs_f64(),
        "pinging the systemd watchdog"
    );
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
