//! Phoenix Channels V2 wire format: the frame model ([`Message`], [`Payload`]),
//! reserved names, and the text (JSON array) and binary codecs for both the
//! server and the client side.
//!
//! The binary header is asymmetric (a client push carries `ref`, a server push
//! does not), so each direction has its own encoder and decoder.

mod binary;
mod error;
pub mod event;
mod message;
mod text;

pub use binary::{
    decode_client_binary, decode_server_binary, encode_client_binary, encode_server_broadcast,
    encode_server_push, encode_server_reply,
};
pub use error::{DecodeError, EncodeError};
pub use message::{Message, Payload};
pub use text::{decode_text, encode_text, reply_payload};

/// The serializer version this crate speaks; clients send it as `vsn` in the
/// connect query string.
pub const VSN: &str = "2.0.0";

/// The topic heartbeats travel on.
pub const PHOENIX_TOPIC: &str = "phoenix";
