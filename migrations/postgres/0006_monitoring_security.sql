-- The security log and bans (Karai monitoring). Events are written by the server (sign-ins,
-- refused tokens and socket upgrades, rate-limit hits, admin actions, bans) and pruned after
-- `monitoring.retention_days`. A ban row outlives its ban: `offences` doubles the next one.

CREATE TABLE monitoring.security_events (
    id           BIGSERIAL   PRIMARY KEY,               -- cursor order
    kind         TEXT        NOT NULL,                  -- signin_failed, ban_issued, ...
    at           TIMESTAMPTZ NOT NULL,
    community_id TEXT,                                  -- when known
    user_id      TEXT,                                  -- when known
    address      TEXT,                                  -- the client address, when known
    user_agent   TEXT,
    reason       TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX security_events_at ON monitoring.security_events (at);
CREATE INDEX security_events_address ON monitoring.security_events (address, id);

CREATE TABLE monitoring.bans (
    address      TEXT        PRIMARY KEY,               -- one IP address, canonical text
    banned_until TIMESTAMPTZ NOT NULL,                  -- in force while in the future
    offences     INTEGER     NOT NULL,                  -- bans so far: the next lasts longer
    reason       TEXT        NOT NULL,
    issued_by    TEXT        NOT NULL,                  -- 'server', 'operator' or an admin's id
    created_at   TIMESTAMPTZ NOT NULL
);
