//! graphql-transport-ws messages a client sends (enisdenjo/graphql-ws `PROTOCOL.md`), as the
//! server reads them: [`parse_client_message`] into a typed [`ClientMessage`].
//!
//! The protocol closes the socket on any invalid message (4400), but some checks of the
//! session's state come first: `subscribe` before `connection_ack` is 4401 and a second
//! `connection_init` 4429 whatever their fields, and a duplicate subscription id is 4409 even
//! when the rest of the payload is bad. So every [`ParseError`] says which message type it was
//! found in ([`ParseError::message_type`]), and payload errors of a `subscribe` carry its id.

use serde_json::{json, Map, Value};

/// The `type` of a client message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    ConnectionInit,
    Ping,
    Pong,
    Subscribe,
    Complete,
}

impl MessageType {
    /// The wire name, e.g. `connection_init`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::ConnectionInit => "connection_init",
            MessageType::Ping => "ping",
            MessageType::Pong => "pong",
            MessageType::Subscribe => "subscribe",
            MessageType::Complete => "complete",
        }
    }

    fn from_wire(name: &str) -> Option<Self> {
        Some(match name {
            "connection_init" => MessageType::ConnectionInit,
            "ping" => MessageType::Ping,
            "pong" => MessageType::Pong,
            "subscribe" => MessageType::Subscribe,
            "complete" => MessageType::Complete,
            _ => return None,
        })
    }
}

/// One message from a graphql-transport-ws client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Opens the session; an absent or `null` payload reads as an empty object.
    ConnectionInit { payload: Map<String, Value> },
    /// Answered with a `pong` echoing an object payload; any other payload is ignored.
    Ping { payload: Option<Map<String, Value>> },
    /// An answer to the server's `ping`; any non-object payload is ignored.
    Pong { payload: Option<Map<String, Value>> },
    /// Starts operation `id`.
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    /// Stops operation `id`.
    Complete { id: String },
}

/// What a `subscribe` asks to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribePayload {
    pub query: String,
    /// `operationName`; anything but a string is ignored, like an absent one.
    pub operation_name: Option<String>,
    /// `variables`; `null` reads as absent.
    pub variables: Option<Map<String, Value>>,
}

/// Why a text frame is not a valid client message. Each message reads as the text after
/// "Invalid message received: " in the 4400 close reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON; the parser's own message.
    #[error("{0}")]
    NotJson(String),
    #[error("expected an object")]
    NotAnObject,
    /// No `type`, or not a string.
    #[error("missing `type`")]
    MissingType,
    #[error("unknown type `{0}`")]
    UnknownType(String),
    /// A `connection_init` payload that is neither an object nor `null`.
    #[error("payload must be an object")]
    InitPayloadNotObject,
    /// A `subscribe` or `complete` without a string `id`.
    #[error("missing `id`")]
    MissingId(MessageType),
    /// A `subscribe` without an object `payload`.
    #[error("missing `payload`")]
    MissingPayload,
    /// A `subscribe` (with a valid `id`) whose `payload.query` is not a string.
    #[error("payload.query must be a string")]
    QueryNotString { id: String },
    /// A `subscribe` (with a valid `id`) whose `payload.variables` is neither an object nor
    /// `null`.
    #[error("payload.variables must be an object")]
    VariablesNotObject { id: String },
}

impl ParseError {
    /// The message type the error was found in, once `type` was read.
    pub fn message_type(&self) -> Option<MessageType> {
        match self {
            ParseError::NotJson(_)
            | ParseError::NotAnObject
            | ParseError::MissingType
            | ParseError::UnknownType(_) => None,
            ParseError::InitPayloadNotObject => Some(MessageType::ConnectionInit),
            ParseError::MissingId(message_type) => Some(*message_type),
            ParseError::MissingPayload
            | ParseError::QueryNotString { .. }
            | ParseError::VariablesNotObject { .. } => Some(MessageType::Subscribe),
        }
    }
}

/// Parses one text frame of a graphql-transport-ws client.
///
/// Fields are checked in the order the protocol's reference server reports them: `type`,
/// then `id`, then `payload` (and within a `subscribe` payload, `query`, then `variables`).
/// Unknown fields are ignored.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    let message: Value =
        serde_json::from_str(text).map_err(|error| ParseError::NotJson(error.to_string()))?;
    let Value::Object(mut message) = message else {
        return Err(ParseError::NotAnObject);
    };
    let Some(Value::String(name)) = message.get("type") else {
        return Err(ParseError::MissingType);
    };
    let message_type =
        MessageType::from_wire(name).ok_or_else(|| ParseError::UnknownType(name.clone()))?;
    let payload = message.remove("payload");
    Ok(match message_type {
        MessageType::ConnectionInit => ClientMessage::ConnectionInit {
            payload: match payload {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(payload)) => payload,
                Some(_) => return Err(ParseError::InitPayloadNotObject),
            },
        },
        MessageType::Ping => ClientMessage::Ping {
            payload: object(payload),
        },
        MessageType::Pong => ClientMessage::Pong {
            payload: object(payload),
        },
        MessageType::Subscribe => {
            let id = id(&mut message, message_type)?;
            let payload = object(payload).ok_or(ParseError::MissingPayload)?;
            let payload =
                subscribe_payload(payload).map_err(|problem| problem.with_id(id.clone()))?;
            ClientMessage::Subscribe { id, payload }
        }
        MessageType::Complete => ClientMessage::Complete {
            id: id(&mut message, message_type)?,
        },
    })
}

impl ClientMessage {
    pub fn message_type(&self) -> MessageType {
        match self {
            ClientMessage::ConnectionInit { .. } => MessageType::ConnectionInit,
            ClientMessage::Ping { .. } => MessageType::Ping,
            ClientMessage::Pong { .. } => MessageType::Pong,
            ClientMessage::Subscribe { .. } => MessageType::Subscribe,
            ClientMessage::Complete { .. } => MessageType::Complete,
        }
    }

    /// The message as a client sends it (compact JSON); [`parse_client_message`] reads it
    /// back unchanged.
    pub fn encode(&self) -> String {
        let mut message = json!({ "type": self.message_type().as_str() });
        match self {
            ClientMessage::ConnectionInit { payload } => {
                message["payload"] = Value::Object(payload.clone());
            }
            ClientMessage::Ping { payload } | ClientMessage::Pong { payload } => {
                if let Some(payload) = payload {
                    message["payload"] = Value::Object(payload.clone());
                }
            }
            ClientMessage::Subscribe { id, payload } => {
                message["id"] = Value::from(id.as_str());
                let mut body = json!({ "query": payload.query });
                if let Some(name) = &payload.operation_name {
                    body["operationName"] = Value::from(name.as_str());
                }
                if let Some(variables) = &payload.variables {
                    body["variables"] = Value::Object(variables.clone());
                }
                message["payload"] = body;
            }
            ClientMessage::Complete { id } => {
                message["id"] = Value::from(id.as_str());
            }
        }
        message.to_string()
    }
}

fn object(value: Option<Value>) -> Option<Map<String, Value>> {
    match value {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn id(message: &mut Map<String, Value>, message_type: MessageType) -> Result<String, ParseError> {
    match message.remove("id") {
        Some(Value::String(id)) => Ok(id),
        _ => Err(ParseError::MissingId(message_type)),
    }
}

/// A `subscribe` payload problem, before the id is attached to it.
enum PayloadProblem {
    QueryNotString,
    VariablesNotObject,
}

impl PayloadProblem {
    fn with_id(self, id: String) -> ParseError {
        match self {
            PayloadProblem::QueryNotString => ParseError::QueryNotString { id },
            PayloadProblem::VariablesNotObject => ParseError::VariablesNotObject { id },
        }
    }
}

fn subscribe_payload(mut payload: Map<String, Value>) -> Result<SubscribePayload, PayloadProblem> {
    let Some(Value::String(query)) = payload.remove("query") else {
        return Err(PayloadProblem::QueryNotString);
    };
    let operation_name = match payload.remove("operationName") {
        Some(Value::String(name)) => Some(name),
        _ => None,
    };
    let variables = match payload.remove("variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(variables)) => Some(variables),
        Some(_) => return Err(PayloadProblem::VariablesNotObject),
    };
    Ok(SubscribePayload {
        query,
        operation_name,
        variables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn connection_init() {
        assert_eq!(
            parse_client_message(r#"{"type":"connection_init","payload":{"token":"t"}}"#),
            Ok(ClientMessage::ConnectionInit {
                payload: map(json!({"token": "t"}))
            })
        );
        for text in [
            r#"{"type":"connection_init"}"#,
            r#"{"type":"connection_init","payload":null}"#,
        ] {
            assert_eq!(
                parse_client_message(text),
                Ok(ClientMessage::ConnectionInit {
                    payload: Map::new()
                })
            );
        }
        for payload in ["1", "\"x\"", "[]", "true"] {
            let text = format!(r#"{{"type":"connection_init","payload":{payload}}}"#);
            let error = parse_client_message(&text).unwrap_err();
            assert_eq!(error, ParseError::InitPayloadNotObject);
            assert_eq!(error.message_type(), Some(MessageType::ConnectionInit));
        }
    }

    #[test]
    fn ping_and_pong_keep_only_object_payloads() {
        assert_eq!(
            parse_client_message(r#"{"type":"ping","payload":{"n":1}}"#),
            Ok(ClientMessage::Ping {
                payload: Some(map(json!({"n": 1})))
            })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ping","payload":"x"}"#),
            Ok(ClientMessage::Ping { payload: None })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"pong"}"#),
            Ok(ClientMessage::Pong { payload: None })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"pong","payload":[1]}"#),
            Ok(ClientMessage::Pong { payload: None })
        );
    }

    #[test]
    fn subscribe() {
        assert_eq!(
            parse_client_message(
                r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { a }","operationName":"A","variables":{"x":1},"extensions":{}}}"#
            ),
            Ok(ClientMessage::Subscribe {
                id: "1".into(),
                payload: SubscribePayload {
                    query: "subscription { a }".into(),
                    operation_name: Some("A".into()),
                    variables: Some(map(json!({"x": 1}))),
                }
            })
        );
        assert_eq!(
            parse_client_message(
                r#"{"id":"2","type":"subscribe","payload":{"query":"{ a }","operationName":7,"variables":null}}"#
            ),
            Ok(ClientMessage::Subscribe {
                id: "2".into(),
                payload: SubscribePayload {
                    query: "{ a }".into(),
                    operation_name: None,
                    variables: None,
                }
            })
        );
    }

    #[test]
    fn subscribe_errors_in_the_reference_order() {
        let cases = [
            (
                r#"{"type":"subscribe","payload":{}}"#,
                ParseError::MissingId(MessageType::Subscribe),
            ),
            (
                r#"{"id":1,"type":"subscribe","payload":{"query":"{ a }"}}"#,
                ParseError::MissingId(MessageType::Subscribe),
            ),
            (
                r#"{"id":"1","type":"subscribe"}"#,
                ParseError::MissingPayload,
            ),
            (
                r#"{"id":"1","type":"subscribe","payload":"{ a }"}"#,
                ParseError::MissingPayload,
            ),
            (
                r#"{"id":"1","type":"subscribe","payload":{"variables":1}}"#,
                ParseError::QueryNotString { id: "1".into() },
            ),
            (
                r#"{"id":"1","type":"subscribe","payload":{"query":"{ a }","variables":[]}}"#,
                ParseError::VariablesNotObject { id: "1".into() },
            ),
        ];
        for (text, expected) in cases {
            let error = parse_client_message(text).unwrap_err();
            assert_eq!(error, expected, "{text}");
            assert_eq!(error.message_type(), Some(MessageType::Subscribe), "{text}");
        }
    }

    #[test]
    fn complete() {
        assert_eq!(
            parse_client_message(r#"{"id":"a","type":"complete"}"#),
            Ok(ClientMessage::Complete { id: "a".into() })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"complete"}"#),
            Err(ParseError::MissingId(MessageType::Complete))
        );
    }

    #[test]
    fn envelope_errors() {
        assert!(matches!(
            parse_client_message("{"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_client_message(""),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(
            parse_client_message(r#"["connection_init"]"#),
            Err(ParseError::NotAnObject)
        );
        assert_eq!(
            parse_client_message(r#"{"payload":{}}"#),
            Err(ParseError::MissingType)
        );
        assert_eq!(
            parse_client_message(r#"{"type":1}"#),
            Err(ParseError::MissingType)
        );
        let error = parse_client_message(r#"{"type":"start","id":"1"}"#).unwrap_err();
        assert_eq!(error, ParseError::UnknownType("start".into()));
        assert_eq!(error.message_type(), None);
    }

    #[test]
    fn messages_read_as_the_4400_reasons() {
        assert_eq!(
            ParseError::UnknownType("start".into()).to_string(),
            "unknown type `start`"
        );
        assert_eq!(
            ParseError::MissingId(MessageType::Complete).to_string(),
            "missing `id`"
        );
        let not_json = serde_json::from_str::<Value>("{").unwrap_err().to_string();
        assert_eq!(parse_client_message("{").unwrap_err().to_string(), not_json);
    }

    #[test]
    fn encode_round_trips() {
        let messages = [
            ClientMessage::ConnectionInit {
                payload: Map::new(),
            },
            ClientMessage::ConnectionInit {
                payload: map(json!({"token": "a\"b"})),
            },
            ClientMessage::Ping { payload: None },
            ClientMessage::Ping {
                payload: Some(map(json!({"t": [1, 2]}))),
            },
            ClientMessage::Pong { payload: None },
            ClientMessage::Subscribe {
                id: "id-1".into(),
                payload: SubscribePayload {
                    query: "{ me { id } }".into(),
                    operation_name: Some("Me".into()),
                    variables: Some(map(json!({"after": null}))),
                },
            },
            ClientMessage::Complete { id: "é".into() },
        ];
        for message in messages {
            assert_eq!(
                parse_client_message(&message.encode()),
                Ok(message.clone()),
                "{}",
                message.encode()
            );
        }
    }
}
