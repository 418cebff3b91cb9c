-- Automation (Ka'a): devices and their entities (one readable or controllable aspect each),
-- with the current state and every state change. On SQLite `automation` is an attached database
-- file: references to communities are kept by the application.

CREATE TABLE automation.devices (
    id           TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id TEXT NOT NULL,
    source       TEXT        NOT NULL CHECK (source IN ('mqtt', 'socket')),
    source_key   TEXT        NOT NULL,                 -- MQTT: the discovery device identifier
    name         TEXT        NOT NULL,
    manufacturer TEXT,
    model        TEXT,
    area         TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (community_id, source, source_key)
);

CREATE TABLE automation.entities (
    id            TEXT PRIMARY KEY CHECK (length(id) = 21),
    community_id  TEXT NOT NULL,
    entity_id     TEXT        NOT NULL,                -- `sensor.living_room_temperature`
    device_id     TEXT REFERENCES devices (id) ON DELETE SET NULL,
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
    last_changed  TEXT,
    last_updated  TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (community_id, entity_id)
);
CREATE UNIQUE INDEX automation.entities_discovery_idx ON entities (community_id, discovery_key)
    WHERE discovery_key IS NOT NULL;

CREATE TABLE automation.states (
    id         TEXT PRIMARY KEY CHECK (length(id) = 21),
    entity     TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    state      TEXT,
    attributes TEXT        NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX automation.states_entity_idx ON states (entity, at);
