-- Automation (Ka'a): devices and their entities (one readable or controllable aspect each),
-- with the current state and every state change, in the `automation` schema (created by 0001).

CREATE TABLE automation.devices (
    id           VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    source       TEXT        NOT NULL CHECK (source IN ('mqtt', 'socket')),
    source_key   TEXT        NOT NULL,                 -- MQTT: the discovery device identifier
    name         TEXT        NOT NULL,
    manufacturer TEXT,
    model        TEXT,
    area         TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (community_id, source, source_key)
);

CREATE TABLE automation.entities (
    id            VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    community_id  VARCHAR(21) NOT NULL REFERENCES public.communities (id) ON DELETE CASCADE,
    entity_id     TEXT        NOT NULL,                -- `sensor.living_room_temperature`
    device_id     VARCHAR(21) REFERENCES automation.devices (id) ON DELETE SET NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('sensor', 'binary_sensor', 'switch', 'light',
                                                       'climate', 'cover', 'button')),
    name          TEXT        NOT NULL,
    unit          TEXT,
    device_class  TEXT,
    state_class   TEXT,
    area          TEXT,
    discovery_key TEXT,                                -- `<component>/<node_id>/<object_id>`
    config        TEXT        NOT NULL DEFAULT '{}',   -- JSON: topics, templates, payloads
    state         TEXT,
    attributes    TEXT        NOT NULL DEFAULT '{}',   -- JSON object
    last_changed  TIMESTAMPTZ,
    last_updated  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (community_id, entity_id)
);
CREATE UNIQUE INDEX entities_discovery_idx ON automation.entities (community_id, discovery_key)
    WHERE discovery_key IS NOT NULL;

CREATE TABLE automation.states (
    id         VARCHAR(21) PRIMARY KEY CHECK (length(id) = 21),
    entity     VARCHAR(21) NOT NULL REFERENCES automation.entities (id) ON DELETE CASCADE,
    state      TEXT,
    attributes TEXT        NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX states_entity_idx ON automation.states (entity, at);
