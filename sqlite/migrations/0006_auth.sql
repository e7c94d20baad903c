-- Authentication and permissions: users, roles (a user's own grants are
-- the permissions of a role named __user_<id>__ that only they hold),
-- role permissions and assignments, and tokens (only their SHA-256 is
-- kept). Deleting a user or a role takes what hangs off it along.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    workspace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    UNIQUE (workspace, name)
);

CREATE TABLE role_permissions (
    id               INTEGER PRIMARY KEY,
    role_id          INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    resource_type    TEXT NOT NULL,
    resource_pattern TEXT NOT NULL,
    permission       TEXT NOT NULL,
    UNIQUE (role_id, resource_type, resource_pattern)
);
CREATE INDEX role_permissions_resource ON role_permissions (resource_type, resource_pattern);

CREATE TABLE role_assignments (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    UNIQUE (user_id, role_id)
);
CREATE INDEX role_assignments_role ON role_assignments (role_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    kind         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL DEFAULT 0,
    last_used_ms INTEGER NOT NULL DEFAULT 0,
    job_id       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_user ON tokens (user_id, created_ms);
CREATE INDEX tokens_job ON tokens (job_id) WHERE job_id <> '';

-- Jobs are listed within the experiments their caller may read.
ALTER TABLE jobs ADD COLUMN experiment_id TEXT NOT NULL DEFAULT '0';
UPDATE jobs SET experiment_id = coalesce(nullif(json_extract(doc, '$.spec.experiment_id'), ''), '0');
CREATE INDEX jobs_experiment ON jobs (experiment_id, submitted, id);
