-- Tuning: studies and their trials (tune.Store), the shape Optuna's storage
-- needs. Ids are AUTOINCREMENT so that a deleted study's or trial's id is
-- never handed out again: Optuna's clients cache trials by id and fetch
-- only ids above the highest finished one they saw. next_number is the
-- study's trial counter; creating a trial bumps it in the same
-- transaction, which numbers trials without gaps or duplicates.
-- Attribute values are JSON text; a NULL value is NaN (SQLite stores no
-- NaN); times are microseconds since the epoch.
CREATE TABLE studies (
    study_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    directions  TEXT NOT NULL,
    next_number INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE study_attrs (
    study_id INTEGER NOT NULL REFERENCES studies(study_id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (study_id, kind, key)
);

CREATE TABLE trials (
    trial_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id    INTEGER NOT NULL REFERENCES studies(study_id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    state       TEXT NOT NULL,
    start_us    INTEGER,
    complete_us INTEGER,
    UNIQUE (study_id, number)
);

CREATE TABLE trial_values (
    trial_id  INTEGER NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    objective INTEGER NOT NULL,
    value     REAL,
    PRIMARY KEY (trial_id, objective)
);

CREATE TABLE trial_params (
    trial_id     INTEGER NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    value        REAL NOT NULL,
    distribution TEXT NOT NULL,
    PRIMARY KEY (trial_id, name)
);
-- SetTrialParam: the distribution a parameter has in a study's trials.
CREATE INDEX trial_params_name ON trial_params (name, trial_id);

CREATE TABLE trial_steps (
    trial_id INTEGER NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    value    REAL,
    PRIMARY KEY (trial_id, step)
);

CREATE TABLE trial_attrs (
    trial_id INTEGER NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trial_id, kind, key)
);
