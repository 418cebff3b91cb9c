-- The security log and bans (Karai monitoring). Events are written by the server (sign-ins,
-- refused tokens and socket upgrades, rate-limit hits, admin actions, bans) and pruned after
-- `monitoring.retention_days`. A ban row outlives its ban: `offences` doubles the next one.

CREATE TABLE monitoring.security_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,     -- cursor order
    kind         TEXT    NOT NULL,                      -- signin_failed, ban_issued, ...
    at           TEXT    NOT NULL,
    community_id TEXT,                                  -- when known
    user_id      TEXT,                                  -- when known
    address      TEXT,                                  -- the client address, when known
    user_agent   TEXT,
    reason       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX monitoring.security_events_at ON security_events (at);
CREATE INDEX monitoring.security_events_address ON security_events (address, id);

CREATE TABLE monitoring.bans (
    address      TEXT    PRIMARY KEY,                   -- one IP address, canonical text
    banned_until TEXT    NOT NULL,                      -- in force while in the future
    offences     INTEGER NOT NULL,                      -- bans so far: the next lasts longer
    reason       TEXT    NOT NULL,
    issued_by    TEXT    NOT NULL,                      -- 'server', 'operator' or an admin's id
    created_at   TEXT    NOT NULL
);
