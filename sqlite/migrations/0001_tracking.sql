-- Tracking: experiments, runs and what is logged to them.
CREATE TABLE experiments (
    experiment_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL DEFAULT '',
    lifecycle_stage  TEXT NOT NULL DEFAULT 'active',
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL
);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;

-- rid is the run's compact internal key; run_uuid is the id clients see.
CREATE TABLE runs (
    rid             INTEGER PRIMARY KEY,
    run_uuid        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL DEFAULT '',
    experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
    user_id         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    deleted_time    INTEGER,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    artifact_uri    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_experiment ON runs (experiment_id, lifecycle_stage, start_time DESC, run_uuid);

CREATE TABLE tags (
    rid   INTEGER NOT NULL REFERENCES runs(rid),
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (rid, key)
) WITHOUT ROWID;
CREATE INDEX tags_key ON tags (key, value);

CREATE TABLE params (
    rid   INTEGER NOT NULL REFERENCES runs(rid),
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (rid, key)
) WITHOUT ROWID;
CREATE INDEX params_key ON params (key, value);

-- Metric history, in chunks: each log call appends, per metric key (and
-- model/dataset link), one row whose data packs its points as 24-byte
-- little-endian (step int64, timestamp int64, value float64). A batch of
-- 1000 points over 100 keys is 100 rows, not 1000. Readers sort the points
-- and collapse exact duplicates.
CREATE TABLE metric_chunks (
    seq       INTEGER PRIMARY KEY,
    rid       INTEGER NOT NULL REFERENCES runs(rid),
    key       TEXT NOT NULL,
    model_id       TEXT NOT NULL DEFAULT '',
    dataset_name   TEXT NOT NULL DEFAULT '',
    dataset_digest TEXT NOT NULL DEFAULT '',
    min_step  INTEGER NOT NULL,
    max_step  INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX metric_chunks_run_key ON metric_chunks (rid, key, seq);

-- The latest value of each metric of each run, by (step, timestamp, value).
CREATE TABLE latest_metrics (
    rid       INTEGER NOT NULL REFERENCES runs(rid),
    key       TEXT NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_key ON latest_metrics (key, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    source_type   TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL DEFAULT '',
    schema        TEXT NOT NULL DEFAULT '',
    profile       TEXT NOT NULL DEFAULT '',
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_inputs (
    rid          INTEGER NOT NULL REFERENCES runs(rid),
    dataset_uuid TEXT NOT NULL REFERENCES datasets(dataset_uuid),
    PRIMARY KEY (rid, dataset_uuid)
) WITHOUT ROWID;
CREATE INDEX run_inputs_dataset ON run_inputs (dataset_uuid);

CREATE TABLE run_input_tags (
    rid          INTEGER NOT NULL,
    dataset_uuid TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (rid, dataset_uuid, key),
    FOREIGN KEY (rid, dataset_uuid) REFERENCES run_inputs(rid, dataset_uuid)
) WITHOUT ROWID;

CREATE TABLE run_model_inputs (
    rid      INTEGER NOT NULL REFERENCES runs(rid),
    model_id TEXT NOT NULL,
    PRIMARY KEY (rid, model_id)
) WITHOUT ROWID;

CREATE TABLE run_model_outputs (
    rid      INTEGER NOT NULL REFERENCES runs(rid),
    model_id TEXT NOT NULL,
    step     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rid, model_id)
) WITHOUT ROWID;

-- MLflow 3 logged models.
CREATE TABLE logged_models (
    model_id         TEXT PRIMARY KEY,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(experiment_id),
    name             TEXT NOT NULL,
    artifact_location TEXT NOT NULL DEFAULT '',
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    status           TEXT NOT NULL,
    status_message   TEXT NOT NULL DEFAULT '',
    lifecycle_stage  TEXT NOT NULL DEFAULT 'active',
    model_type       TEXT NOT NULL DEFAULT '',
    source_run_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_time DESC);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models(model_id),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models(model_id),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;

CREATE TABLE logged_model_metrics (
    model_id  TEXT NOT NULL REFERENCES logged_models(model_id),
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    run_uuid  TEXT NOT NULL,
    dataset_name   TEXT NOT NULL DEFAULT '',
    dataset_digest TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (model_id, key, run_uuid, step, timestamp, dataset_name, dataset_digest)
) WITHOUT ROWID;
