-- The run store (SPEC §8). Portable SQL: the PostgreSQL migrations mirror these tables with
-- BIGINT identity keys, so the queries in crates/tracking run unchanged on both.
-- Times are Unix milliseconds (BIGINT); flags are 0/1 BIGINTs.

CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- A sweep is a frozen grid: the spec's text and its sha256 (the same text is the same sweep).
CREATE TABLE sweeps (
    id            INTEGER PRIMARY KEY,
    experiment_id BIGINT  NOT NULL REFERENCES experiments (id),
    spec_toml     TEXT    NOT NULL,
    spec_sha256   TEXT    NOT NULL UNIQUE,
    grid_path     TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sweep_cells (
    sweep_id    BIGINT  NOT NULL REFERENCES sweeps (id),
    cell        BIGINT  NOT NULL,
    config_json TEXT    NOT NULL,
    config_hash TEXT    NOT NULL,
    PRIMARY KEY (sweep_id, cell)
);
CREATE INDEX sweep_cells_by_hash ON sweep_cells (config_hash);

CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    uuid              TEXT    NOT NULL UNIQUE,
    sweep_id          BIGINT  REFERENCES sweeps (id),
    cell              BIGINT,
    rerun_of          BIGINT  REFERENCES runs (id),
    config_json       TEXT    NOT NULL,
    config_hash       TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    train_size        BIGINT  NOT NULL,
    backend           TEXT    NOT NULL,
    seed              BIGINT  NOT NULL,
    status            TEXT    NOT NULL
        CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    ended_at          BIGINT,
    heartbeat_at      BIGINT  NOT NULL,
    error             TEXT,
    -- The process that holds the run: with the host, enough to tell a dead one at once.
    pid               BIGINT  NOT NULL,
    pid_start         BIGINT  NOT NULL,
    host              TEXT    NOT NULL,
    cpu               TEXT    NOT NULL,
    gpu               TEXT    NOT NULL,
    threads           BIGINT  NOT NULL,
    git_commit        TEXT    NOT NULL,
    git_dirty         BIGINT  NOT NULL,
    git_diff          TEXT    NOT NULL,
    cargo_lock_sha256 TEXT    NOT NULL,
    rustc_version     TEXT    NOT NULL,
    cargo_features    TEXT    NOT NULL,
    binary_sha256     TEXT    NOT NULL,
    dataset_hash      TEXT,
    subset_hash       TEXT,
    artifact_dir      TEXT
);
-- Claim-or-skip is one atomic insert: at most one live or finished original run per config.
-- FAILED and KILLED rows fall out of the index, so their cells can be claimed again.
CREATE UNIQUE INDEX runs_one_live_per_config ON runs (config_hash)
    WHERE rerun_of IS NULL AND status IN ('QUEUED', 'RUNNING', 'FINISHED');
CREATE INDEX runs_by_sweep ON runs (sweep_id, cell);
CREATE INDEX runs_by_status ON runs (status);

-- SQLite stores NaN as NULL, so NaN is a flag beside the value.
CREATE TABLE epoch_metrics (
    run_id BIGINT  NOT NULL REFERENCES runs (id),
    split  TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    epoch  BIGINT  NOT NULL,
    value  DOUBLE PRECISION,
    is_nan BIGINT  NOT NULL,
    PRIMARY KEY (run_id, split, key, epoch)
);

-- tag NULL = the macro figure.
CREATE TABLE run_metrics (
    run_id  BIGINT  NOT NULL REFERENCES runs (id),
    split   TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    tag     TEXT,
    value   DOUBLE PRECISION,
    is_nan  BIGINT  NOT NULL,
    ci_low  DOUBLE PRECISION,
    ci_high DOUBLE PRECISION
);
CREATE INDEX run_metrics_by_run ON run_metrics (run_id, split, key);

CREATE TABLE artifacts (
    run_id BIGINT  NOT NULL REFERENCES runs (id),
    name   TEXT    NOT NULL,
    path   TEXT    NOT NULL,
    sha256 TEXT    NOT NULL,
    size   BIGINT  NOT NULL,
    PRIMARY KEY (run_id, name)
);
