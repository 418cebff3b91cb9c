//! Group commit for sending: a message waits for the database together with every message
//! sent meanwhile, and all of them are stored in one transaction (one write of SQLite's log,
//! one flush of PostgreSQL's), at most [`MOST_PER_BATCH`] at a time. Each sender hears back
//! only after the commit: an acknowledged message is on disk.

use tokio::sync::{mpsc, oneshot};

use super::store::{ChatStore, NewMessageRow};
use super::{ChatError, Message};

/// The most messages in one transaction: bounds how long the first waits for the last.
const MOST_PER_BATCH: usize = 256;
/// Messages queued for the writer. Beyond this a sender waits for room: nothing is dropped.
const QUEUE: usize = 4096;

type Stored = Result<Option<Message>, ChatError>;

pub(super) struct MessageWriter {
    queue: mpsc::Sender<(NewMessageRow, oneshot::Sender<Stored>)>,
}

impl MessageWriter {
    /// Starts the writer; it ends when the writer is dropped.
    pub fn spawn(store: ChatStore) -> Self {
        let (queue, mut waiting) = mpsc::channel::<(NewMessageRow, oneshot::Sender<Stored>)>(QUEUE);
        tokio::spawn(async move {
            let mut rows = Vec::with_capacity(MOST_PER_BATCH);
            let mut answers = Vec::with_capacity(MOST_PER_BATCH);
            while let Some((row, answer)) = waiting.recv().await {
                rows.push(row);
                answers.push(answer);
                // Whatever arrived while the last batch was being written goes in this one.
                while rows.len() < MOST_PER_BATCH {
                    let Ok((row, answer)) = waiting.try_recv() else {
                        break;
                    };
                    rows.push(row);
                    answers.push(answer);
                }
                let results = store.insert_messages(std::mem::take(&mut rows)).await;
                for (answer, result) in answers.drain(..).zip(results) {
                    // A sender that went away still had its message stored.
                    let _ = answer.send(result);
                }
            }
        });
        MessageWriter { queue }
    }

    /// Stores `row` with the messages waiting beside it: see [`ChatStore::insert_messages`].
    pub async fn store(&self, row: NewMessageRow) -> Stored {
        let (answer, answered) = oneshot::channel();
        let stopped = || ChatError::Database(sqlx::Error::PoolClosed);
        self.queue
            .send((row, answer))
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}
