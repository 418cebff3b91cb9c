//! WebSocket close codes the server sends, and their meanings.
//!
//! Codes 4000–4999 are private-use (RFC 6455 §7.4.2). The Phoenix-side codes
//! below mirror HTTP statuses where one fits (4400 ≈ 400, 4408 ≈ 408…), while
//! the 45xx range marks conditions caused by load rather than by the client.

/// Normal closure: the client asked to close, or the session ended cleanly.
pub const NORMAL: u16 = 1000;
/// The server is shutting down; reconnect later.
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol itself.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text message was not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A frame or message exceeded the server's size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// The server is restarting: clients reconnect (the admin panel's socket on shutdown).
pub const SERVICE_RESTART: u16 = 1012;
/// A frame could not be decoded (bad JSON, wrong shape, unknown binary kind).
pub const INVALID_FRAME: u16 = 4400;
/// Signed out, revoked or token expired: do not reconnect with the same token.
pub const SESSION_ENDED: u16 = 4403;
/// No data from the client within the idle timeout.
pub const IDLE_TIMEOUT: u16 = 4408;
/// The client read too slowly and its outgoing queue overflowed.
pub const SLOW_CONSUMER: u16 = 4508;
/// The client sent more than its rate limit allows.
pub const RATE_LIMITED: u16 = 4529;
/// The account or address has too many open connections.
pub const TOO_MANY_CONNECTIONS: u16 = 4530;

/// Close codes of the graphql-transport-ws protocol (enisdenjo/graphql-ws
/// `CloseCode`). Some share a number with the Phoenix-side codes above; the
/// meaning follows from which protocol the connection speaks.
pub mod graphql {
    /// Invalid message: bad JSON, unknown type or bad fields.
    pub const INVALID_MESSAGE: u16 = 4400;
    /// `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` rejected (authentication).
    pub const FORBIDDEN: u16 = 4403;
    /// The `graphql-transport-ws` subprotocol was not negotiated.
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    /// No `connection_init` within the initialisation timeout.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A subscription with this id is already active.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INIT: u16 = 4429;
    /// Internal server error.
    pub const INTERNAL: u16 = 4500;
}

/// A short human-readable description of a close code the server uses
/// (Phoenix-side meaning where numbers overlap with [`graphql`]).
pub fn describe(code: u16) -> &'static str {
    match code {
        NORMAL => "normal closure",
        GOING_AWAY => "server shutting down",
        PROTOCOL_ERROR => "protocol error",
        INVALID_PAYLOAD => "invalid UTF-8 in a text message",
        MESSAGE_TOO_BIG => "message too big",
        INTERNAL_ERROR => "internal server error",
        INVALID_FRAME => "invalid frame",
        SESSION_ENDED => "session ended",
        IDLE_TIMEOUT => "idle timeout",
        SLOW_CONSUMER => "slow consumer",
        RATE_LIMITED => "rate limited",
        TOO_MANY_CONNECTIONS => "too many connections",
        graphql::UNAUTHORIZED => "unauthorized",
        graphql::SUBPROTOCOL_NOT_ACCEPTABLE => "subprotocol not acceptable",
        graphql::SUBSCRIBER_EXISTS => "subscriber already exists",
        graphql::TOO_MANY_INIT => "too many initialisation requests",
        graphql::INTERNAL => "internal server error",
        _ => "unknown close code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_contract() {
        assert_eq!(
            [
                NORMAL,
                GOING_AWAY,
                PROTOCOL_ERROR,
                MESSAGE_TOO_BIG,
                INTERNAL_ERROR,
                INVALID_FRAME,
                SESSION_ENDED,
                IDLE_TIMEOUT,
                SLOW_CONSUMER,
                RATE_LIMITED,
                TOO_MANY_CONNECTIONS
            ],
            [1000, 1001, 1002, 1009, 1011, 4400, 4403, 4408, 4508, 4529, 4530]
        );
        assert_eq!(
            [
                graphql::INVALID_MESSAGE,
                graphql::UNAUTHORIZED,
                graphql::FORBIDDEN,
                graphql::SUBPROTOCOL_NOT_ACCEPTABLE,
                graphql::INIT_TIMEOUT,
                graphql::SUBSCRIBER_EXISTS,
                graphql::TOO_MANY_INIT,
                graphql::INTERNAL
            ],
            [4400, 4401, 4403, 4406, 4408, 4409, 4429, 4500]
        );
    }

    #[test]
    fn describes_known_and_unknown_codes() {
        assert_eq!(describe(SESSION_ENDED), "session ended");
        assert_eq!(describe(SLOW_CONSUMER), "slow consumer");
        assert_eq!(
            describe(graphql::TOO_MANY_INIT),
            "too many initialisation requests"
        );
        assert_eq!(describe(3999), "unknown close code");
    }
}
