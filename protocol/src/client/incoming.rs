//! What the client's read side yields: a message or the end of the connection.

use crate::phoenix::Message;

/// One item read from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A decoded Phoenix message.
    Message(Message),
    /// The connection closed. `code` is 1005 for a close frame without a
    /// status and 1006 when the connection ended without a close frame.
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}
