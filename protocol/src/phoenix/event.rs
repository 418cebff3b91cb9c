//! Reserved Phoenix event names.

/// Client asks to join a topic; `join_ref == ref` of this push.
pub const JOIN: &str = "phx_join";
/// Server answer to any client push: payload `{"status", "response"}`.
pub const REPLY: &str = "phx_reply";
/// Client leaves a topic.
pub const LEAVE: &str = "phx_leave";
/// Server closed a channel gracefully; the client must not rejoin.
pub const CLOSE: &str = "phx_close";
/// Server-side channel crashed; the client rejoins with backoff.
pub const ERROR: &str = "phx_error";
/// Liveness ping on the `phoenix` topic.
pub const HEARTBEAT: &str = "heartbeat";
/// Full presence state, pushed after every (re)join.
pub const PRESENCE_STATE: &str = "presence_state";
/// Presence joins and leaves since the last state or diff.
pub const PRESENCE_DIFF: &str = "presence_diff";
/// Tainá's own: a large topic's presence as counts, `{devices, users}`, sent instead of
/// listing every device to every device.
pub const PRESENCE_SUMMARY: &str = "presence_summary";
