-- Sweeps handed to a batch scheduler (SPEC §8, cluster runs): which cells went out as which
-- job. Re-submitting a sweep adds a row with only the cells that were not FINISHED.
CREATE TABLE submissions (
    id           INTEGER PRIMARY KEY,
    sweep_id     BIGINT  NOT NULL REFERENCES sweeps (id),
    executor     TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    -- Comma-separated cell indices (the array task ids).
    cells        TEXT    NOT NULL,
    script       TEXT    NOT NULL,
    submitted_at BIGINT  NOT NULL
);
CREATE INDEX submissions_by_sweep ON submissions (sweep_id);

-- The scheduler job a run ran in (Slurm: JOBID_TASKID), NULL outside one.
ALTER TABLE runs ADD COLUMN scheduler_job TEXT;
