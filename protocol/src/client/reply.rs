//! A `phx_reply` as the client sees it, whether it came as text or binary.

use base64::Engine as _;
use serde_json::Value;

use super::ClientError;
use crate::phoenix::{DecodeError, Payload};

/// The answer to a join, push, leave or heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `"ok"`, `"error"` or an application status.
    pub status: String,
    /// [`Payload::Json`] with the `response` value for text replies,
    /// [`Payload::Binary`] with the data for binary replies.
    pub response: Payload,
}

/// Status of a refused push.
const ERROR_STATUS: &str = "error";

impl Reply {
    /// Reads a reply out of a `phx_reply` payload.
    pub(crate) fn from_payload(payload: Payload) -> Result<Reply, DecodeError> {
        match payload {
            Payload::Json(Value::Object(mut object)) => {
                let Some(Value::String(status)) = object.remove("status") else {
                    return Err(DecodeError::BadField("status"));
                };
                // Phoenix always sends `response`; a missing one is read as null
                // rather than failing the whole reply.
                let response = object.remove("response").unwrap_or(Value::Null);
                Ok(Reply {
                    status,
                    response: Payload::Json(response),
                })
            }
            Payload::BinaryReply { status, data } => Ok(Reply {
                status,
                response: Payload::Binary(data),
            }),
            Payload::Json(_) | Payload::Binary(_) => Err(DecodeError::BadField("status")),
        }
    }

    /// Turns an `"error"` reply into [`ClientError::Refused`].
    ///
    /// `Refused` holds JSON, so binary error data is carried as a standard
    /// base64 string.
    pub(crate) fn refuse_errors(self) -> Result<Reply, ClientError> {
        if self.status != ERROR_STATUS {
            return Ok(self);
        }
        Err(ClientError::Refused(match self.response {
            Payload::Json(value) => value,
            Payload::Binary(data) | Payload::BinaryReply { data, .. } => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(data))
            }
        }))
    }

    /// The JSON response of a reply that must be JSON (joins).
    pub(crate) fn into_json(self) -> Result<Value, DecodeError> {
        match self.response {
            Payload::Json(value) => Ok(value),
            Payload::Binary(_) | Payload::BinaryReply { .. } => {
                Err(DecodeError::BadField("response"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_text_replies() {
        let reply =
            Reply::from_payload(Payload::Json(json!({"status": "ok", "response": {"a": 1}})))
                .unwrap();
        assert_eq!(reply.status, "ok");
        assert_eq!(reply.response, Payload::Json(json!({"a": 1})));
        assert_eq!(reply.clone().into_json().unwrap(), json!({"a": 1}));
        assert_eq!(reply.clone().refuse_errors().unwrap(), reply);
    }

    #[test]
    fn reads_binary_replies() {
        let reply = Reply::from_payload(Payload::BinaryReply {
            status: "ok".into(),
            data: Bytes::from_static(b"hi"),
        })
        .unwrap();
        assert_eq!(reply.response, Payload::Binary(Bytes::from_static(b"hi")));
        assert_eq!(reply.into_json(), Err(DecodeError::BadField("response")));
    }

    #[test]
    fn refuses_error_replies() {
        let reply = Reply::from_payload(Payload::Json(
            json!({"status": "error", "response": {"reason": "unauthorized"}}),
        ))
        .unwrap();
        match reply.refuse_errors() {
            Err(ClientError::Refused(response)) => {
                assert_eq!(response, json!({"reason": "unauthorized"}))
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        let binary = Reply {
            status: "error".into(),
            response: Payload::Binary(Bytes::from_static(&[0xFF])),
        };
        match binary.refuse_errors() {
            Err(ClientError::Refused(response)) => assert_eq!(response, json!("/w==")),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_replies() {
        for payload in [
            Payload::Json(json!({"response": {}})),
            Payload::Json(json!({"status": 1})),
            Payload::Binary(Bytes::new()),
        ] {
            assert_eq!(
                Reply::from_payload(payload),
                Err(DecodeError::BadField("status"))
            );
        }
        let missing = Reply::from_payload(Payload::Json(json!({"status": "ok"}))).unwrap();
        assert_eq!(missing.response, Payload::Json(Value::Null));
    }
}
