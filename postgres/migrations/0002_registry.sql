-- Model registry: registered models, their versions, tags and aliases.
-- Versions are numbered per model from next_version, so a number is never
-- given twice, even after a delete; CreateVersion takes it with an UPDATE
-- ... RETURNING, which locks the model's row against concurrent creates.
CREATE TABLE registered_models (
    name             TEXT COLLATE "C" PRIMARY KEY,
    creation_time    BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    description      TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id          TEXT COLLATE "C" NOT NULL DEFAULT '',
    next_version     BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE registered_model_tags (
    name  TEXT COLLATE "C" NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE model_versions (
    name             TEXT COLLATE "C" NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
    version          BIGINT NOT NULL,
    creation_time    BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    description      TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id          TEXT COLLATE "C" NOT NULL DEFAULT '',
    current_stage    TEXT COLLATE "C" NOT NULL DEFAULT 'None',
    source           TEXT COLLATE "C" NOT NULL,
    storage_location TEXT COLLATE "C" NOT NULL DEFAULT '',
    run_id           TEXT COLLATE "C" NOT NULL DEFAULT '',
    run_link         TEXT COLLATE "C" NOT NULL DEFAULT '',
    status           TEXT COLLATE "C" NOT NULL DEFAULT 'READY',
    status_message   TEXT COLLATE "C" NOT NULL DEFAULT '',
    model_id         TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT COLLATE "C" NOT NULL,
    value   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    name    TEXT COLLATE "C" NOT NULL,
    alias   TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX registered_model_aliases_version ON registered_model_aliases (name, version);
