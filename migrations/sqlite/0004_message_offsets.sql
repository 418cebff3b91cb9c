-- A message's offset is assigned by the statement that stores it
-- (INSERT … SELECT last_seq + 1 FROM conversations), and this trigger moves the
-- conversation's last_seq in the same statement: one round trip per message under SQLite's
-- single writer, instead of a four-statement transaction.
CREATE TRIGGER chat.messages_advance_last_seq AFTER INSERT ON messages
BEGIN
    UPDATE conversations
       SET last_seq = NEW.seq, updated_at = NEW.created_at
     WHERE id = NEW.conversation_id;
END;
