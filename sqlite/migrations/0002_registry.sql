-- Model registry: registered models, their versions, tags and aliases.
-- Versions are numbered per model from next_version, so a number is never
-- given twice, even after a delete.
CREATE TABLE registered_models (
    name             TEXT PRIMARY KEY,
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    user_id          TEXT NOT NULL DEFAULT '',
    next_version     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
) WITHOUT ROWID;

CREATE TABLE model_versions (
    name             TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    user_id          TEXT NOT NULL DEFAULT '',
    current_stage    TEXT NOT NULL DEFAULT 'None',
    source           TEXT NOT NULL,
    storage_location TEXT NOT NULL DEFAULT '',
    run_id           TEXT NOT NULL DEFAULT '',
    run_link         TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'READY',
    status_message   TEXT NOT NULL DEFAULT '',
    model_id         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON UPDATE CASCADE ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE registered_model_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON UPDATE CASCADE ON DELETE CASCADE
) WITHOUT ROWID;
