//! Just enough of a Socket.IO client (protocol v5 over Engine.IO v4, WebSocket transport
//! only) to load a Socket.IO server with the same async stack as every other target:
//! the open handshake, namespace connect, events with and without acknowledgement, and
//! the server's pings. Binary attachments and other namespaces are not needed here.

use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use taina_protocol::client::ConnectOptions;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::wire::RawSocket;

pub struct SocketIoClient {
    socket: RawSocket,
    next_ack: u64,
}

/// Engine.IO packet types (first character of a text frame).
const OPEN: char = '0';
const PING: char = '2';
const PONG: &str = "3";
const MESSAGE: char = '4';
/// Socket.IO packet types (the character after Engine.IO's `4`).
const CONNECT: char = '0';
const EVENT: char = '2';
const ACK: char = '3';
const CONNECT_ERROR: char = '4';

/// What a text frame from the server was.
pub enum Packet {
    Event(Value),
    Ack(u64, Value),
    Other,
}

fn parse(text: &str) -> Packet {
    let mut chars = text.chars();
    if chars.next() != Some(MESSAGE) {
        return Packet::Other;
    }
    match chars.next() {
        Some(EVENT) => serde_json::from_str(&text[2..])
            .map(Packet::Event)
            .unwrap_or(Packet::Other),
        Some(ACK) => {
            let rest = &text[2..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            match (
                rest[..digits].parse(),
                serde_json::from_str(&rest[digits..]),
            ) {
                (Ok(id), Ok(args)) => Packet::Ack(id, args),
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    }
}

impl SocketIoClient {
    /// Connects to `base` (`ws://host:port`) and joins the default namespace.
    pub async fn connect(base: &str, options: &ConnectOptions) -> anyhow::Result<Self> {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.trim_end_matches('/')
        );
        let socket = crate::wire::connect_raw(&url, options).await?;
        let mut client = SocketIoClient {
            socket,
            next_ack: 0,
        };
        let open = client.read_text(Duration::from_secs(10)).await?;
        if !open.starts_with(OPEN) {
            bail!("expected the Engine.IO open packet, got {open}");
        }
        client.send("40".to_string()).await?;
        loop {
            let text = client.read_text(Duration::from_secs(10)).await?;
            if text.starts_with(&format!("{MESSAGE}{CONNECT}")) {
                return Ok(client);
            }
            if text.starts_with(&format!("{MESSAGE}{CONNECT_ERROR}")) {
                bail!("namespace connect refused: {text}");
            }
        }
    }

    async fn send(&mut self, text: String) -> anyhow::Result<()> {
        self.socket.send(Ws::text(text)).await?;
        Ok(())
    }

    /// The next text frame; answers pings on the way.
    async fn read_text(&mut self, timeout: Duration) -> anyhow::Result<String> {
        loop {
            let frame = tokio::time::timeout(timeout, self.socket.next())
                .await
                .context("timed out")?
                .context("connection closed")??;
            match frame {
                Ws::Text(text) if text.as_str() == PING.to_string() => {
                    self.send(PONG.to_string()).await?
                }
                Ws::Text(text) => return Ok(text.to_string()),
                Ws::Close(_) => bail!("connection closed"),
                _ => {}
            }
        }
    }

    /// Emits `event` with `args` and waits for its acknowledgement's arguments.
    pub async fn call(&mut self, event: &str, args: &[Value]) -> anyhow::Result<Value> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut packet = vec![Value::from(event)];
        packet.extend_from_slice(args);
        self.send(format!("{MESSAGE}{EVENT}{id}{}", Value::Array(packet)))
            .await?;
        loop {
            if let Packet::Ack(acked, args) = parse(&self.read_text(Duration::from_secs(10)).await?)
            {
                if acked == id {
                    return Ok(args);
                }
            }
        }
    }

    /// Emits `event` with `args`, asking for an acknowledgement (it arrives through
    /// [`SocketIoClient::next_packet`] as [`Packet::Ack`]).
    pub async fn emit_acked(&mut self, event: &str, args: &[Value]) -> anyhow::Result<()> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut packet = vec![Value::from(event)];
        packet.extend_from_slice(args);
        self.send(format!("{MESSAGE}{EVENT}{id}{}", Value::Array(packet)))
            .await
    }

    /// The next Socket.IO packet (`[name, args...]` events and acks), or `None` on timeout
    /// or close.
    pub async fn next_packet(&mut self, timeout: Duration) -> Option<Packet> {
        Some(parse(&self.read_text(timeout).await.ok()?))
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_events_and_acks() {
        assert!(
            matches!(parse(r#"42["message","hi"]"#), Packet::Event(v) if v == json!(["message", "hi"]))
        );
        assert!(matches!(parse("4312[true]"), Packet::Ack(12, v) if v == json!([true])));
        assert!(matches!(parse("2"), Packet::Other));
        assert!(matches!(parse("40{\"sid\":\"x\"}"), Packet::Other));
        assert!(matches!(parse("42not json"), Packet::Other));
    }
}
