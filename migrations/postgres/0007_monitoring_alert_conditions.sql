-- Conditions the server alerts about by itself (disk low, media jobs failing, a ban, …): a row
-- while the condition holds, so it alerts once until the condition clears (also across restarts).

CREATE TABLE monitoring.alert_conditions (
    key       TEXT        PRIMARY KEY,                  -- de-duplication key: disk_low, ban:1.2.3.4
    alert_id  BIGINT      NOT NULL,                     -- the alert raised when it began
    raised_at TIMESTAMPTZ NOT NULL
);
