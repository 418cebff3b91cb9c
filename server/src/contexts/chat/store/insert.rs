//! SQL for storing sent messages, a batch at a time (group commit, see `chat/writer.rs`): on
//! SQLite the whole batch in one statement, row by row when that statement fails (a repeated
//! `client_id`) and on PostgreSQL, where each conversation's row lock orders the offsets.

use std::collections::HashMap;

use chrono::SecondsFormat;
use serde_json::{json, Value};
use sqlx::FromRow;

use super::{ChatStore, NewMessageRow, Result};
use crate::contexts::chat::{ChatError, Message};
use crate::db::{
    is_constraint_violation, is_unique_violation, query, query_as, query_scalar, Db, QueryScalar,
    Tx, WriteTurn,
};

/// Each message's offset, in the batch's order: `None` for a repeated `client_id`.
type Offsets = Vec<Result<Option<i64>>>;

impl ChatStore {
    /// Stores `batch` in one transaction (group commit: one write of the log for all of
    /// them), each message with the next offset of its conversation, and answers for each in
    /// order: the stored message; `None` when its sender's `client_id` was already used (a
    /// concurrent retry won); `NotFound` when the conversation is gone. Nothing is answered
    /// as stored before the commit: if it fails, every message fails.
    pub async fn insert_messages(&self, batch: Vec<NewMessageRow>) -> Vec<Result<Option<Message>>> {
        let mut turn = self.db.write_turn().await;
        match insert_batch(&self.db, &mut turn, &batch).await {
            Ok(offsets) => batch
                .into_iter()
                .zip(offsets)
                .map(|(new, offset)| offset.map(|seq| seq.map(|seq| new.stored(seq))))
                .collect(),
            Err(e) => {
                // Whatever failed may have left the writer's connection broken.
                Db::reset_writer(&mut turn);
                failed_batch(batch.len(), &e)
            }
        }
    }
}

/// The batch in one transaction, on the write turn's own connection on SQLite. `Err` means
/// nothing of it was kept.
async fn insert_batch(
    db: &Db,
    turn: &mut WriteTurn<'_>,
    batch: &[NewMessageRow],
) -> Result<Offsets, sqlx::Error> {
    let mut tx = db.begin_in_turn(turn).await?;
    // Conversations' rows are locked in one order (their ids) by every batch on every
    // node: two PostgreSQL batches taking two rows in opposite orders deadlock, and one
    // of them fails. The sort is stable, so a conversation's messages keep their order.
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| batch[a].conversation_id.cmp(&batch[b].conversation_id));
    let offsets = insert_in_order(db, &mut tx, batch, &order).await?;
    tx.commit().await?;
    Ok(offsets)
}

/// Inserts the batch's messages in `order`. `Err` means nothing of the batch may be kept.
async fn insert_in_order(
    db: &Db,
    tx: &mut Tx<'_>,
    batch: &[NewMessageRow],
    order: &[usize],
) -> Result<Offsets, sqlx::Error> {
    if matches!(db, Db::Sqlite(..)) && batch.len() > 1 {
        // A statement failing on a constraint is taken back whole and the transaction goes
        // on: each message on its own then says which one failed.
        if let Some(offsets) = insert_together(tx, batch, order).await? {
            return Ok(offsets);
        }
    }
    let mut offsets: Offsets = batch.iter().map(|_| Ok(None)).collect();
    for &i in order {
        let offset = insert_one(db, tx, &batch[i]).await;
        // On PostgreSQL a failed statement aborts the whole transaction, and COMMIT then
        // rolls back without an error: the messages stored before it would be answered
        // with offsets that were never kept (and given again). SQLite takes back only a
        // statement that broke a constraint; after any other error (a full disk, an I/O
        // error) it may have rolled the transaction back, and what followed would be
        // stored outside it. Either way nothing of the batch is kept.
        if let Err(ChatError::Database(e)) = &offset {
            if matches!(db, Db::Postgres(..)) || !is_constraint_violation(e) {
                return Err(sqlx::Error::Protocol(e.to_string()));
            }
        }
        offsets[i] = offset;
    }
    Ok(offsets)
}

/// SQLite: the whole batch in one statement, one trip to SQLite's thread instead of one per
/// message, the rows given as one JSON array. A message's offset is its conversation's
/// `last_seq` as the statement began plus its place among that conversation's messages in the
/// batch (rows go in in that order, so the trigger of migration 0004 leaves `last_seq` at the
/// highest). `Ok(None)` when a constraint failed the statement (a repeated `client_id` fails
/// it whole) or a text holds a NUL, which the JSON path would not carry whole: then each row
/// goes on its own. `Err` for any other failure: the batch fails.
async fn insert_together(
    tx: &mut Tx<'_>,
    batch: &[NewMessageRow],
    order: &[usize],
) -> Result<Option<Offsets>, sqlx::Error> {
    let mut rows = Vec::with_capacity(batch.len());
    let mut place = 0_i64;
    for (n, &i) in order.iter().enumerate() {
        let new = &batch[i];
        let texts = [
            Some(&new.body),
            new.client_id.as_ref(),
            new.search_terms.as_ref(),
        ];
        if texts.into_iter().flatten().any(|text| text.contains('\0')) {
            return Ok(None);
        }
        let first_of_conversation =
            n == 0 || batch[order[n - 1]].conversation_id != new.conversation_id;
        place = if first_of_conversation { 1 } else { place + 1 };
        rows.push(json!({
            "id": new.id,
            "conversation": new.conversation_id,
            "sender": new.sender_id,
            "body": new.body,
            "client_id": new.client_id,
            "place": place,
            // As sqlx writes a `DateTime<Utc>` bound to SQLite, so every row's text sorts alike.
            "created_at": new.now.to_rfc3339_opts(SecondsFormat::AutoSi, false),
            "type": new.message_type,
            "metadata": new.metadata.as_ref().map(Value::to_string),
            "reply_to": new.reply_to,
            "thread_root": new.thread_root,
            "search_terms": new.search_terms,
        }));
    }
    // MATERIALIZED: every conversation's last_seq is read before the first row goes in.
    let stored = query_as::<StoredRow>(
        "WITH batch (place, message) AS (SELECT key, value FROM json_each($1)), \
              base AS MATERIALIZED (SELECT id, last_seq FROM chat.conversations \
                    WHERE id IN (SELECT message ->> 'conversation' FROM batch)) \
         INSERT INTO chat.messages \
             (id, conversation_id, sender_id, body, client_id, seq, created_at, \
              message_type, metadata, reply_to, thread_root, search_terms) \
         SELECT message ->> 'id', base.id, message ->> 'sender', message ->> 'body', \
                message ->> 'client_id', base.last_seq + (message ->> 'place'), \
                message ->> 'created_at', message ->> 'type', message ->> 'metadata', \
                message ->> 'reply_to', message ->> 'thread_root', message ->> 'search_terms' \
           FROM batch CROSS JOIN base ON base.id = message ->> 'conversation' \
          ORDER BY batch.place \
         RETURNING id, seq",
    )
    .bind(Value::Array(rows).to_string())
    .fetch_all(&mut *tx)
    .await;
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) if is_constraint_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let offsets: HashMap<String, i64> = stored.into_iter().map(|row| (row.id, row.seq)).collect();
    // A message not stored had no conversation to go to.
    Ok(Some(
        batch
            .iter()
            .map(|new| match offsets.get(new.id.as_str()) {
                Some(&seq) => Ok(Some(seq)),
                None => Err(ChatError::NotFound),
            })
            .collect(),
    ))
}

#[derive(FromRow)]
struct StoredRow {
    id: String,
    seq: i64,
}

/// Every message of a batch whose transaction failed: the one error, said for each.
fn failed_batch(n: usize, error: &sqlx::Error) -> Vec<Result<Option<Message>>> {
    (0..n)
        .map(|_| {
            Err(ChatError::Database(sqlx::Error::Protocol(format!(
                "the messages' transaction failed: {error}"
            ))))
        })
        .collect()
}

/// Binds `$1`…`$11` of a message insert, in the order both backends' statements use: id,
/// conversation, sender, body, client_id, time, type, metadata, reply_to, thread root, search
/// terms.
fn bind_message<'a, O>(
    statement: QueryScalar<'a, O>,
    new: &'a NewMessageRow,
    metadata: &'a Option<String>,
) -> QueryScalar<'a, O>
where
    (O,): for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    statement
        .bind(&new.id)
        .bind(&new.conversation_id)
        .bind(&new.sender_id)
        .bind(&new.body)
        .bind(&new.client_id)
        .bind(new.now)
        .bind(&new.message_type)
        .bind(metadata)
        .bind(&new.reply_to)
        .bind(&new.thread_root)
        .bind(&new.search_terms)
}

/// One message of a batch inside its transaction: its offset; `None` for a repeated
/// `client_id`; `NotFound` when the conversation is gone.
async fn insert_one(db: &Db, tx: &mut Tx<'_>, new: &NewMessageRow) -> Result<Option<i64>> {
    let metadata = new.metadata.as_ref().map(Value::to_string);
    match db {
        // One statement (the trigger of migration 0004 moves last_seq). A failed statement
        // takes back only itself: the transaction goes on for the others.
        Db::Sqlite(..) => {
            let seq = bind_message(
                query_scalar(
                    "INSERT INTO chat.messages \
                     (id, conversation_id, sender_id, body, client_id, seq, created_at, \
                      message_type, metadata, reply_to, thread_root, search_terms) \
                     SELECT $1, id, $3, $4, $5, last_seq + 1, $6, $7, $8, $9, $10, $11 \
                     FROM chat.conversations WHERE id = $2 RETURNING seq",
                ),
                new,
                &metadata,
            )
            .fetch_optional(&mut *tx)
            .await;
            match seq {
                Ok(Some(seq)) => Ok(Some(seq)),
                Ok(None) => Err(ChatError::NotFound),
                Err(e) if is_unique_violation(&e) => Ok(None),
                Err(e) => Err(ChatError::Database(e)),
            }
        }
        // The row lock taken by UPDATE orders concurrent writers, on every node. A repeated
        // client_id must not abort the transaction (PostgreSQL would fail the whole batch):
        // ON CONFLICT skips the row, and the offset taken for it is given back while the
        // row lock is still held, so offsets stay without gaps.
        Db::Postgres(..) => {
            let Some(seq): Option<i64> = query_scalar(
                "UPDATE chat.conversations SET last_seq = last_seq + 1, updated_at = $2 \
                 WHERE id = $1 RETURNING last_seq",
            )
            .bind(&new.conversation_id)
            .bind(new.now)
            .fetch_optional(&mut *tx)
            .await?
            else {
                return Err(ChatError::NotFound);
            };
            let inserted: Option<i64> = bind_message(
                query_scalar(
                    "INSERT INTO chat.messages \
                     (id, conversation_id, sender_id, body, client_id, seq, created_at, \
                      message_type, metadata, reply_to, thread_root, search_terms) \
                     VALUES ($1, $2, $3, $4, $5, $12, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING RETURNING seq",
                ),
                new,
                &metadata,
            )
            .bind(seq)
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_none() {
                query("UPDATE chat.conversations SET last_seq = last_seq - 1 WHERE id = $1")
                    .bind(&new.conversation_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(inserted)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{conversation, offsets, row, send, setup};
    use super::*;
    use crate::contexts::chat::ConversationKind;
    use crate::ids::{ConversationId, MessageId};

    /// SQLite's one-statement batch (the fallback row by row would hide it failing): every
    /// field kept as a single insert keeps it, offsets per conversation, the full-text
    /// trigger run, a message to a missing conversation refused alone.
    #[tokio::test]
    async fn a_batch_goes_in_as_one_statement_whole() {
        let (store, community, people) = setup(2).await;
        if store.db.backend() != "sqlite" {
            return;
        }
        let group = ConversationKind::Group;
        let first = conversation(&store, &community, group, &people).await;
        let second = conversation(&store, &community, group, &people).await;
        let mut gone = conversation(&store, &community, group, &people).await;
        gone.id = ConversationId::new();
        let quoted = send(&store, &first, &people[0], None)
            .await
            .unwrap()
            .unwrap();
        let mut rich = row(&first, &people[1], Some("c-1"));
        rich.body = "olá \"mundo\" \\ ✓ 🦜\nsegunda linha".to_owned();
        rich.search_terms = Some("arara".to_owned());
        rich.metadata = Some(json!({"kind": "poll", "options": ["a", "b"]}));
        rich.reply_to = Some(quoted.id.clone());
        let batch = vec![
            row(&second, &people[0], None),
            rich.clone(),
            row(&gone, &people[0], None),
            row(&first, &people[0], Some("c-2")),
            row(&second, &people[1], None),
        ];
        let order = [0, 4, 1, 3, 2];
        let mut tx = store.db.begin().await.unwrap();
        let offsets_of_batch = insert_together(&mut tx, &batch, &order)
            .await
            .unwrap()
            .expect("one statement for the batch");
        tx.commit().await.unwrap();
        let kept: Vec<Option<i64>> = offsets_of_batch
            .iter()
            .map(|o| o.as_ref().ok().copied().flatten())
            .collect();
        assert_eq!(kept, [Some(1), Some(2), None, Some(3), Some(2)]);
        assert!(matches!(offsets_of_batch[2], Err(ChatError::NotFound)));

        let stored = store
            .message(&first.id, &first.epoch, &rich.id)
            .await
            .unwrap()
            .expect("the rich message");
        let expected = rich.clone().stored(2);
        assert_eq!(
            (
                &stored.body,
                &stored.client_id,
                stored.inserted_at,
                &stored.metadata
            ),
            (
                &expected.body,
                &expected.client_id,
                expected.inserted_at,
                &expected.metadata
            )
        );
        assert_eq!(
            (&stored.reply_to, &stored.thread_root, &stored.message_type),
            (
                &expected.reply_to,
                &expected.thread_root,
                &expected.message_type
            )
        );
        // Its time as the text sqlx binds for it (what a single insert stores, and sorts by).
        let kept: String = query_scalar("SELECT created_at FROM chat.messages WHERE id = $1")
            .bind(&rich.id)
            .fetch_one(&store.db)
            .await
            .unwrap();
        let bound: String = query_scalar("SELECT $1")
            .bind(rich.now)
            .fetch_one(&store.db)
            .await
            .unwrap();
        assert_eq!(kept, bound);
        let found: Vec<String> = query_scalar(
            "SELECT m.id FROM chat.messages_fts f JOIN chat.messages m ON m.rowid = f.rowid \
             WHERE messages_fts MATCH 'arara'",
        )
        .fetch_all(&store.db)
        .await
        .unwrap();
        assert_eq!(found, [rich.id.to_string()]);
        // Each conversation's offsets go on after the batch's highest.
        for (membership, next) in [(&first, 4), (&second, 3)] {
            let sent = send(&store, membership, &people[0], None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(sent.offset, next);
        }
        let all = store
            .messages(&first.id, &first.epoch, None, 10)
            .await
            .unwrap();
        assert_eq!(offsets(&all), [4, 3, 2, 1]);
    }

    /// A repeated `client_id` fails the one statement whole; the batch then goes in row by
    /// row, and a text holding a NUL goes that way from the start.
    #[tokio::test]
    async fn what_one_statement_cannot_take_goes_in_row_by_row() {
        let (store, community, people) = setup(1).await;
        if store.db.backend() != "sqlite" {
            return;
        }
        let chat = conversation(&store, &community, ConversationKind::Group, &people).await;
        let twice = vec![
            row(&chat, &people[0], Some("same")),
            row(&chat, &people[0], Some("same")),
        ];
        let mut tx = store.db.begin().await.unwrap();
        assert!(insert_together(&mut tx, &twice, &[0, 1])
            .await
            .unwrap()
            .is_none());
        let mut nul = row(&chat, &people[0], None);
        nul.body = "a\0b".to_owned();
        let with_nul = vec![nul, row(&chat, &people[0], None)];
        assert!(insert_together(&mut tx, &with_nul, &[0, 1])
            .await
            .unwrap()
            .is_none());
        drop(tx);

        let results = store.insert_messages(twice).await;
        assert!(matches!(results[1], Ok(None)), "{results:?}");
        let nul_id: MessageId = with_nul[0].id.clone();
        let results = store.insert_messages(with_nul).await;
        assert!(
            results.iter().all(|r| matches!(r, Ok(Some(_)))),
            "{results:?}"
        );
        let kept = store
            .message(&chat.id, &chat.epoch, &nul_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.body, "a\0b");
        let all = store
            .messages(&chat.id, &chat.epoch, None, 10)
            .await
            .unwrap();
        assert_eq!(offsets(&all), [3, 2, 1]);
    }

    /// A failure other than a broken constraint (here a trigger's `RAISE`, standing in for a
    /// full disk or an I/O error, after which SQLite may have rolled the transaction back)
    /// fails the whole batch, on the one-statement path and row by row: nothing is answered
    /// as stored, nothing is kept.
    #[tokio::test]
    async fn any_other_failure_fails_the_whole_batch() {
        let (store, community, people) = setup(1).await;
        if store.db.backend() != "sqlite" {
            return;
        }
        query(
            "CREATE TRIGGER chat.refuse_boom BEFORE INSERT ON messages \
             WHEN NEW.body = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(&store.db)
        .await
        .unwrap();
        let chat = conversation(&store, &community, ConversationKind::Group, &people).await;
        let boom = || {
            let mut boom = row(&chat, &people[0], None);
            boom.body = "boom".to_owned();
            boom
        };
        let mut nul = row(&chat, &people[0], None);
        nul.body = "a\0b".to_owned();
        for batch in [
            vec![
                row(&chat, &people[0], None),
                boom(),
                row(&chat, &people[0], None),
            ],
            // A NUL sends the batch row by row from the start.
            vec![nul, boom(), row(&chat, &people[0], None)],
        ] {
            let results = store.insert_messages(batch).await;
            assert!(results.iter().all(Result::is_err), "{results:?}");
        }
        assert!(store
            .messages(&chat.id, &chat.epoch, None, 10)
            .await
            .unwrap()
            .is_empty());
        let next = send(&store, &chat, &people[0], None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.offset, 1);
    }
}
