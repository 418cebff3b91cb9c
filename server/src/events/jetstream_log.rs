//! The shared topic log on JetStream ([`crate::realtime::TopicLog`]): one stream,
//! `<prefix>-topics`, with a subject per hub key (`<prefix>-topics.user.<id>`,
//! `….community.<id>`, `….system.alerts.<community>`, and `….system.alerts` for instance-wide
//! alerts). The stream sequence is the offset every node gives a publication; the stream's
//! creation time names the epoch.
//!
//! Each node reads the whole stream from where it stood at start with an ordered consumer
//! (recreated by the client after a NATS failure, from the last sequence it delivered) and
//! hands every entry to its hub. Appends go through one task, so a node's appends keep their
//! order; their acknowledgements are awaited concurrently. A join's recovery reads a key's
//! entries back from the stream leader (`STREAM.MSG.GET` by subject from a sequence), so a
//! replica that lags cannot hide one.
//!
//! The stream keeps file storage, `bus.log_replicas` replicas and `bus.log_max_age`; what is
//! discarded goes from the front only, which is how a read knows it is complete. For an
//! acknowledged append to survive a crash, run nats-server with `sync_interval: always`
//! (docs/protocol.md, "Several nodes").

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishAckFuture, stream};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::BusError;
use crate::config::BusConfig;
use crate::realtime::{Hub, LogError, Logged, Position, TopicLog, ALL_ALERTS_KEY};

/// Appends waiting for NATS before new ones are refused.
const QUEUE: usize = 16_384;
/// Appends whose acknowledgement is awaited at once.
const IN_FLIGHT: usize = 1_024;
/// How long start-up waits for JetStream to take the stream. A cluster that lost its meta
/// leader (a NATS server killed while another was still catching up) can take well over 30 s
/// to elect one; a node that gives up sooner just exits and is restarted into the same wait.
const JETSTREAM_WAIT: Duration = Duration::from_secs(120);

type Ack = oneshot::Sender<Result<Position, LogError>>;

pub struct JetStreamLog {
    stream: stream::Stream,
    subjects: String,
    epoch: String,
    outgoing: mpsc::Sender<(Logged, Option<Ack>)>,
}

impl JetStreamLog {
    /// Creates (or finds) the stream, connects `hub` to it and starts delivering the stream to
    /// the hub from its current end.
    pub async fn start(
        client: async_nats::Client,
        config: &BusConfig,
        hub: &Arc<Hub>,
    ) -> Result<Arc<Self>, BusError> {
        let unavailable = |e: &dyn std::fmt::Display| BusError::JetStream(e.to_string());
        let context = jetstream::new(client);
        let subjects = format!("{}-topics", config.subject_prefix);
        let name: String = subjects
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        let stream_config = stream::Config {
            name,
            subjects: vec![format!("{subjects}.>")],
            storage: stream::StorageType::File,
            num_replicas: config.log_replicas,
            max_age: Duration::from_secs(config.log_max_age_hours * 3600),
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        };
        // A NATS cluster that has just started needs a moment to elect its JetStream leader.
        let started = std::time::Instant::now();
        let mut attempts = 0u32;
        let mut stream = loop {
            match context.get_or_create_stream(stream_config.clone()).await {
                Ok(stream) => break stream,
                Err(error) if started.elapsed() < JETSTREAM_WAIT => {
                    attempts += 1;
                    // Every 10 s (20 attempts) a warning: an operator should see the wait.
                    if attempts.is_multiple_of(20) {
                        let waited = started.elapsed().as_secs();
                        tracing::warn!(%error, waited, "still waiting for JetStream");
                    } else {
                        tracing::info!(%error, "waiting for JetStream");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(unavailable(&error)),
            }
        };
        let info = stream.info().await.map_err(|e| unavailable(&e))?;
        let epoch = format!("js{}", info.created.unix_timestamp_nanos());
        let last = info.state.last_sequence;
        let (outgoing, queue) = mpsc::channel(QUEUE);
        tokio::spawn(append_all(context, subjects.clone(), epoch.clone(), queue));
        let log = Arc::new(Self {
            stream: stream.clone(),
            subjects: subjects.clone(),
            epoch,
            outgoing,
        });
        // Before the first entry arrives: the hub numbers by the log from here on.
        hub.set_log(log.clone(), last);
        let hub: Weak<Hub> = Arc::downgrade(hub);
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{subjects}.>"),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: last + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let mut entries = consumer.messages().await.map_err(|e| unavailable(&e))?;
        tokio::spawn(async move {
            while let Some(message) = entries.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "the topic log's consumer failed; it resumes");
                        continue;
                    }
                };
                let Some(hub) = hub.upgrade() else { return };
                let Ok(info) = message.info() else { continue };
                let sequence = info.stream_sequence;
                match serde_json::from_slice::<Logged>(&message.payload) {
                    Ok(entry) => hub.apply_logged(sequence, entry),
                    Err(error) => tracing::warn!(sequence, %error, "undecodable topic log entry"),
                }
            }
            tracing::warn!("the topic log's consumer ended");
        });
        Ok(log)
    }
}

/// The subject of a hub key: `user:u` → `<subjects>.user.u`, `system:alerts@c` →
/// `<subjects>.system.alerts.c` (ids are ASCII letters, digits, `_` and `-`).
fn subject(subjects: &str, key: &str) -> String {
    format!("{subjects}.{}", key.replace([':', '@'], "."))
}

/// The subjects a key's readers see: its own, and for a community's alerts the instance-wide
/// ones too.
fn read_subjects(subjects: &str, key: &str) -> Vec<String> {
    let mut read = vec![subject(subjects, key)];
    if key.starts_with(ALL_ALERTS_KEY) && key != ALL_ALERTS_KEY {
        read.push(subject(subjects, ALL_ALERTS_KEY));
    }
    read
}

/// The one appending task: publishes in queue order, awaits up to [`IN_FLIGHT`]
/// acknowledgements at once, and answers those who wait for theirs.
async fn append_all(
    context: jetstream::Context,
    subjects: String,
    epoch: String,
    mut queue: mpsc::Receiver<(Logged, Option<Ack>)>,
) {
    type Pending = BoxFuture<'static, (Result<u64, String>, Option<Ack>)>;
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let settle = |(stored, ack): (Result<u64, String>, Option<Ack>), epoch: &str| {
        if let Err(reason) = &stored {
            tracing::warn!(%reason, "a topic publication was not stored in the log");
        }
        if let Some(ack) = ack {
            let _ = ack.send(
                stored
                    .map(|offset| Position {
                        epoch: epoch.to_owned(),
                        offset,
                    })
                    .map_err(LogError::Append),
            );
        }
    };
    loop {
        tokio::select! {
            next = queue.recv(), if pending.len() < IN_FLIGHT => {
                let Some((entry, ack)) = next else { break };
                let payload = match serde_json::to_vec(&entry) {
                    Ok(payload) => payload,
                    Err(error) => {
                        settle((Err(error.to_string()), ack), &epoch);
                        continue;
                    }
                };
                let subject = subject(&subjects, &entry.key);
                let published = match &entry.once {
                    Some(id) => {
                        let mut headers = async_nats::HeaderMap::new();
                        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
                        context
                            .publish_with_headers(subject, headers, payload.into())
                            .await
                    }
                    None => context.publish(subject, payload.into()).await,
                };
                let waiting: Pending = match published {
                    Ok(future) => acknowledged(future, ack).boxed(),
                    Err(error) => std::future::ready((Err(error.to_string()), ack)).boxed(),
                };
                pending.push_back(waiting);
            }
            Some(done) = pending.next(), if !pending.is_empty() => settle(done, &epoch),
        }
    }
    while let Some(done) = pending.next().await {
        settle(done, &epoch);
    }
}

async fn acknowledged(
    future: PublishAckFuture,
    ack: Option<Ack>,
) -> (Result<u64, String>, Option<Ack>) {
    (
        future
            .await
            .map(|stored| stored.sequence)
            .map_err(|e| e.to_string()),
        ack,
    )
}

impl TopicLog for JetStreamLog {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn append(&self, entry: Logged) {
        if let Err(error) = self.outgoing.try_send((entry, None)) {
            tracing::warn!(%error, "the topic log's queue is full: publication dropped");
        }
    }

    fn append_acked(&self, entry: Logged) -> BoxFuture<'static, Result<Position, LogError>> {
        let (ack, stored) = oneshot::channel();
        let queued = self.outgoing.try_send((entry, Some(ack)));
        async move {
            queued.map_err(|error| LogError::Append(error.to_string()))?;
            stored
                .await
                .map_err(|_| LogError::Append("the log's task ended".into()))?
        }
        .boxed()
    }

    fn read(
        &self,
        key: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> BoxFuture<'static, Option<Vec<(u64, Logged)>>> {
        let mut stream = self.stream.clone();
        let subjects = read_subjects(&self.subjects, key);
        async move {
            // Entries leave from the front only: if the first one kept is past `after + 1`,
            // some of this key's may be gone.
            let first = stream.info().await.ok()?.state.first_sequence;
            if after + 1 < first {
                return None;
            }
            let mut found = Vec::new();
            for subject in subjects {
                let mut from = after + 1;
                while from <= up_to {
                    let entry = stream
                        .raw_message_builder()
                        .sequence(from)
                        .next_by_subject(subject.clone())
                        .send()
                        .await;
                    let message = match entry {
                        Ok(message) => message,
                        Err(error)
                            if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound =>
                        {
                            break
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot read the topic log");
                            return None;
                        }
                    };
                    if message.sequence > up_to {
                        break;
                    }
                    found.push((
                        message.sequence,
                        serde_json::from_slice::<Logged>(&message.payload).ok()?,
                    ));
                    if found.len() > limit as usize {
                        return None;
                    }
                    from = message.sequence + 1;
                }
            }
            found.sort_by_key(|(sequence, _)| *sequence);
            Some(found)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_subjects_and_alerts_read_the_instance_ones_too() {
        assert_eq!(subject("t-topics", "user:u_1"), "t-topics.user.u_1");
        assert_eq!(
            read_subjects("t-topics", "system:alerts@c-1"),
            ["t-topics.system.alerts.c-1", "t-topics.system.alerts"]
        );
        assert_eq!(
            read_subjects("t-topics", "community:c"),
            ["t-topics.community.c"]
        );
        assert_eq!(
            read_subjects("t-topics", ALL_ALERTS_KEY),
            ["t-topics.system.alerts"]
        );
    }
}
