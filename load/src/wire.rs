//! The sockets a scenario holds. [`Link`]: one subscriber that can also publish, on a topic
//! or room of any target, carrying a text body; the bodies are [`Stamp`]s. [`Session`]: an
//! authenticated Tainá socket in one of its three modes, for the connection scenarios.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taina_protocol::client::{
    ConnectOptions, GraphqlClient, GraphqlEvent, Incoming, MuxClient, PhoenixClient,
};
use taina_protocol::phoenix::Payload;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as Ws};

use crate::socketio::SocketIoClient;
use crate::target::{Mode, Target};

pub type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain WebSocket to `url`, from the options' source address.
pub async fn connect_raw(url: &str, options: &ConnectOptions) -> anyhow::Result<RawSocket> {
    let request = url.into_client_request()?;
    let stream = options.tcp_stream(&request).await?;
    let (socket, _) = tokio_tungstenite::client_async_with_config(
        request,
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        None,
    )
    .await?;
    Ok(socket)
}

/// What a scenario publishes: its number and its send time (µs since the epoch), as the text
/// `"n t"` so every target carries it unchanged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stamp {
    pub n: u64,
    pub t: u64,
}

impl Stamp {
    pub fn encode(&self) -> String {
        format!("{} {}", self.n, self.t)
    }

    pub fn decode(body: &str) -> Option<Stamp> {
        let (n, t) = body.split_once(' ')?;
        Some(Stamp {
            n: n.parse().ok()?,
            t: t.parse().ok()?,
        })
    }
}

/// The subscription id a [`Link`] uses on GraphQL sockets.
const SUBSCRIPTION: &str = "s";

pub enum Link {
    /// Tainá over Phoenix: join `topic`, push `event` with `{body}`.
    Phoenix {
        client: PhoenixClient,
        topic: String,
        event: &'static str,
    },
    /// Tainá over the mux socket, the same frames.
    Mux {
        client: MuxClient,
        topic: String,
        event: &'static str,
    },
    /// Tainá over graphql-transport-ws: `messageReceived` of a conversation, `sendMessage`.
    TainaGraphql {
        client: GraphqlClient,
        conversation: String,
        sent: u64,
    },
    /// The reference graphql-ws server: `messages(topic)`, `publish(topic, body)`.
    GraphqlWs {
        client: GraphqlClient,
        topic: String,
        sent: u64,
    },
    /// Socket.IO: `join` a room, emit `publish`, receive `message`.
    SocketIo {
        client: SocketIoClient,
        room: String,
    },
    /// The floor: every text frame goes to everyone.
    Raw(RawSocket),
}

impl Link {
    /// Subscribes to `topic` on `target`. For Tainá, `topic` is a Phoenix topic
    /// (`system:alerts`, `conversation:ID`) and `token` authenticates; peers take any name.
    pub async fn open(
        target: &Target,
        ws_url: &str,
        token: &str,
        topic: &str,
        options: &ConnectOptions,
    ) -> anyhow::Result<Link> {
        let event = if topic.starts_with("conversation:") {
            "new_msg"
        } else {
            "alert"
        };
        Ok(match target {
            Target::Taina(Mode::Phoenix) => {
                let mut client =
                    PhoenixClient::connect_with(ws_url, &[("token", token)], options).await?;
                client.join(topic, json!({})).await?;
                Link::Phoenix {
                    client,
                    topic: topic.to_string(),
                    event,
                }
            }
            Target::Taina(Mode::Mux) => {
                let mut client = MuxClient::connect_with(ws_url, token, options).await?;
                client.join(topic, json!({})).await?;
                Link::Mux {
                    client,
                    topic: topic.to_string(),
                    event,
                }
            }
            Target::Taina(Mode::Graphql) => {
                let conversation = topic.strip_prefix("conversation:").ok_or_else(|| {
                    anyhow::anyhow!(
                        "over GraphQL, Tainá's subscriptions are per conversation (use rooms)"
                    )
                })?;
                let mut client = GraphqlClient::connect_with(ws_url, token, options).await?;
                client
                    .subscribe(
                        SUBSCRIPTION,
                        "subscription($c: String!) { messageReceived(conversationId: $c) { body } }",
                        json!({ "c": conversation }),
                    )
                    .await?;
                Link::TainaGraphql {
                    client,
                    conversation: conversation.to_string(),
                    sent: 0,
                }
            }
            Target::GraphqlWs(url) => {
                let mut client = GraphqlClient::connect_with(url, "", options).await?;
                client
                    .subscribe(
                        SUBSCRIPTION,
                        "subscription($t: String!) { messages(topic: $t) }",
                        json!({ "t": topic }),
                    )
                    .await?;
                // The subscription is live once the server answers a later operation.
                client.execute("{ ok }", Value::Null).await?;
                Link::GraphqlWs {
                    client,
                    topic: topic.to_string(),
                    sent: 0,
                }
            }
            Target::SocketIo(base) => {
                let mut client = SocketIoClient::connect(base, options).await?;
                client.call("join", &[json!(topic)]).await?;
                Link::SocketIo {
                    client,
                    room: topic.to_string(),
                }
            }
            Target::Floor(url) => Link::Raw(connect_raw(url, options).await?),
        })
    }

    /// The next body published on the topic, or `None` on timeout or close.
    pub async fn next(&mut self, timeout: Duration) -> Option<String> {
        match self {
            Link::Phoenix {
                client,
                topic,
                event,
            } => loop {
                match client.next_message(timeout).await {
                    Ok(Incoming::Message(m)) if m.topic == *topic && m.event == *event => {
                        if let Some(body) = phoenix_body(&m.payload) {
                            return Some(body);
                        }
                    }
                    Ok(Incoming::Message(_)) => continue,
                    _ => return None,
                }
            },
            Link::Mux {
                client,
                topic,
                event,
            } => loop {
                match client.next_message(timeout).await {
                    Ok(Incoming::Message(m)) if m.topic == *topic && m.event == *event => {
                        if let Some(body) = phoenix_body(&m.payload) {
                            return Some(body);
                        }
                    }
                    Ok(Incoming::Message(_)) => continue,
                    _ => return None,
                }
            },
            Link::TainaGraphql { client, .. } => {
                graphql_body(client, timeout, |data| {
                    data["messageReceived"]["body"].as_str()
                })
                .await
            }
            Link::GraphqlWs { client, .. } => {
                graphql_body(client, timeout, |data| data["messages"].as_str()).await
            }
            Link::SocketIo { client, .. } => loop {
                let event = client.next_event(timeout).await?;
                if event[0] == "message" {
                    if let Some(body) = event[1].as_str() {
                        return Some(body.to_string());
                    }
                }
            },
            Link::Raw(socket) => loop {
                match tokio::time::timeout(timeout, socket.next()).await {
                    Ok(Some(Ok(Ws::Text(text)))) => return Some(text.to_string()),
                    Ok(Some(Ok(_))) => continue,
                    _ => return None,
                }
            },
        }
    }

    /// Publishes `body` without waiting for an answer (answers are read and dropped by
    /// [`Link::next`] and [`Link::drain`]).
    pub async fn publish(&mut self, body: &str) -> anyhow::Result<()> {
        match self {
            Link::Phoenix {
                client,
                topic,
                event,
            } => {
                client
                    .push_no_reply(topic, event, json!({ "body": body }))
                    .await?;
            }
            Link::Mux {
                client,
                topic,
                event,
            } => {
                client
                    .push_no_reply(topic, event, json!({ "body": body }))
                    .await?;
            }
            Link::TainaGraphql {
                client,
                conversation,
                sent,
            } => {
                *sent += 1;
                client
                    .subscribe(
                        &format!("p{sent}"),
                        "mutation($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { id } }",
                        json!({ "c": conversation, "b": body }),
                    )
                    .await?;
            }
            Link::GraphqlWs {
                client,
                topic,
                sent,
            } => {
                *sent += 1;
                client
                    .subscribe(
                        &format!("p{sent}"),
                        "mutation($t: String!, $b: String!) { publish(topic: $t, body: $b) }",
                        json!({ "t": topic, "b": body }),
                    )
                    .await?;
            }
            Link::SocketIo { client, room } => {
                client.emit("publish", &[json!(room), json!(body)]).await?;
            }
            Link::Raw(socket) => socket.send(Ws::text(body.to_string())).await?,
        }
        Ok(())
    }

    /// Reads whatever is waiting without blocking (a publisher must keep reading too).
    pub async fn drain(&mut self) -> usize {
        let mut n = 0;
        while self.next(Duration::ZERO).await.is_some() {
            n += 1;
        }
        n
    }

    pub async fn close(self) {
        let _ = match self {
            Link::Phoenix { client, .. } => client.close().await,
            Link::Mux { client, .. } => client.close().await,
            Link::TainaGraphql { client, .. } | Link::GraphqlWs { client, .. } => {
                client.close().await
            }
            Link::SocketIo { client, .. } => {
                client.close().await;
                Ok(())
            }
            Link::Raw(mut socket) => {
                let _ = socket.close(None).await;
                Ok(())
            }
        };
    }
}

fn phoenix_body(payload: &Payload) -> Option<String> {
    match payload {
        Payload::Json(v) => v["body"].as_str().map(str::to_string),
        _ => None,
    }
}

/// The body in the next result of the subscription; results of publishing mutations and
/// other events are skipped.
async fn graphql_body(
    client: &mut GraphqlClient,
    timeout: Duration,
    body: impl Fn(&Value) -> Option<&str>,
) -> Option<String> {
    loop {
        match client.next_event(timeout).await {
            Ok(GraphqlEvent::Next { id, payload }) if id == SUBSCRIPTION => {
                if let Some(body) = body(&payload["data"]) {
                    return Some(body.to_string());
                }
            }
            Ok(GraphqlEvent::Closed { .. }) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// An open socket in one of the server's three modes, for the connection scenarios.
pub enum Session {
    Phoenix(PhoenixClient),
    Graphql(GraphqlClient),
    Mux(MuxClient),
}

impl Session {
    /// Connects in `mode` and subscribes to the user's own updates: Phoenix and mux join
    /// `user:{id}`; GraphQL authenticates with `connection_init`.
    pub async fn open(
        mode: Mode,
        url: &str,
        token: &str,
        user_topic: &str,
        options: &ConnectOptions,
    ) -> Result<Session, taina_protocol::client::ClientError> {
        match mode {
            Mode::Graphql => Ok(Session::Graphql(
                GraphqlClient::connect_with(url, token, options).await?,
            )),
            Mode::Mux => {
                let mut client = MuxClient::connect_with(url, token, options).await?;
                client.join(user_topic, json!({})).await?;
                Ok(Session::Mux(client))
            }
            Mode::Phoenix => {
                let mut client =
                    PhoenixClient::connect_with(url, &[("token", token)], options).await?;
                client.join(user_topic, json!({})).await?;
                Ok(Session::Phoenix(client))
            }
        }
    }

    /// A round trip the server must answer: a heartbeat, or `{ me { id } }` for GraphQL.
    pub async fn round_trip(&mut self) -> bool {
        match self {
            Session::Phoenix(client) => client.heartbeat().await.is_ok(),
            Session::Mux(client) => client.heartbeat().await.is_ok(),
            Session::Graphql(client) => client.execute("{ me { id } }", json!({})).await.is_ok(),
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Session::Phoenix(client) => client.close().await,
            Session::Graphql(client) => client.close().await,
            Session::Mux(client) => client.close().await,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_as_text() {
        let stamp = Stamp {
            n: 7,
            t: 1_764_000_000_000_000,
        };
        assert_eq!(Stamp::decode(&stamp.encode()), Some(stamp));
        assert_eq!(Stamp::decode("7"), None);
        assert_eq!(Stamp::decode("a b"), None);
    }
}
