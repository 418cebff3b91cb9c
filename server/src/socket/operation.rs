//! A graphql-transport-ws operation as its session and whoever serves it share it: its id, the
//! socket's outbox, whether it is done, and the task running it through async-graphql.
//!
//! A subscription of one root field may be handed over by its resolver ([`Handover`]): the
//! resolver's stream yields what only this subscriber gets (a recovery prefix) and ends, the
//! task and async-graphql's per-operation state (~15 KB: the parsed document, variables,
//! environment, the stream it wraps) go with it, and results rendered once for every
//! subscriber alike then arrive through [`SocketOperation::send`] from what took the
//! operation over ([`Served`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use taina_protocol::close;
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::graphql::AppSchema;
use crate::realtime::{Frame, Lane, Outbox, PushError};

/// Queues a text frame; a full outbox ends the connection as a slow consumer.
pub(super) fn push(outbox: &Outbox, text: String) {
    if let Err(PushError::Full) = outbox.push(Lane::Realtime, Frame::Text(Utf8Bytes::from(text))) {
        outbox.close_now(close::SLOW_CONSUMER, "slow consumer: outbox full");
    }
}

/// One result of an operation, encoded once however many operations it goes to.
pub struct Rendered {
    /// The whole response, the payload of `next`.
    response: Box<str>,
    /// Its errors, when nothing else came with them: sent as `error` if this is the
    /// operation's first result (nothing ran: validation, authorisation). A `not_recovered`
    /// notice is not such an error: the subscription goes on live, so it travels as `next`.
    errors_only: Option<Box<str>>,
}

impl Rendered {
    pub fn of(response: &async_graphql::Response) -> Self {
        let only_notice = response.errors.iter().all(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code"))
                == Some(&async_graphql::Value::from("not_recovered"))
        });
        let errors_only = (response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && !only_notice)
            .then(|| encode(&response.errors));
        Self {
            response: encode(response),
            errors_only,
        }
    }
}

fn encode(value: &impl serde::Serialize) -> Box<str> {
    serde_json::to_string(value)
        .unwrap_or_else(|error| {
            tracing::error!(%error, "a GraphQL result could not be encoded");
            "null".into()
        })
        .into_boxed_str()
}

/// Whether an operation goes on after a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Continues,
    Ended,
}

/// What serves an operation once its resolver handed it over.
pub trait Served: Send + Sync {
    /// The resolver's own results are out: what arrived meanwhile may follow.
    fn start(&self);
    /// The operation is over (completed by the client, ended, or its socket closed).
    fn stop(&self);
}

/// In the request data of a subscription with one root field: what its resolver needs to
/// take the operation over ([`SocketOperation::hand_over`]) and render its results.
pub struct Handover {
    pub operation: Arc<SocketOperation>,
    pub schema: AppSchema,
    pub query: Box<str>,
    /// `query` parsed, shared with whoever else sent the same text.
    pub document: Arc<ExecutableDocument>,
    pub operation_name: Option<Box<str>>,
    /// The variables as JSON (an object), so equal requests compare equal.
    pub variables: Box<str>,
}

pub struct SocketOperation {
    /// The operation's id, already a JSON string.
    id_json: Box<str>,
    outbox: Arc<Outbox>,
    /// Set just before the final `complete`/`error` goes out, so the id may be reused at once.
    done: AtomicBool,
    /// A result went out (the first error result is an `error`, later ones a `next`).
    sent: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Running through async-graphql; let go when that ends (the task's memory lives as long
    /// as a handle on it).
    task: Option<AbortHandle>,
    task_ended: bool,
    served: Option<Arc<dyn Served>>,
    cancelled: bool,
}

impl SocketOperation {
    pub(super) fn new(id: &str, outbox: Arc<Outbox>) -> Arc<Self> {
        Arc::new(Self {
            id_json: encode(&id),
            outbox,
            done: AtomicBool::new(false),
            sent: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        })
    }

    pub(super) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Keeps a way to abort the task running the operation, unless it already ended.
    pub(super) fn keep_task(&self, task: AbortHandle) {
        let mut state = self.state.lock().expect("operation lock");
        if !state.task_ended && !state.cancelled {
            state.task = Some(task);
        }
    }

    /// Sends one result as `next`, or as `error` when it is the first and nothing ran.
    pub fn send(&self, result: &Rendered) -> Sent {
        if self.is_done() {
            return Sent::Ended;
        }
        let first = !self.sent.swap(true, Ordering::AcqRel);
        match &result.errors_only {
            Some(errors) if first => {
                self.done.store(true, Ordering::Release);
                push(
                    &self.outbox,
                    format!(
                        r#"{{"id":{},"type":"error","payload":{errors}}}"#,
                        self.id_json
                    ),
                );
                Sent::Ended
            }
            _ => {
                push(
                    &self.outbox,
                    format!(
                        r#"{{"id":{},"type":"next","payload":{}}}"#,
                        self.id_json, result.response
                    ),
                );
                Sent::Continues
            }
        }
    }

    /// Ends the operation with `complete` (nothing when it already ended).
    pub fn complete(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            push(
                &self.outbox,
                format!(r#"{{"id":{},"type":"complete"}}"#, self.id_json),
            );
        }
    }

    /// Lets `served` serve the operation once the resolver's stream ends. False when the
    /// operation was cancelled meanwhile (then nothing will call `served` back).
    pub fn hand_over(&self, served: Arc<dyn Served>) -> bool {
        let mut state = self.state.lock().expect("operation lock");
        if state.cancelled {
            return false;
        }
        state.served = Some(served);
        true
    }

    /// The async-graphql task is at its end: let go of it, and say who serves the
    /// operation from now on, if anyone took it over.
    pub(super) fn task_ended(&self) -> Option<Arc<dyn Served>> {
        let mut state = self.state.lock().expect("operation lock");
        state.task_ended = true;
        state.task = None;
        state.served.clone()
    }

    /// What served the operation ended it: let go of it (it holds its group).
    pub fn let_go(&self) {
        let served = self.state.lock().expect("operation lock").served.take();
        drop(served);
    }

    /// The client completed the operation, the socket closed, or its task failed: stop
    /// whatever runs it, and send nothing more for it (the client may reuse its id at once).
    pub(super) fn cancel(&self) {
        self.done.store(true, Ordering::Release);
        let (task, served) = {
            let mut state = self.state.lock().expect("operation lock");
            state.cancelled = true;
            (state.task.take(), state.served.take())
        };
        if let Some(task) = task {
            task.abort();
        }
        if let Some(served) = served {
            served.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn frames(outbox: &Outbox) -> Vec<Value> {
        std::iter::from_fn(|| outbox.try_next())
            .map(|frame| match frame {
                Frame::Text(text) => serde_json::from_str(&text).expect("JSON"),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn error(message: &str, code: Option<&str>) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(message, None);
        if let Some(code) = code {
            let mut values = async_graphql::ErrorExtensionValues::default();
            values.set("code", code);
            error.extensions = Some(values);
        }
        error
    }

    #[test]
    fn a_first_error_result_is_an_error_and_ends_the_operation() {
        let outbox = Arc::new(Outbox::new(1 << 20));
        let operation = SocketOperation::new("a\"1", outbox.clone());
        let failed = Rendered::of(&async_graphql::Response::from_errors(vec![error(
            "no", None,
        )]));
        assert_eq!(operation.send(&failed), Sent::Ended);
        assert!(operation.is_done());
        assert_eq!(operation.send(&failed), Sent::Ended);
        operation.complete();
        assert_eq!(
            frames(&outbox),
            vec![json!({ "id": "a\"1", "type": "error", "payload": [{ "message": "no" }] })]
        );
    }

    #[test]
    fn a_later_error_result_is_a_next_and_a_notice_never_ends() {
        let outbox = Arc::new(Outbox::new(1 << 20));
        let operation = SocketOperation::new("1", outbox.clone());
        let notice =
            async_graphql::Response::from_errors(vec![error("gone", Some("not_recovered"))]);
        assert_eq!(operation.send(&Rendered::of(&notice)), Sent::Continues);
        let failed = async_graphql::Response::from_errors(vec![error("no", None)]);
        assert_eq!(operation.send(&Rendered::of(&failed)), Sent::Continues);
        operation.complete();
        operation.complete();
        assert!(operation.is_done());
        let sent = frames(&outbox);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[0]["type"], "next");
        assert_eq!(
            sent[0]["payload"]["errors"][0]["extensions"]["code"],
            "not_recovered"
        );
        assert_eq!(sent[1]["type"], "next");
        assert_eq!(sent[1]["payload"]["errors"][0]["message"], "no");
        assert_eq!(sent[2], json!({ "id": "1", "type": "complete" }));
    }

    struct Recorded(Mutex<Vec<&'static str>>);

    impl Served for Recorded {
        fn start(&self) {
            self.0.lock().unwrap().push("start");
        }
        fn stop(&self) {
            self.0.lock().unwrap().push("stop");
        }
    }

    #[test]
    fn a_cancelled_operation_stops_what_serves_it_and_refuses_a_late_handover() {
        let served = Arc::new(Recorded(Mutex::default()));
        let operation = SocketOperation::new("1", Arc::new(Outbox::new(1024)));
        assert!(operation.hand_over(served.clone()));
        assert!(operation.task_ended().is_some());
        operation.cancel();
        operation.cancel();
        assert_eq!(*served.0.lock().unwrap(), vec!["stop"]);
        assert!(!operation.hand_over(served.clone()));
        // Nothing more goes out for a cancelled operation.
        assert_eq!(
            operation.send(&Rendered::of(&async_graphql::Response::new(
                async_graphql::Value::Null
            ))),
            Sent::Ended
        );
        operation.complete();
        assert!(operation.outbox.try_next().is_none());
    }
}
