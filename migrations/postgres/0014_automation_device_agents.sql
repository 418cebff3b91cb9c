-- Automation (Ka'a), device agents: devices that speak Tainá's socket themselves, each with
-- revocable tokens, and the key an agent names each of its entities by.

ALTER TABLE automation.entities ADD COLUMN agent_key TEXT;
CREATE UNIQUE INDEX entities_agent_idx ON automation.entities (device_id, agent_key)
    WHERE agent_key IS NOT NULL;

CREATE TABLE automation.device_tokens (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    device_id    VARCHAR(21) NOT NULL REFERENCES automation.devices (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    token_hash   TEXT        NOT NULL UNIQUE,          -- SHA-256 of the token, hex
    created_by   VARCHAR(21) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX device_tokens_device_idx ON automation.device_tokens (device_id);
