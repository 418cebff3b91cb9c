//! The graphql-transport-ws side of a socket, written to the protocol (enisdenjo/graphql-ws
//! `PROTOCOL.md`) rather than async-graphql's own WebSocket driver, which departs from it:
//! 4400 invalid message, 4401 subscribe before ack, 4403 rejected init, 4409 duplicate id,
//! 4429 second init (4408, the init timeout, is the driver's timer). Operation errors before
//! any result arrive as an `error` message; results as `next`, then `complete`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use taina_protocol::close;
use taina_protocol::close::graphql as code;
use taina_protocol::graphql_ws::{
    parse_client_message, ClientMessage, MessageType, ParseError, SubscribePayload,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::SocketLink;
use crate::contexts::auth::{ClientInfo, Principal};
use crate::graphql::Caller;
use crate::realtime::{Frame, Lane, Outbox, PushError};
use crate::state::AppState;

/// A protocol violation that ends the GraphQL (sub-)session with a close code.
#[derive(Debug, PartialEq)]
pub struct Fatal {
    pub code: u16,
    pub reason: String,
}

fn fatal(code: u16, reason: impl Into<String>) -> Fatal {
    Fatal {
        code,
        reason: reason.into(),
    }
}

/// The outcome of a `connection_init` that was accepted.
pub struct Authenticated {
    pub principal: Principal,
    pub token: String,
}

struct Operation {
    task: JoinHandle<()>,
    /// Set just before the final `complete`/`error` goes out, so the id may be reused at once.
    done: Arc<AtomicBool>,
}

pub struct GraphqlSession {
    state: AppState,
    outbox: Arc<Outbox>,
    client: ClientInfo,
    /// Known from the upgrade (mux with a token) or from `connection_init`.
    principal: Option<Principal>,
    init_received: bool,
    acked: bool,
    operations: HashMap<String, Operation>,
    link: Option<Arc<SocketLink>>,
}

/// Queues a text frame; a full outbox ends the connection as a slow consumer.
fn send(outbox: &Outbox, message: &impl serde::Serialize) {
    let text = match serde_json::to_string(message) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!(%error, "a graphql-transport-ws message could not be encoded");
            return;
        }
    };
    if let Err(PushError::Full) = outbox.push(Lane::Realtime, Frame::Text(Utf8Bytes::from(text))) {
        outbox.close_now(close::SLOW_CONSUMER, "slow consumer: outbox full");
    }
}

/// An operation's result as `next`, encoded straight from the response: this runs for every
/// subscriber at every event, and going through a `serde_json::Value` first built the whole
/// tree once more only to encode it.
#[derive(serde::Serialize)]
struct Next<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a async_graphql::Response,
}

impl GraphqlSession {
    pub fn new(
        state: AppState,
        outbox: Arc<Outbox>,
        client: ClientInfo,
        principal: Option<Principal>,
    ) -> Self {
        Self {
            state,
            outbox,
            client,
            principal,
            init_received: false,
            acked: false,
            operations: HashMap::new(),
            link: None,
        }
    }

    pub fn is_acked(&self) -> bool {
        self.acked
    }

    /// Ends the sub-session's operations and forgets the handshake (mux: a new
    /// `connection_init` may start over).
    pub fn reset(&mut self) {
        for (_, operation) in self.operations.drain() {
            operation.task.abort();
        }
        self.init_received = false;
        self.acked = false;
    }

    /// Updates the principal after an in-band token refresh on the Phoenix side (mux).
    pub fn set_principal(&mut self, principal: Principal) {
        self.principal = Some(principal);
    }

    /// Gives later operations a handle on the socket (for `refreshToken`).
    pub fn set_link(&mut self, link: Arc<SocketLink>) {
        self.link = Some(link);
    }

    /// The server's keep-alive: graphql-ws clients answer it, which keeps quiet sockets open.
    pub fn ping(&self) {
        if self.acked {
            send(&self.outbox, &json!({ "type": "ping" }));
        }
    }

    pub async fn on_text(&mut self, text: &str) -> Result<Option<Authenticated>, Fatal> {
        let message = parse_client_message(text).map_err(|error| self.refuse(error))?;
        match message {
            ClientMessage::ConnectionInit { payload } => self.connection_init(payload).await,
            ClientMessage::Ping { payload } => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = Value::Object(payload);
                }
                send(&self.outbox, &pong);
                Ok(None)
            }
            ClientMessage::Pong { .. } => Ok(None),
            ClientMessage::Subscribe { id, payload } => {
                if !self.acked {
                    return Err(unauthorized());
                }
                self.claim_id(&id)?;
                self.subscribe(id, payload);
                Ok(None)
            }
            ClientMessage::Complete { id } => {
                if let Some(operation) = self.operations.remove(&id) {
                    operation.task.abort();
                }
                Ok(None)
            }
        }
    }

    /// The close for a message the parser refused. The session's state is checked first, as
    /// for a valid message of the same type: a second `connection_init` is 4429 and a
    /// `subscribe` before the ack 4401 whatever their fields, and a duplicate id is 4409 even
    /// when the rest of the payload is bad.
    fn refuse(&mut self, error: ParseError) -> Fatal {
        match error.message_type() {
            Some(MessageType::ConnectionInit) => {
                if let Err(too_many) = self.claim_init() {
                    return too_many;
                }
            }
            Some(MessageType::Subscribe) if !self.acked => return unauthorized(),
            _ => {}
        }
        if let ParseError::QueryNotString { id } | ParseError::VariablesNotObject { id } = &error {
            if let Err(duplicate) = self.claim_id(id) {
                return duplicate;
            }
        }
        fatal(
            code::INVALID_MESSAGE,
            format!("Invalid message received: {error}"),
        )
    }

    /// Only one `connection_init` per session.
    fn claim_init(&mut self) -> Result<(), Fatal> {
        if self.init_received {
            return Err(fatal(
                code::TOO_MANY_INIT,
                "Too many initialisation requests",
            ));
        }
        self.init_received = true;
        Ok(())
    }

    async fn connection_init(
        &mut self,
        payload: Map<String, Value>,
    ) -> Result<Option<Authenticated>, Fatal> {
        self.claim_init()?;
        let mut authenticated = None;
        match payload.get("token").and_then(Value::as_str) {
            Some(token) => match self.state.auth.authenticate_from(token, &self.client).await {
                Ok(principal) => {
                    if let Some(known) = &self.principal {
                        if known.user_id != principal.user_id {
                            return Err(fatal(code::FORBIDDEN, "Forbidden: another user's token"));
                        }
                    }
                    self.principal = Some(principal.clone());
                    authenticated = Some(Authenticated {
                        principal,
                        token: token.to_string(),
                    });
                }
                Err(e) => return Err(fatal(code::FORBIDDEN, format!("Forbidden: {e}"))),
            },
            None if self.principal.is_some() => {}
            None => {
                return Err(fatal(
                    code::FORBIDDEN,
                    "Forbidden: send {\"token\": …} in connection_init",
                ))
            }
        }
        self.acked = true;
        send(&self.outbox, &json!({ "type": "connection_ack" }));
        Ok(authenticated)
    }

    /// An id may be reused once its operation is done, never while it still runs.
    fn claim_id(&mut self, id: &str) -> Result<(), Fatal> {
        if let Some(existing) = self.operations.get(id) {
            if !existing.done.load(Ordering::Acquire) {
                return Err(fatal(
                    code::SUBSCRIBER_EXISTS,
                    format!("Subscriber for {id} already exists"),
                ));
            }
        }
        self.operations
            .retain(|_, operation| !operation.done.load(Ordering::Acquire));
        Ok(())
    }

    /// Starts operation `id`, whose id was claimed.
    fn subscribe(&mut self, id: String, payload: SubscribePayload) {
        let mut request = async_graphql::Request::new(payload.query);
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = payload.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(
                variables,
            )));
        }
        let request = request.data(Caller {
            principal: self.principal.clone(),
            client: self.client.clone(),
            socket: self.link.clone(),
        });
        let done = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run_operation(
            self.state.graphql.clone(),
            self.outbox.clone(),
            id.clone(),
            Box::new(request),
            done.clone(),
        ));
        self.operations.insert(id, Operation { task, done });
    }
}

fn unauthorized() -> Fatal {
    fatal(code::UNAUTHORIZED, "Unauthorized")
}

impl Drop for GraphqlSession {
    fn drop(&mut self) {
        for (_, operation) in self.operations.drain() {
            operation.task.abort();
        }
    }
}

async fn run_operation(
    schema: crate::graphql::AppSchema,
    outbox: Arc<Outbox>,
    id: String,
    // Boxed: an argument keeps its slot in the task's state for the operation's whole life,
    // even once moved into the stream (344 bytes on every subscription).
    request: Box<async_graphql::Request>,
    done: Arc<AtomicBool>,
) {
    let mut results = schema.execute_stream(*request);
    let mut first = true;
    while let Some(response) = results.next().await {
        let only_notice = response.errors.iter().all(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code"))
                == Some(&async_graphql::Value::from("not_recovered"))
        });
        if first
            && response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && !only_notice
        {
            // Nothing ran (validation, authorisation): the protocol's `error`, which ends
            // the operation without `complete`. A `not_recovered` notice is not such an
            // error: the subscription goes on live, so it travels as `next`.
            done.store(true, Ordering::Release);
            send(
                &outbox,
                &json!({ "id": id, "type": "error", "payload": response.errors }),
            );
            return;
        }
        first = false;
        send(
            &outbox,
            &Next {
                id: &id,
                kind: "next",
                payload: &response,
            },
        );
    }
    done.store(true, Ordering::Release);
    send(&outbox, &json!({ "id": id, "type": "complete" }));
}
