-- Instance-wide alerts (Karai monitoring): raised by the server itself or by the operator's
-- `taina alert send`, relayed by every running server to the `system:alerts` topic of every
-- community. Community admins' own alerts are not stored (they live in the topic's memory).

CREATE TABLE monitoring.alerts (
    id         BIGSERIAL   PRIMARY KEY,                 -- relay order
    level      TEXT        NOT NULL CHECK (level IN ('info', 'warning', 'critical')),
    message    TEXT        NOT NULL,
    source     TEXT        NOT NULL,                    -- 'server' or 'operator'
    created_at TIMESTAMPTZ NOT NULL
);
