//! Text frames: `[join_ref, ref, topic, event, payload]` as a compact JSON array.

use serde_json::Value;

use super::{DecodeError, Message, Payload};

/// Decodes a V2 text frame.
///
/// Exactly five elements are accepted: `join_ref` and `ref` are strings or
/// `null`, `topic` and `event` strings, and `payload` a JSON object.
pub fn decode_text(text: &str) -> Result<Message, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::EmptyFrame);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(DecodeError::NotArray);
    };
    let [join_ref, msg_ref, topic, event, payload] =
        <[Value; 5]>::try_from(items).map_err(|items| DecodeError::WrongArity(items.len()))?;
    let payload @ Value::Object(_) = payload else {
        return Err(DecodeError::PayloadNotObject);
    };
    Ok(Message {
        join_ref: optional_string(join_ref, "join_ref")?,
        msg_ref: optional_string(msg_ref, "ref")?,
        topic: string(topic, "topic")?,
        event: string(event, "event")?,
        payload: Payload::Json(payload),
    })
}

/// Encodes a V2 text frame as compact JSON.
///
/// `payload` should be a JSON object: stock clients reject anything else.
pub fn encode_text(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Value,
) -> String {
    // `Value`'s Display is compact JSON and cannot fail, unlike `to_string`.
    format!(
        "[{},{},{},{},{}]",
        nullable(join_ref),
        nullable(msg_ref),
        Value::from(topic),
        Value::from(event),
        payload
    )
}

/// Builds a `phx_reply` payload: `{"status": status, "response": response}`.
pub fn reply_payload(status: &str, response: Value) -> Value {
    serde_json::json!({ "status": status, "response": response })
}

fn nullable(field: Option<&str>) -> Value {
    field.map_or(Value::Null, Value::from)
}

fn optional_string(value: Value, field: &'static str) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(DecodeError::BadField(field)),
    }
}

fn string(value: Value, field: &'static str) -> Result<String, DecodeError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(DecodeError::BadField(field)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decodes_join() {
        let msg = decode_text(r#"["5","5","room:lobby","phx_join",{"a":1}]"#).unwrap();
        assert_eq!(
            msg,
            Message {
                join_ref: Some("5".into()),
                msg_ref: Some("5".into()),
                topic: "room:lobby".into(),
                event: "phx_join".into(),
                payload: Payload::Json(json!({"a": 1})),
            }
        );
    }

    #[test]
    fn decodes_null_refs() {
        let msg = decode_text(r#"[null,"6","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(msg.join_ref, None);
        assert_eq!(msg.msg_ref.as_deref(), Some("6"));
        let msg = decode_text(r#"[null,null,"room:lobby","new_msg",{"x":[1]}]"#).unwrap();
        assert_eq!((msg.join_ref, msg.msg_ref), (None, None));
    }

    #[test]
    fn encodes_compact_frames_from_protocol_facts() {
        assert_eq!(
            encode_text(
                Some("5"),
                Some("5"),
                "room:lobby",
                "phx_join",
                &json!({"a": 1})
            ),
            r#"["5","5","room:lobby","phx_join",{"a":1}]"#
        );
        assert_eq!(
            encode_text(None, Some("6"), "phoenix", "heartbeat", &json!({})),
            r#"[null,"6","phoenix","heartbeat",{}]"#
        );
        assert_eq!(
            encode_text(None, None, "a\"b", "e", &json!({})),
            r#"[null,null,"a\"b","e",{}]"#
        );
    }

    #[test]
    fn round_trips() {
        let payload = json!({"body": "olá, \"mundo\"", "n": [1, 2.5, null]});
        let text = encode_text(Some("1"), None, "room:ç", "new_msg", &payload);
        let msg = decode_text(&text).unwrap();
        assert_eq!(msg.join_ref.as_deref(), Some("1"));
        assert_eq!(msg.msg_ref, None);
        assert_eq!(msg.topic, "room:ç");
        assert_eq!(msg.event, "new_msg");
        assert_eq!(msg.payload, Payload::Json(payload));
    }

    #[test]
    fn reply_payload_shape() {
        assert_eq!(
            reply_payload("error", json!({"reason": "unmatched topic"})),
            json!({"status": "error", "response": {"reason": "unmatched topic"}})
        );
    }

    #[test]
    fn rejects_empty_text() {
        assert_eq!(decode_text(""), Err(DecodeError::EmptyFrame));
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(matches!(decode_text("[1,"), Err(DecodeError::NotJson(_))));
        assert!(matches!(decode_text("nope"), Err(DecodeError::NotJson(_))));
    }

    #[test]
    fn rejects_object_instead_of_array() {
        assert_eq!(
            decode_text(r#"{"topic":"t","event":"e","payload":{},"ref":"1"}"#),
            Err(DecodeError::NotArray)
        );
        assert_eq!(decode_text("42"), Err(DecodeError::NotArray));
    }

    #[test]
    fn rejects_wrong_arity() {
        assert_eq!(
            decode_text(r#"["1","1","t","e"]"#),
            Err(DecodeError::WrongArity(4))
        );
        assert_eq!(
            decode_text(r#"["1","1","t","e",{},{}]"#),
            Err(DecodeError::WrongArity(6))
        );
        assert_eq!(decode_text("[]"), Err(DecodeError::WrongArity(0)));
    }

    #[test]
    fn rejects_non_object_payload() {
        assert_eq!(
            decode_text(r#"["1","1","t","e",[]]"#),
            Err(DecodeError::PayloadNotObject)
        );
        assert_eq!(
            decode_text(r#"["1","1","t","e","x"]"#),
            Err(DecodeError::PayloadNotObject)
        );
    }

    #[test]
    fn rejects_numeric_refs() {
        assert_eq!(
            decode_text(r#"[5,"1","t","e",{}]"#),
            Err(DecodeError::BadField("join_ref"))
        );
        assert_eq!(
            decode_text(r#"["5",1,"t","e",{}]"#),
            Err(DecodeError::BadField("ref"))
        );
    }

    #[test]
    fn rejects_non_string_topic_and_event() {
        assert_eq!(
            decode_text(r#"[null,"1",null,"e",{}]"#),
            Err(DecodeError::BadField("topic"))
        );
        assert_eq!(
            decode_text(r#"[null,"1","t",7,{}]"#),
            Err(DecodeError::BadField("event"))
        );
    }
}
