-- Automation (Ka'a), rules: trigger → condition → action definitions per community, each run's
-- log, and the community's home settings (location and time zone, for sun and clock triggers).

CREATE TABLE automation.rules (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    definition   TEXT    NOT NULL,                     -- JSON: triggers, conditions, actions
    created_by   TEXT    NOT NULL,                     -- whose rights the actions use
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX automation.rules_community_idx ON rules (community_id);

CREATE TABLE automation.rule_runs (
    id          TEXT PRIMARY KEY CHECK (length(id) = 21),
    rule_id     TEXT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('running', 'done', 'conditions_false',
                                                 'failed', 'loop_stopped')),
    trigger     TEXT NOT NULL,                         -- JSON: what fired it
    steps       TEXT NOT NULL DEFAULT '[]',            -- JSON: what each action did
    error       TEXT
);
CREATE INDEX automation.rule_runs_rule_idx ON rule_runs (rule_id, started_at);

CREATE TABLE automation.settings (
    community_id TEXT PRIMARY KEY,
    latitude     REAL,
    longitude    REAL,
    elevation    REAL NOT NULL DEFAULT 0,
    time_zone    TEXT NOT NULL DEFAULT 'UTC',
    updated_at   TEXT NOT NULL
);
