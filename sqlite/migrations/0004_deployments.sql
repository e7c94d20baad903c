-- Deployments: models the server serves, kept across restarts. The spec is
-- serving.Deployment as JSON, so new options need no migration.
CREATE TABLE deployments (
    name          TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,
    creation_time INTEGER NOT NULL
);
