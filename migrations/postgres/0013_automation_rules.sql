-- Automation (Ka'a), rules: trigger → condition → action definitions per community, each run's
-- log, and the community's home settings (location and time zone, for sun and clock triggers).

CREATE TABLE automation.rules (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    enabled      INTEGER     NOT NULL DEFAULT 1,
    definition   TEXT        NOT NULL,                 -- JSON: triggers, conditions, actions
    created_by   VARCHAR(21) NOT NULL,                 -- whose rights the actions use
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX rules_community_idx ON automation.rules (community_id);

CREATE TABLE automation.rule_runs (
    id          VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    rule_id     VARCHAR(21) NOT NULL REFERENCES automation.rules (id) ON DELETE CASCADE,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome     TEXT        NOT NULL CHECK (outcome IN ('running', 'done', 'conditions_false',
                                                 'failed', 'loop_stopped')),
    trigger     TEXT        NOT NULL,                  -- JSON: what fired it
    steps       TEXT        NOT NULL DEFAULT '[]',     -- JSON: what each action did
    error       TEXT
);
CREATE INDEX rule_runs_rule_idx ON automation.rule_runs (rule_id, started_at);

CREATE TABLE automation.settings (
    community_id VARCHAR(21)      PRIMARY KEY REFERENCES public.communities (id) ON DELETE CASCADE,
    latitude     DOUBLE PRECISION,
    longitude    DOUBLE PRECISION,
    elevation    DOUBLE PRECISION NOT NULL DEFAULT 0,
    time_zone    TEXT             NOT NULL DEFAULT 'UTC',
    updated_at   TIMESTAMPTZ      NOT NULL
);
