//! Phoenix Channels operations on a [`Session`], shared by
//! [`PhoenixClient`](super::PhoenixClient) and [`MuxClient`](super::MuxClient).
//!
//! A call that awaits a reply reads the socket itself; every other message is
//! buffered, in order, for `next_message` and `expect_event`.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::{empty_object, Inbound, Session};
use super::{ClientError, Incoming, Reply};
use crate::phoenix::{encode_client_binary, encode_text, event, Message, PHOENIX_TOPIC};

impl Session {
    pub(super) fn join_ref(&self, topic: &str) -> Option<&str> {
        self.join_refs.get(topic).map(String::as_str)
    }

    pub(super) async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, ClientError> {
        let join_ref = self.make_ref();
        let frame = encode_text(
            Some(&join_ref),
            Some(&join_ref),
            topic,
            event::JOIN,
            &payload,
        );
        self.send(WsMessage::text(frame)).await?;
        let outcome = self.await_reply(topic, &join_ref, "join reply").await;
        match outcome {
            Ok(reply) => {
                self.join_refs.insert(topic.to_owned(), join_ref);
                Ok(reply.into_json()?)
            }
            Err(error) => {
                // A failed (re)join leaves no membership behind on the server.
                self.join_refs.remove(topic);
                Err(error)
            }
        }
    }

    pub(super) async fn push(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<Reply, ClientError> {
        let msg_ref = self.push_no_reply(topic, event, payload).await?;
        self.await_reply(topic, &msg_ref, "push reply").await
    }

    pub(super) async fn push_binary(
        &mut self,
        topic: &str,
        event: &str,
        data: &[u8],
    ) -> Result<Reply, ClientError> {
        let msg_ref = self.make_ref();
        let frame = encode_client_binary(self.join_ref(topic), Some(&msg_ref), topic, event, data)?;
        self.send(WsMessage::binary(frame)).await?;
        self.await_reply(topic, &msg_ref, "push reply").await
    }

    pub(super) async fn push_no_reply(
        &mut self,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Result<String, ClientError> {
        let msg_ref = self.make_ref();
        let frame = encode_text(self.join_ref(topic), Some(&msg_ref), topic, event, &payload);
        self.send(WsMessage::text(frame)).await?;
        Ok(msg_ref)
    }

    pub(super) async fn leave(&mut self, topic: &str) -> Result<(), ClientError> {
        // The membership ends on our side whatever the server answers.
        let join_ref = self.join_refs.remove(topic);
        let msg_ref = self.make_ref();
        let frame = encode_text(
            join_ref.as_deref(),
            Some(&msg_ref),
            topic,
            event::LEAVE,
            &empty_object(),
        );
        self.send(WsMessage::text(frame)).await?;
        self.await_reply(topic, &msg_ref, "leave reply").await?;
        Ok(())
    }

    pub(super) async fn heartbeat(&mut self) -> Result<Duration, ClientError> {
        let started = Instant::now();
        let msg_ref = self.make_ref();
        let frame = encode_text(
            None,
            Some(&msg_ref),
            PHOENIX_TOPIC,
            event::HEARTBEAT,
            &empty_object(),
        );
        self.send(WsMessage::text(frame)).await?;
        self.await_reply(PHOENIX_TOPIC, &msg_ref, "heartbeat reply")
            .await?;
        Ok(started.elapsed())
    }

    pub(super) async fn next_message(
        &mut self,
        timeout: Duration,
    ) -> Result<Incoming, ClientError> {
        if let Some(message) = self.messages.pop_front() {
            return Ok(Incoming::Message(message));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.read(deadline, "message").await? {
                Inbound::Phoenix(message) => return Ok(Incoming::Message(message)),
                Inbound::Closed { code, reason } => return Ok(Incoming::Closed { code, reason }),
                other => self.stash(other),
            }
        }
    }

    pub(super) async fn expect_event(
        &mut self,
        topic: &str,
        event: &str,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.wait_for(
            |m| m.topic == topic && m.event == event,
            Instant::now() + timeout,
            "event",
        )
        .await
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// Waits for the `phx_reply` to `msg_ref` on `topic`; `"error"` replies
    /// become [`ClientError::Refused`].
    async fn await_reply(
        &mut self,
        topic: &str,
        msg_ref: &str,
        what: &'static str,
    ) -> Result<Reply, ClientError> {
        let message = self
            .wait_for(
                |m| {
                    m.event == event::REPLY
                        && m.topic == topic
                        && m.msg_ref.as_deref() == Some(msg_ref)
                },
                Instant::now() + self.reply_timeout,
                what,
            )
            .await?;
        Reply::from_payload(message.payload)?.refuse_errors()
    }

    /// The first Phoenix message matching `wanted`, from the buffer or the
    /// socket; everything else read meanwhile is stashed in order.
    async fn wait_for(
        &mut self,
        wanted: impl Fn(&Message) -> bool,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Message, ClientError> {
        if let Some(index) = self.messages.iter().position(&wanted) {
            if let Some(message) = self.messages.remove(index) {
                return Ok(message);
            }
        }
        loop {
            match self.read(deadline, what).await? {
                Inbound::Phoenix(message) if wanted(&message) => return Ok(message),
                Inbound::Closed { code, reason } => {
                    return Err(ClientError::Closed { code, reason })
                }
                other => self.stash(other),
            }
        }
    }
}
