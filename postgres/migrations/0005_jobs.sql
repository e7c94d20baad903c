-- Jobs: the job system's queue and history. doc is the whole jobs.Job as
-- JSON (jsonb, so that UpdateJob can keep the immutable fields of the
-- stored document in one statement); the other columns copy what listings
-- filter and sort on. updated is when the row was last written. "user" is
-- reserved in PostgreSQL, hence user_name.
CREATE TABLE jobs (
    id        TEXT COLLATE "C" PRIMARY KEY,
    state     TEXT COLLATE "C" NOT NULL,
    queue     TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    priority  INTEGER NOT NULL,
    submitted BIGINT NOT NULL,
    updated   BIGINT NOT NULL,
    doc       JSONB NOT NULL
);
-- ActiveJobs: a few live states, oldest first.
CREATE INDEX jobs_state ON jobs (state, submitted, id);
-- ListJobs: newest first, optionally within a queue.
CREATE INDEX jobs_submitted ON jobs (submitted, id);
CREATE INDEX jobs_queue ON jobs (queue, submitted, id);
