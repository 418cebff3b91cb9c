//! The graphql-transport-ws side of a socket, written to the protocol (enisdenjo/graphql-ws
//! `PROTOCOL.md`) rather than async-graphql's own WebSocket driver, which departs from it:
//! 4400 invalid message, 4401 subscribe before ack, 4403 rejected init, 4409 duplicate id,
//! 4429 second init (4408, the init timeout, is the driver's timer). Operation errors before
//! any result arrive as an `error` message; results as `next`, then `complete`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use taina_protocol::close::graphql as code;
use taina_protocol::graphql_ws::{
    parse_client_message, ClientMessage, MessageType, ParseError, SubscribePayload,
};

use super::operation::{push, Handover, Rendered, Sent, SocketOperation};
use super::SocketLink;
use crate::contexts::auth::{ClientInfo, Principal};
use crate::graphql::Caller;
use crate::realtime::Outbox;
use crate::state::AppState;
use crate::task::run_or_spawn;

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

pub struct GraphqlSession {
    state: AppState,
    outbox: Arc<Outbox>,
    client: ClientInfo,
    /// Known from the upgrade (mux with a token) or from `connection_init`.
    principal: Option<Principal>,
    init_received: bool,
    acked: bool,
    operations: HashMap<String, Arc<SocketOperation>>,
    link: Option<Arc<SocketLink>>,
}

/// Queues a protocol message; a full outbox ends the connection as a slow consumer.
fn send(outbox: &Outbox, message: &Value) {
    push(outbox, message.to_string());
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
            operation.cancel();
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
                    operation.cancel();
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
            if !existing.is_done() {
                return Err(fatal(
                    code::SUBSCRIBER_EXISTS,
                    format!("Subscriber for {id} already exists"),
                ));
            }
        }
        self.operations.retain(|_, operation| !operation.is_done());
        Ok(())
    }

    /// Starts operation `id`, whose id was claimed.
    fn subscribe(&mut self, id: String, payload: SubscribePayload) {
        let operation = SocketOperation::new(&id, self.outbox.clone());
        let mut request = async_graphql::Request::new(payload.query);
        if let Some(name) = &payload.operation_name {
            request = request.operation_name(name);
        }
        let variables = payload.variables.map(Value::Object);
        // Parsed here rather than in the task (or copied from the parse kept for this text);
        // the execution uses it.
        let document = self.state.graphql_documents.prepare(&mut request);
        let handed_over = document.filter(|document| {
            is_one_root_field_subscription(document, payload.operation_name.as_deref())
        });
        if let Some(document) = handed_over {
            let handover = Handover {
                operation: operation.clone(),
                schema: self.state.graphql.clone(),
                query: request.query.clone().into_boxed_str(),
                document,
                operation_name: payload.operation_name.map(String::into_boxed_str),
                variables: variables
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), Value::to_string)
                    .into_boxed_str(),
            };
            request = request.data(handover);
        }
        if let Some(variables) = variables {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        let request = request.data(Caller {
            principal: self.principal.clone(),
            client: self.client.clone(),
            socket: self.link.clone(),
        });
        // Its first steps run here, as a Phoenix push's do: validation, and for `sendMessage`
        // the way to the message writer, without first waiting in the runtime's queue. A task
        // of its own takes over where it waits.
        let task = run_or_spawn(run_operation(
            self.state.graphql.clone(),
            operation.clone(),
            Box::new(request),
        ));
        if let Some(task) = task {
            operation.keep_task(task);
        }
        self.operations.insert(id, operation);
    }
}

/// Whether the operation to run is a subscription of exactly one root field: only such a
/// subscription's resolver may take it over ([`Handover`]), since nothing else then produces
/// its results. As async-graphql runs a subscription, only the fields written at its root
/// count (it runs no fragment there, and every field whatever its directives).
fn is_one_root_field_subscription(document: &ExecutableDocument, name: Option<&str>) -> bool {
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return false,
        },
        // A named operation alone in its document runs without being named.
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation,
                None => return false,
            }
        }
        _ => return false,
    };
    operation.node.ty == OperationType::Subscription
        && operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .filter(|selection| matches!(selection.node, Selection::Field(_)))
            .count()
            == 1
}

fn unauthorized() -> Fatal {
    fatal(code::UNAUTHORIZED, "Unauthorized")
}

impl Drop for GraphqlSession {
    fn drop(&mut self) {
        for (_, operation) in self.operations.drain() {
            operation.cancel();
        }
    }
}

async fn run_operation(
    schema: crate::graphql::AppSchema,
    operation: Arc<SocketOperation>,
    // Boxed: an argument keeps its slot in the task's state for the operation's whole life,
    // even once moved into the stream (344 bytes on every subscription).
    request: Box<async_graphql::Request>,
) {
    // Should the task panic, what took the operation over is stopped all the same.
    let unwinding = CancelOnDrop(Some(operation.clone()));
    let mut results = schema.execute_stream(*request);
    while let Some(response) = results.next().await {
        if operation.send(&Rendered::of(&response)) == Sent::Ended {
            break;
        }
    }
    drop(results);
    drop(unwinding.disarm());
    match operation.task_ended() {
        // Its resolver took the operation over: its own results are out, the rest follows.
        Some(served) if !operation.is_done() => served.start(),
        Some(served) => {
            served.stop();
            operation.let_go();
        }
        // (Nothing when the client completed it meanwhile: `cancel` made it done.)
        None => operation.complete(),
    }
}

/// Cancels an operation when dropped armed: its task ended without reaching its end.
struct CancelOnDrop(Option<Arc<SocketOperation>>);

impl CancelOnDrop {
    fn disarm(mut self) -> Option<Arc<SocketOperation>> {
        self.0.take()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(operation) = self.0.take() {
            operation.cancel();
        }
    }
}
