-- Automation (Ka'a), second part: areas (rooms) that devices and entities sit in, per-person
-- access to entities and areas, and long-term statistics of numeric sensors (5-minute rows kept
-- as long as raw states, hourly rows kept for years).

CREATE TABLE automation.areas (
    community_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (community_id, name)
);

-- One grant: what `user_id` may do with an entity (`target` = its entity id) or with every
-- entity of an area (`target` = the area's name). The most specific grant wins; without one the
-- role decides (members control, guests view).
CREATE TABLE automation.grants (
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('entity', 'area')),
    target       TEXT NOT NULL,
    access       TEXT NOT NULL CHECK (access IN ('none', 'view', 'control')),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (community_id, user_id, scope, target)
);

-- Statistics of one period (`5m` or `1h`) starting at `start`: time-weighted mean, min and max
-- of a measurement; the last value (`state`) and the running `sum` of a meter.
CREATE TABLE automation.statistics (
    entity TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    period TEXT NOT NULL CHECK (period IN ('5m', '1h')),
    start  TEXT NOT NULL,
    mean   REAL,
    min    REAL,
    max    REAL,
    state  REAL,
    sum    REAL,
    PRIMARY KEY (entity, period, start)
);

-- How far each period has been compiled (every entity up to the same instant).
CREATE TABLE automation.compiled (
    period TEXT PRIMARY KEY CHECK (period IN ('5m', '1h')),
    up_to  TEXT NOT NULL
);
