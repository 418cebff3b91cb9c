//! The two wire shapes a fan-out can be measured on: Tainá's Phoenix V2 socket, and the raw
//! text frames of the floor server.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;
use tokio_tungstenite::tungstenite::Message as Ws;

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A publication as the tool sends it: its number and its send time (µs since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stamp {
    pub n: u64,
    pub t: u64,
}

impl Stamp {
    fn from_json(v: &Value) -> Option<Stamp> {
        Some(Stamp {
            n: v.get("n")?.as_u64()?,
            t: v.get("t")?.as_u64()?,
        })
    }
}

pub enum Receiver {
    Phoenix {
        client: PhoenixClient,
        topic: String,
    },
    Raw(RawSocket),
}

impl Receiver {
    pub async fn phoenix(url: &str, token: &str, topic: &str) -> anyhow::Result<Receiver> {
        let mut client = PhoenixClient::connect(url, &[("token", token)]).await?;
        client.join(topic, json!({})).await?;
        Ok(Receiver::Phoenix {
            client,
            topic: topic.to_string(),
        })
    }

    pub async fn raw(url: &str) -> anyhow::Result<Receiver> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        Ok(Receiver::Raw(socket))
    }

    /// The next publication, or `None` on timeout or close.
    pub async fn next(&mut self, timeout: Duration) -> Option<Stamp> {
        match self {
            Receiver::Phoenix { client, topic } => loop {
                match client.next_message(timeout).await {
                    Ok(Incoming::Message(m)) if m.topic == *topic && m.event == "alert" => {
                        if let Payload::Json(v) = &m.payload {
                            return Stamp::from_json(v);
                        }
                    }
                    Ok(Incoming::Message(_)) => continue,
                    _ => return None,
                }
            },
            Receiver::Raw(socket) => loop {
                match tokio::time::timeout(timeout, socket.next()).await {
                    Ok(Some(Ok(Ws::Text(text)))) => {
                        if let Ok(v) = serde_json::from_str::<Value>(&text) {
                            return Stamp::from_json(&v);
                        }
                    }
                    Ok(Some(Ok(_))) => continue,
                    _ => return None,
                }
            },
        }
    }

    /// Sends one publication (fire and forget; the Phoenix reply is drained by `drain`).
    pub async fn publish(&mut self, stamp: Stamp) -> anyhow::Result<()> {
        let body = json!({ "n": stamp.n, "t": stamp.t });
        match self {
            Receiver::Phoenix { client, topic } => {
                client.push_no_reply(topic, "alert", body).await?;
            }
            Receiver::Raw(socket) => socket.send(Ws::text(body.to_string())).await?,
        }
        Ok(())
    }

    /// Reads whatever is waiting without blocking (a publisher must keep reading too).
    pub async fn drain(&mut self) -> usize {
        let mut n = 0;
        match self {
            Receiver::Phoenix { client, .. } => {
                while let Ok(Incoming::Message(_)) = client.next_message(Duration::ZERO).await {
                    n += 1;
                }
            }
            Receiver::Raw(socket) => {
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::ZERO, socket.next()).await
                {
                    n += 1;
                }
            }
        }
        n
    }
}

/// An open socket in one of the server's three modes, for the connection scenarios.
pub enum Session {
    Phoenix(PhoenixClient),
    Graphql(taina_protocol::client::GraphqlClient),
    Mux(taina_protocol::client::MuxClient),
}

impl Session {
    /// Connects in `mode` (`phoenix`, `graphql` or `mux`) and subscribes to the user's own
    /// updates: Phoenix and mux join `user:{id}`; GraphQL authenticates with `connection_init`.
    pub async fn open(
        mode: &str,
        url: &str,
        token: &str,
        user_topic: &str,
    ) -> Result<Session, taina_protocol::client::ClientError> {
        match mode {
            "graphql" => Ok(Session::Graphql(
                taina_protocol::client::GraphqlClient::connect(url, token).await?,
            )),
            "mux" => {
                let mut client = taina_protocol::client::MuxClient::connect(url, token).await?;
                client.join(user_topic, json!({})).await?;
                Ok(Session::Mux(client))
            }
            _ => {
                let mut client = PhoenixClient::connect(url, &[("token", token)]).await?;
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
