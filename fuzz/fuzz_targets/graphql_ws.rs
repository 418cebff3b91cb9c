//! graphql-transport-ws client messages (`parse_client_message`): never panics, refuses
//! exactly the texts that are not JSON objects with a known string `type`, reports errors in
//! the right message type, and an accepted message survives encode → parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taina_fuzz::same_map;
use taina_protocol::graphql_ws::{parse_client_message, ClientMessage, ParseError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_client_message(text);
    let value = serde_json::from_str::<Value>(text);
    match (&parsed, &value) {
        (Err(ParseError::NotJson(_)), Err(_)) => return,
        (_, Err(_)) => panic!("not JSON, yet {parsed:?}"),
        (Err(ParseError::NotJson(_)), Ok(_)) => panic!("JSON refused as not JSON"),
        (Err(ParseError::NotAnObject), Ok(value)) => assert!(!value.is_object()),
        (Err(ParseError::MissingType), Ok(value)) => assert!(!value["type"].is_string()),
        (Err(error), Ok(value)) => {
            let kind = value["type"].as_str().expect("a string type");
            match error.message_type() {
                Some(message_type) => assert_eq!(message_type.as_str(), kind),
                None => assert!(matches!(error, ParseError::UnknownType(name) if name == kind)),
            }
        }
        (Ok(message), Ok(value)) => {
            assert_eq!(
                Some(message.message_type().as_str()),
                value["type"].as_str()
            );
        }
    }
    let Ok(message) = parsed else {
        return;
    };
    let again = parse_client_message(&message.encode()).expect("an encoded message parses");
    assert!(same_message(&message, &again), "{message:?} != {again:?}");
});

/// Equal messages, up to the float rounding of JSON payloads (see `same_json`).
fn same_message(a: &ClientMessage, b: &ClientMessage) -> bool {
    use ClientMessage::*;
    let same_optional = |a: &Option<_>, b: &Option<_>| match (a, b) {
        (Some(a), Some(b)) => same_map(a, b),
        (None, None) => true,
        _ => false,
    };
    match (a, b) {
        (ConnectionInit { payload: a }, ConnectionInit { payload: b }) => same_map(a, b),
        (Ping { payload: a }, Ping { payload: b }) | (Pong { payload: a }, Pong { payload: b }) => {
            same_optional(a, b)
        }
        (
            Subscribe {
                id: a_id,
                payload: a,
            },
            Subscribe {
                id: b_id,
                payload: b,
            },
        ) => {
            a_id == b_id
                && a.query == b.query
                && a.operation_name == b.operation_name
                && same_optional(&a.variables, &b.variables)
        }
        (Complete { id: a }, Complete { id: b }) => a == b,
        _ => false,
    }
}
