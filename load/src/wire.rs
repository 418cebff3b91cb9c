//! The sockets a scenario holds. [`Link`]: one subscriber that can also publish, on a topic
//! or room of any target, carrying a text body; the bodies are [`Stamp`]s. [`Session`]: an
//! authenticated Tainá socket in one of its three modes, for the connection scenarios.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taina_protocol::client::{
    ClientError, ConnectOptions, GraphqlClient, GraphqlEvent, Incoming, MuxClient, PhoenixClient,
};
use taina_protocol::phoenix::{self, Payload};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as Ws};

use crate::socketio::{Packet, SocketIoClient};
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
        Some(taina_protocol::client::socket_config()),
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

/// The subscription id a [`Link`] uses on GraphQL sockets; publications use `p<n>`.
const SUBSCRIPTION: &str = "s";

/// A subscriber that publishes too. It counts its publications and the server's
/// acknowledgements of them (Phoenix replies, GraphQL mutation results, Socket.IO acks), so
/// a publisher can keep a bounded window in flight: "as fast as the server takes".
pub struct Link {
    kind: Kind,
    published: u64,
    acked: u64,
}

enum Kind {
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
    /// graphql-transport-ws: a subscription for `key`, a mutation to publish.
    Graphql {
        client: GraphqlClient,
        dialect: &'static Dialect,
        key: String,
    },
    /// Socket.IO: `join` a room, emit `publish` (acknowledged), receive `message`.
    SocketIo {
        client: SocketIoClient,
        room: String,
    },
    /// The floor: every text frame goes to everyone. Nothing is acknowledged (TCP pushes
    /// back instead).
    Raw(RawSocket),
}

/// The operations a GraphQL server is loaded with; `$k` is the conversation or topic, `$b`
/// the body.
pub struct Dialect {
    subscription: &'static str,
    /// An operation the server must answer after it has set the subscription up.
    probe: &'static str,
    publish: &'static str,
    body: fn(&Value) -> Option<&str>,
}

/// Tainá: `messageReceived` of a conversation, `sendMessage`.
const TAINA_GRAPHQL: Dialect = Dialect {
    subscription: "subscription($k: String!) { messageReceived(conversationId: $k) { body } }",
    probe: "{ me { id } }",
    publish:
        "mutation($k: String!, $b: String!) { sendMessage(conversationId: $k, body: $b) { id } }",
    body: |data| data["messageReceived"]["body"].as_str(),
};

/// The reference graphql-ws server: `messages(topic)`, `publish(topic, body)`.
const REFERENCE_GRAPHQL: Dialect = Dialect {
    subscription: "subscription($k: String!) { messages(topic: $k) }",
    probe: "{ ok }",
    publish: "mutation($k: String!, $b: String!) { publish(topic: $k, body: $b) }",
    body: |data| data["messages"].as_str(),
};

/// What one read found.
enum Read {
    Body(String),
    Ack,
    Nothing,
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
        let kind = match target {
            Target::Taina(Mode::Phoenix) => {
                let mut client =
                    PhoenixClient::connect_with(ws_url, &[("token", token)], options).await?;
                client.join(topic, json!({})).await?;
                Kind::Phoenix {
                    client,
                    topic: topic.to_string(),
                    event,
                }
            }
            Target::Taina(Mode::Mux) => {
                let mut client = MuxClient::connect_with(ws_url, token, options).await?;
                client.join(topic, json!({})).await?;
                Kind::Mux {
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
                graphql_link(ws_url, token, options, &TAINA_GRAPHQL, conversation).await?
            }
            Target::GraphqlWs(url) => {
                graphql_link(url, "", options, &REFERENCE_GRAPHQL, topic).await?
            }
            Target::SocketIo(base) => {
                let mut client = SocketIoClient::connect(base, options).await?;
                client.call("join", &[json!(topic)]).await?;
                Kind::SocketIo {
                    client,
                    room: topic.to_string(),
                }
            }
            Target::Floor(url) => Kind::Raw(connect_raw(url, options).await?),
        };
        Ok(Link {
            kind,
            published: 0,
            acked: 0,
        })
    }

    /// Publications the server has not acknowledged yet.
    pub fn unacknowledged(&self) -> u64 {
        self.published - self.acked
    }

    /// The next body published on the topic, or `None` on timeout or close.
    /// Acknowledgements read on the way are counted.
    pub async fn next(&mut self, timeout: Duration) -> Option<String> {
        loop {
            match self.read(timeout).await? {
                Read::Body(body) => return Some(body),
                Read::Ack => self.acked += 1,
                Read::Nothing => {}
            }
        }
    }

    /// One frame's worth: a body, an acknowledgement, or something else; `None` on timeout
    /// or close.
    async fn read(&mut self, timeout: Duration) -> Option<Read> {
        match &mut self.kind {
            Kind::Phoenix {
                client,
                topic,
                event,
            } => phoenix_read(client.next_message(timeout).await, topic, event),
            Kind::Mux {
                client,
                topic,
                event,
            } => phoenix_read(client.next_message(timeout).await, topic, event),
            Kind::Graphql {
                client, dialect, ..
            } => graphql_read(client, timeout, dialect.body).await,
            Kind::SocketIo { client, .. } => match client.next_packet(timeout).await? {
                Packet::Event(event) if event[0] == "message" => Some(
                    event[1]
                        .as_str()
                        .map(|body| Read::Body(body.to_string()))
                        .unwrap_or(Read::Nothing),
                ),
                Packet::Ack(..) => Some(Read::Ack),
                _ => Some(Read::Nothing),
            },
            Kind::Raw(socket) => match tokio::time::timeout(timeout, socket.next()).await {
                Ok(Some(Ok(Ws::Text(text)))) => Some(Read::Body(text.to_string())),
                Ok(Some(Ok(_))) => Some(Read::Nothing),
                _ => None,
            },
        }
    }

    /// Publishes `body` without waiting for its acknowledgement (read later by
    /// [`Link::next`] and [`Link::drain`]).
    pub async fn publish(&mut self, body: &str) -> anyhow::Result<()> {
        self.published += 1;
        let n = self.published;
        match &mut self.kind {
            Kind::Phoenix {
                client,
                topic,
                event,
            } => {
                client
                    .push_no_reply(topic, event, json!({ "body": body }))
                    .await?;
            }
            Kind::Mux {
                client,
                topic,
                event,
            } => {
                client
                    .push_no_reply(topic, event, json!({ "body": body }))
                    .await?;
            }
            Kind::Graphql {
                client,
                dialect,
                key,
            } => {
                client
                    .subscribe(
                        &format!("p{n}"),
                        dialect.publish,
                        json!({ "k": key, "b": body }),
                    )
                    .await?;
            }
            Kind::SocketIo { client, room } => {
                client
                    .emit_acked("publish", &[json!(room), json!(body)])
                    .await?;
            }
            Kind::Raw(socket) => {
                socket.send(Ws::text(body.to_string())).await?;
                // Nothing comes back for it.
                self.acked += 1;
            }
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
        match self.kind {
            Kind::Phoenix { client, .. } => drop(client.close().await),
            Kind::Mux { client, .. } => drop(client.close().await),
            Kind::Graphql { client, .. } => drop(client.close().await),
            Kind::SocketIo { client, .. } => client.close().await,
            Kind::Raw(mut socket) => drop(socket.close(None).await),
        }
    }
}

/// A GraphQL socket subscribed to `key`, once the server has set the subscription up.
async fn graphql_link(
    url: &str,
    token: &str,
    options: &ConnectOptions,
    dialect: &'static Dialect,
    key: &str,
) -> anyhow::Result<Kind> {
    let mut client = GraphqlClient::connect_with(url, token, options).await?;
    client
        .subscribe(SUBSCRIPTION, dialect.subscription, json!({ "k": key }))
        .await?;
    // The subscription is live once the server answers a later operation.
    client.execute(dialect.probe, Value::Null).await?;
    Ok(Kind::Graphql {
        client,
        dialect,
        key: key.to_string(),
    })
}

fn phoenix_read(incoming: Result<Incoming, ClientError>, topic: &str, event: &str) -> Option<Read> {
    match incoming {
        Ok(Incoming::Message(m)) if m.topic == topic && m.event == event => {
            Some(match &m.payload {
                Payload::Json(v) => v["body"]
                    .as_str()
                    .map(|body| Read::Body(body.to_string()))
                    .unwrap_or(Read::Nothing),
                _ => Read::Nothing,
            })
        }
        Ok(Incoming::Message(m)) if m.topic == topic && m.event == phoenix::event::REPLY => {
            Some(Read::Ack)
        }
        Ok(Incoming::Message(_)) => Some(Read::Nothing),
        _ => None,
    }
}

/// The subscription's next body, or an acknowledgement: the end (`complete` or `error`) of a
/// publishing mutation.
async fn graphql_read(
    client: &mut GraphqlClient,
    timeout: Duration,
    body: impl Fn(&Value) -> Option<&str>,
) -> Option<Read> {
    match client.next_event(timeout).await {
        Ok(GraphqlEvent::Next { id, payload }) if id == SUBSCRIPTION => Some(
            body(&payload["data"])
                .map(|b| Read::Body(b.to_string()))
                .unwrap_or(Read::Nothing),
        ),
        Ok(GraphqlEvent::Complete { id } | GraphqlEvent::Error { id, .. })
            if id != SUBSCRIPTION =>
        {
            Some(Read::Ack)
        }
        Ok(GraphqlEvent::Closed { .. }) | Err(_) => None,
        Ok(_) => Some(Read::Nothing),
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
