//! Limits shared by the MessagePack decoders (transfer chunks, mux envelopes).

/// How deeply maps and arrays may nest in a decoded frame. Chunks and envelopes are flat maps;
/// rmp-serde's own limit (1,024) recurses deep enough to overflow a 2 MiB thread stack in a
/// debug build on a frame of about a kilobyte (found by fuzzing), which aborts the process.
pub(crate) const MAX_DEPTH: usize = 16;
