-- Deployments: models the server serves, kept across restarts. The spec is
-- serving.Deployment as JSON text, so new options need no migration.
CREATE TABLE deployments (
    name          TEXT COLLATE "C" PRIMARY KEY,
    spec          TEXT NOT NULL,
    creation_time BIGINT NOT NULL
);
