-- Automation (Ka'a), second part: areas (rooms) that devices and entities sit in, per-person
-- access to entities and areas, and long-term statistics of numeric sensors (5-minute rows kept
-- as long as raw states, hourly rows kept for years).

CREATE TABLE automation.areas (
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, name)
);

-- One grant: what `user_id` may do with an entity (`target` = its entity id) or with every
-- entity of an area (`target` = the area's name). The most specific grant wins; without one the
-- role decides (members control, guests view).
CREATE TABLE automation.grants (
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    user_id      VARCHAR(21) NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    scope        TEXT        NOT NULL CHECK (scope IN ('entity', 'area')),
    target       TEXT        NOT NULL,
    access       TEXT        NOT NULL CHECK (access IN ('none', 'view', 'control')),
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, user_id, scope, target)
);

-- Statistics of one period (`5m` or `1h`) starting at `start`: time-weighted mean, min and max
-- of a measurement; the last value (`state`) and the running `sum` of a meter.
CREATE TABLE automation.statistics (
    entity VARCHAR(21)      NOT NULL REFERENCES automation.entities (id) ON DELETE CASCADE,
    period TEXT             NOT NULL CHECK (period IN ('5m', '1h')),
    start  TIMESTAMPTZ      NOT NULL,
    mean   DOUBLE PRECISION,
    min    DOUBLE PRECISION,
    max    DOUBLE PRECISION,
    state  DOUBLE PRECISION,
    sum    DOUBLE PRECISION,
    PRIMARY KEY (entity, period, start)
);

-- How far each period has been compiled (every entity up to the same instant).
CREATE TABLE automation.compiled (
    period TEXT        PRIMARY KEY CHECK (period IN ('5m', '1h')),
    up_to  TIMESTAMPTZ NOT NULL
);
