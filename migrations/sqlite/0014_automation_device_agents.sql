-- Automation (Ka'a), device agents: devices that speak Tainá's socket themselves, each with
-- revocable tokens, and the key an agent names each of its entities by.

ALTER TABLE automation.entities ADD COLUMN agent_key TEXT;
CREATE UNIQUE INDEX automation.entities_agent_idx ON entities (device_id, agent_key)
    WHERE agent_key IS NOT NULL;

CREATE TABLE automation.device_tokens (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    device_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,                 -- SHA-256 of the token, hex
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX automation.device_tokens_device_idx ON device_tokens (device_id);
