-- Jobs: the job system's queue and history. doc is the whole jobs.Job as
-- JSON, so new job fields need no migration; the other columns copy what
-- listings filter and sort on. updated is when the row was last written.
CREATE TABLE jobs (
    id        TEXT PRIMARY KEY,
    state     TEXT NOT NULL,
    queue     TEXT NOT NULL,
    user      TEXT NOT NULL,
    priority  INTEGER NOT NULL,
    submitted INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    doc       TEXT NOT NULL
);
-- ActiveJobs: a few live states, oldest first.
CREATE INDEX jobs_state ON jobs (state, submitted, id);
-- ListJobs: newest first, optionally within a queue.
CREATE INDEX jobs_submitted ON jobs (submitted, id);
CREATE INDEX jobs_queue ON jobs (queue, submitted, id);
