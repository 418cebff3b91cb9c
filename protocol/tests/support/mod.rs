//! The graphql-transport-ws side of the in-test servers, as a state machine
//! shared by the GraphQL-only and the mux test servers: each text message in,
//! the messages (or the fatal close) to answer with out.
//!
//! Queries are canned: `{ hello }`, `{ echo }` (its id and variables),
//! `{ interleave }` (another operation's events around its result),
//! `{ broken }` (an `error`), `{ ping }` (a server ping, answered with the
//! client's pong), `{ seen }` (what this side observed), `{ empty }`
//! (`complete` without a result), `{ silent }` (nothing), `{ fatal }` (4500)
//! and `subscription { ticks }` (two results, then open until `complete`).

use std::collections::HashSet;

use serde_json::{json, Value};
use taina_protocol::close::graphql as code;

/// What the server does after a message.
#[derive(Debug, PartialEq)]
pub enum Out {
    /// Sends this message.
    Send(Value),
    /// Ends the GraphQL (sub-)session with this close code and reason.
    Fatal(u16, String),
}

fn fatal(code: u16, reason: &str) -> Vec<Out> {
    vec![Out::Fatal(code, reason.to_owned())]
}

fn next(id: &str, data: Value) -> Out {
    Out::Send(json!({ "id": id, "type": "next", "payload": { "data": data } }))
}

fn complete(id: &str) -> Out {
    Out::Send(json!({ "id": id, "type": "complete" }))
}

/// One GraphQL (sub-)session.
pub struct GraphqlSide {
    /// The upgrade already authenticated the socket (mux with a token).
    authenticated: bool,
    init_received: bool,
    acked: bool,
    active: HashSet<String>,
    /// The `{ ping }` operation waiting for the client's pong.
    awaiting_pong: Option<String>,
    inits: Vec<Value>,
    pongs: Vec<Value>,
    completed: Vec<String>,
}

impl GraphqlSide {
    pub fn new(authenticated: bool) -> Self {
        GraphqlSide {
            authenticated,
            init_received: false,
            acked: false,
            active: HashSet::new(),
            awaiting_pong: None,
            inits: Vec::new(),
            pongs: Vec::new(),
            completed: Vec::new(),
        }
    }

    pub fn on_text(&mut self, text: &str) -> Vec<Out> {
        let invalid = || fatal(code::INVALID_MESSAGE, "Invalid message received");
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            return invalid();
        };
        let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
        let payload = message.get("payload").cloned().unwrap_or(Value::Null);
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => self.init(payload),
            Some("ping") => vec![Out::Send(json!({ "type": "pong" }))],
            Some("pong") => {
                self.pongs.push(payload);
                match self.awaiting_pong.take() {
                    Some(id) => {
                        let pong = self.pongs.last().cloned();
                        vec![next(&id, json!({ "pong": pong })), complete(&id)]
                    }
                    None => Vec::new(),
                }
            }
            Some("subscribe") => {
                let Some(id) = id else { return invalid() };
                if !self.acked {
                    return fatal(code::UNAUTHORIZED, "Unauthorized");
                }
                if !self.active.insert(id.clone()) {
                    return fatal(
                        code::SUBSCRIBER_EXISTS,
                        &format!("Subscriber for {id} already exists"),
                    );
                }
                let query = payload["query"].as_str().unwrap_or_default().to_owned();
                let outs = self.run(&id, &query, payload["variables"].clone());
                if outs.iter().any(|out| match out {
                    Out::Send(message) => {
                        message["id"] == id.as_str()
                            && (message["type"] == "complete" || message["type"] == "error")
                    }
                    Out::Fatal(..) => false,
                }) {
                    self.active.remove(&id);
                }
                outs
            }
            Some("complete") => {
                let Some(id) = id else { return invalid() };
                self.active.remove(&id);
                self.completed.push(id);
                Vec::new()
            }
            _ => invalid(),
        }
    }

    fn init(&mut self, payload: Value) -> Vec<Out> {
        if self.init_received {
            return fatal(code::TOO_MANY_INIT, "Too many initialisation requests");
        }
        self.init_received = true;
        self.inits.push(payload.clone());
        match payload["token"].as_str() {
            Some("good") => {}
            // Never acknowledged, for the ack timeout.
            Some("slow") => return Vec::new(),
            None if self.authenticated => {}
            _ => return fatal(code::FORBIDDEN, "Forbidden"),
        }
        self.authenticated = true;
        self.acked = true;
        vec![Out::Send(json!({ "type": "connection_ack" }))]
    }

    fn run(&mut self, id: &str, query: &str, variables: Value) -> Vec<Out> {
        match query {
            "subscription { ticks }" => vec![
                next(id, json!({ "ticks": 1 })),
                next(id, json!({ "ticks": 2 })),
            ],
            "{ hello }" => vec![next(id, json!({ "hello": "world" })), complete(id)],
            "{ echo }" => vec![
                next(id, json!({ "id": id, "variables": variables })),
                complete(id),
            ],
            "{ interleave }" => vec![
                next("other", json!({ "other": 1 })),
                next(id, json!({ "interleaved": true })),
                complete("other"),
                complete(id),
            ],
            "{ broken }" => vec![Out::Send(json!({
                "id": id,
                "type": "error",
                "payload": [{ "message": "Cannot query field \"broken\" on type \"Query\"." }]
            }))],
            "{ ping }" => {
                self.awaiting_pong = Some(id.to_owned());
                // An unsolicited pong first, which the client must ignore.
                vec![
                    Out::Send(json!({ "type": "pong" })),
                    Out::Send(json!({ "type": "ping", "payload": { "n": 1 } })),
                ]
            }
            "{ seen }" => vec![
                next(
                    id,
                    json!({ "inits": self.inits, "pongs": self.pongs, "completed": self.completed }),
                ),
                complete(id),
            ],
            "{ empty }" => vec![complete(id)],
            "{ silent }" => Vec::new(),
            "{ fatal }" => fatal(code::INTERNAL, "Internal server error"),
            _ => fatal(code::INVALID_MESSAGE, "Invalid message received"),
        }
    }
}
