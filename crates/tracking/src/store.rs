//! The store: a blocking facade over an sqlx `Any` pool, so callers need no async runtime.
//! Queries use `$N` placeholders and portable SQL, which SQLite and PostgreSQL both accept.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Connection, Row, SqlSafeStr};

use crate::error::{Result, TrackingError};
use crate::host::{Host, ProcessId};
use crate::records::*;

/// Checkpoints tried, and the pause between them, to copy a lost write-ahead log's frames
/// into the database file (`Store::check_wal`).
const WAL_RESCUE_TRIES: usize = 10;
const WAL_RESCUE_PAUSE: Duration = Duration::from_millis(50);

/// The SQLite migrations, in order (SPEC §8).
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "run store",
        include_str!("../../../migrations/sqlite/0001_run_store.sql"),
    ),
    (
        2,
        "submissions",
        include_str!("../../../migrations/sqlite/0002_submissions.sql"),
    ),
    (
        3,
        "host simd",
        include_str!("../../../migrations/sqlite/0003_host_simd.sql"),
    ),
    (
        4,
        "runs by config",
        include_str!("../../../migrations/sqlite/0004_runs_by_config.sql"),
    ),
    (
        5,
        "host libraries",
        include_str!("../../../migrations/sqlite/0005_host_libraries.sql"),
    ),
];

/// The PostgreSQL migrations: the same tables and versions as SQLite's.
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "run store",
        include_str!("../../../migrations/postgres/0001_run_store.sql"),
    ),
    (
        2,
        "submissions",
        include_str!("../../../migrations/postgres/0002_submissions.sql"),
    ),
    (
        3,
        "host simd",
        include_str!("../../../migrations/postgres/0003_host_simd.sql"),
    ),
    (
        4,
        "runs by config",
        include_str!("../../../migrations/postgres/0004_runs_by_config.sql"),
    ),
    (
        5,
        "host libraries",
        include_str!("../../../migrations/postgres/0005_host_libraries.sql"),
    ),
];

/// A RUNNING run on another host is presumed dead after this long without a heartbeat.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(120);

/// How often a live run should call [`Store::heartbeat`].
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// Where a store lives, parsed from a URL or a plain path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, as libpq and sqlx read it.
    Postgres(String),
}

impl Location {
    /// `tagscale.db`, `/abs/x.db`, `sqlite://x.db`, `sqlite:x.db`, or
    /// `postgres://user@host:port/db` (also `postgresql://`).
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(TrackingError::UnsupportedUrl(url.to_string()));
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }
}

/// The SQL dialect behind a store: the queries are shared, transactions and migrations are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The run store.
pub struct Store {
    runtime: tokio::runtime::Runtime,
    pool: AnyPool,
    url: String,
    dialect: Dialect,
    stale_after: Duration,
    /// SQLite: the write-ahead log this process's connections use.
    wal: Option<WalWatch>,
    /// Opened by [`Store::open_read_only`]: no migrations, no checkpoints, no writes.
    read_only: bool,
    /// SQLite: the handle on the database file that served as the migration lock, kept open
    /// (unlocked) until the store is dropped, after the pool. Closing any descriptor of a file
    /// releases every POSIX record lock the process holds on it — SQLite's own shared lock
    /// included — and with that lock gone another process's `sqlite3` closing its connection
    /// took itself for the last one and deleted the `-wal` file under a running sweep.
    _database_file: Option<std::fs::File>,
}

/// The `-wal` file of a SQLite store, held open so that its deletion or replacement by
/// something else (`rm tagscale.db-wal`, a copy over it) is noticed before the next write.
/// The pool keeps a connection open for the store's life, so SQLite itself never removes the
/// file meanwhile (it does so only when the last connection closes).
struct WalWatch {
    path: PathBuf,
    file: std::fs::File,
}

impl WalWatch {
    fn new(db: &Path) -> Option<Self> {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        let path = PathBuf::from(path);
        let file = std::fs::File::open(&path).ok()?;
        Some(Self { path, file })
    }

    /// Whether the path still names the file this process writes.
    #[cfg(unix)]
    fn intact(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(held), Ok(named)) => (held.dev(), held.ino()) == (named.dev(), named.ino()),
            _ => false,
        }
    }

    #[cfg(not(unix))]
    fn intact(&self) -> bool {
        self.path.exists()
    }
}

impl Drop for Store {
    /// Leave the SQLite file complete (per-epoch values of unfinished runs, sweeps) even when
    /// another process keeps the store open. Best effort: every ended run was checkpointed
    /// when it ended, and what is left stays safe in the `-wal` file.
    ///
    /// The pool is closed here, not left to its background workers, so that the store's locks
    /// are gone when `drop` returns: another process opening the file next finds it free.
    fn drop(&mut self) {
        // Blocking on the store's runtime from inside another one would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            if !self.read_only {
                let _ = self.checkpoint();
            }
            self.runtime.block_on(self.pool.close());
        }
    }
}

impl Store {
    /// Open (creating if needed) the store at `url` and apply pending migrations. Safe when
    /// several processes open a new database at once: migrations run under a file lock on
    /// SQLite and under sqlx's advisory lock on PostgreSQL.
    pub fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let runtime = store_runtime()?;
        match Location::parse(url)? {
            Location::Sqlite(path) => Self::open_sqlite(runtime, url, &path),
            Location::Postgres(connect_url) => Self::open_postgres(runtime, url, &connect_url),
        }
    }

    fn open_postgres(
        runtime: tokio::runtime::Runtime,
        url: &str,
        connect_url: &str,
    ) -> Result<Self> {
        // One direct connection first: a pool retries a refused connection until its acquire
        // timeout, but a wrong host or port should fail at once.
        let pool = runtime
            .block_on(async {
                sqlx::AnyConnection::connect(connect_url)
                    .await?
                    .close()
                    .await?;
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(120))
                    .connect(connect_url)
                    .await
            })
            .map_err(|source| TrackingError::Database {
                url: redact_password(url),
                source,
            })?;
        let store = Self {
            runtime,
            pool,
            url: redact_password(url),
            dialect: Dialect::Postgres,
            stale_after: DEFAULT_STALE_AFTER,
            wal: None,
            read_only: false,
            _database_file: None,
        };
        store.migrate()?;
        Ok(store)
    }

    fn open_sqlite(runtime: tokio::runtime::Runtime, url: &str, path: &Path) -> Result<Self> {
        let lock = lock_file(path)?;
        let connect_url = sqlite_url(path);
        runtime
            .block_on(check_sqlite_file(&connect_url))
            .map_err(|reason| damaged(path, reason))?;
        let pool = runtime
            .block_on(
                AnyPoolOptions::new()
                    .max_connections(4)
                    // One connection stays open for the store's life (see `WalWatch`).
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(120))
                    .after_connect(|conn, _meta| Box::pin(apply_sqlite_pragmas(conn)))
                    .connect(&connect_url),
            )
            .map_err(|source| TrackingError::Database {
                url: url.to_string(),
                source,
            })?;
        let mut store = Self {
            runtime,
            pool,
            url: url.to_string(),
            dialect: Dialect::Sqlite,
            stale_after: DEFAULT_STALE_AFTER,
            wal: None,
            read_only: false,
            _database_file: None,
        };
        store.migrate()?;
        store.wal = WalWatch::new(path);
        lock.unlock()
            .map_err(|e| io_error(path, format!("cannot release the migration lock: {e}")))?;
        store._database_file = Some(lock);
        Ok(store)
    }

    /// Open an existing store for reading only (the dashboard): no migrations, no
    /// checkpoints, and every connection refuses writes (SQLite `mode=ro` and `query_only`,
    /// PostgreSQL read-only transactions), so a reader never holds a lock a sweep waits on.
    /// A store whose schema is behind this build is refused with the command that upgrades it.
    pub fn open_read_only(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let runtime = store_runtime()?;
        let (dialect, connect_url, shown_url) = match Location::parse(url)? {
            Location::Sqlite(path) => {
                if !path.is_file() {
                    return Err(io_error(&path, "no run store here".into()));
                }
                (
                    Dialect::Sqlite,
                    sqlite_url_with(&path, "ro"),
                    url.to_string(),
                )
            }
            Location::Postgres(connect_url) => {
                (Dialect::Postgres, connect_url, redact_password(url))
            }
        };
        let pool = runtime
            .block_on(
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |conn, _meta| {
                        Box::pin(apply_read_only_settings(conn, dialect))
                    })
                    .connect(&connect_url),
            )
            .map_err(|source| TrackingError::Database {
                url: shown_url.clone(),
                source,
            })?;
        let store = Self {
            runtime,
            pool,
            url: shown_url,
            dialect,
            stale_after: DEFAULT_STALE_AFTER,
            wal: None,
            read_only: true,
            _database_file: None,
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Whether the store's applied migrations are every migration this build knows.
    fn check_schema(&self) -> Result<()> {
        let latest = match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        }
        .iter()
        .map(|m| m.0)
        .max()
        .unwrap_or(0);
        let applied: Option<i64> = self
            .fetch_all(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
                &[],
            )
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r.try_get(0).ok()))
            .flatten();
        match applied {
            Some(v) if v >= latest => Ok(()),
            found => Err(TrackingError::Outdated {
                url: self.url.clone(),
                found: found.unwrap_or(0),
                expected: latest,
            }),
        }
    }

    /// Treat runs on other hosts as dead after `stale` without a heartbeat.
    pub fn with_stale_after(mut self, stale: Duration) -> Self {
        self.stale_after = stale;
        self
    }

    /// The URL the store was opened with (a password in it replaced by `***`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn migrate(&self) -> Result<()> {
        let migrations = match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = migrations
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
                )
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        self.runtime
            .block_on(migrator.run(&self.pool))
            .map_err(|source| TrackingError::Migrate {
                url: self.url.clone(),
                source,
            })
    }

    pub(crate) fn db<T>(&self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        result.map_err(|source| TrackingError::Database {
            url: self.url.clone(),
            source,
        })
    }

    /// Run `body` inside one write transaction (`BEGIN IMMEDIATE` on SQLite: the write lock
    /// is taken up front, so concurrent writers wait on the busy timeout instead of failing).
    fn write<T>(
        &self,
        body: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> std::result::Result<T, sqlx::Error>,
    ) -> Result<T> {
        self.write_with(false, body)
    }

    /// A write transaction that decides from what it reads in `runs` (claims, reaping): on
    /// PostgreSQL it first locks `runs` against other such transactions and all writers, the
    /// serialisation SQLite's single writer gives for free.
    fn write_deciding<T>(
        &self,
        body: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> std::result::Result<T, sqlx::Error>,
    ) -> Result<T> {
        self.write_with(true, body)
    }

    fn write_with<T>(
        &self,
        lock_runs: bool,
        body: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> std::result::Result<T, sqlx::Error>,
    ) -> Result<T> {
        self.check_wal()?;
        self.db(self.runtime.block_on(async {
            let mut tx = match self.dialect {
                Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
                Dialect::Postgres => self.pool.begin().await?,
            };
            if lock_runs && self.dialect == Dialect::Postgres {
                sqlx::query("LOCK TABLE runs IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let value = body(&mut tx).await?;
            tx.commit().await?;
            Ok(value)
        }))
    }

    pub(crate) fn fetch_all(&self, sql: &'static str, binds: &[Bind]) -> Result<Vec<AnyRow>> {
        self.fetch_built(sql.to_string(), binds)
    }

    /// A query assembled at run time; only from fixed SQL fragments, every value bound.
    pub(crate) fn fetch_built(&self, sql: String, binds: &[Bind]) -> Result<Vec<AnyRow>> {
        self.db(self.runtime.block_on(async {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for b in binds {
                query = b.bind(query);
            }
            query.fetch_all(&self.pool).await
        }))
    }

    // ---- sweeps ------------------------------------------------------------------------

    /// Record a grid (experiment, spec text, cells) and return its sweep id. The same spec
    /// text is the same sweep: freezing it again returns the existing id.
    pub fn freeze_sweep(
        &self,
        experiment: &str,
        description: &str,
        spec_toml: &str,
        grid_path: &str,
        cells: &[CellSpec],
    ) -> Result<i64> {
        let sha = spec_sha256(spec_toml);
        let now = now_ms();
        self.write(async |tx| {
            sqlx::query(
                "INSERT INTO experiments (name, description, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(experiment)
            .bind(description)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let experiment_id: i64 = sqlx::query("SELECT id FROM experiments WHERE name = $1")
                .bind(experiment)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            sqlx::query(
                "INSERT INTO sweeps (experiment_id, spec_toml, spec_sha256, grid_path, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (spec_sha256) DO NOTHING",
            )
            .bind(experiment_id)
            .bind(spec_toml)
            .bind(&sha)
            .bind(grid_path)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let sweep_id: i64 = sqlx::query("SELECT id FROM sweeps WHERE spec_sha256 = $1")
                .bind(&sha)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            for cell in cells {
                sqlx::query(
                    "INSERT INTO sweep_cells (sweep_id, cell, config_json, config_hash)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (sweep_id, cell) DO NOTHING",
                )
                .bind(sweep_id)
                .bind(cell.index)
                .bind(&cell.config_json)
                .bind(&cell.config_hash)
                .execute(&mut *tx)
                .await?;
            }
            Ok(sweep_id)
        })
    }

    /// A sweep with its cells.
    pub fn sweep(&self, id: i64) -> Result<SweepRecord> {
        let rows = self.fetch_all(
            "SELECT s.id, e.name, e.description, s.spec_toml, s.spec_sha256, s.grid_path,
                    s.created_at
             FROM sweeps s JOIN experiments e ON e.id = s.experiment_id WHERE s.id = $1",
            &[Bind::Int(id)],
        )?;
        let row = rows.first().ok_or(TrackingError::NoSuchSweep(id))?;
        let cells = self
            .fetch_all(
                "SELECT cell, config_json, config_hash FROM sweep_cells
                 WHERE sweep_id = $1 ORDER BY cell",
                &[Bind::Int(id)],
            )?
            .iter()
            .map(|r| {
                Ok(CellSpec {
                    index: r.try_get(0)?,
                    config_json: r.try_get(1)?,
                    config_hash: r.try_get(2)?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>();
        let cells = self.db(cells)?;
        self.db((|| {
            Ok(SweepRecord {
                id: row.try_get(0)?,
                experiment: row.try_get(1)?,
                description: row.try_get(2)?,
                spec_toml: row.try_get(3)?,
                spec_sha256: row.try_get(4)?,
                grid_path: row.try_get(5)?,
                created_at: row.try_get(6)?,
                cells,
            })
        })())
    }

    /// The sweep frozen from exactly this spec text, if any.
    pub fn sweep_by_spec(&self, spec_toml: &str) -> Result<Option<i64>> {
        let sha = spec_sha256(spec_toml);
        let rows = self.fetch_all(
            "SELECT id FROM sweeps WHERE spec_sha256 = $1",
            &[Bind::Text(sha)],
        )?;
        rows.first().map(|r| self.db(r.try_get(0))).transpose()
    }

    /// The newest sweep, optionally of one experiment.
    pub fn latest_sweep(&self, experiment: Option<&str>) -> Result<Option<i64>> {
        let rows = match experiment {
            Some(name) => self.fetch_all(
                "SELECT s.id FROM sweeps s JOIN experiments e ON e.id = s.experiment_id
                 WHERE e.name = $1 ORDER BY s.id DESC LIMIT 1",
                &[Bind::Text(name.to_string())],
            )?,
            None => self.fetch_all("SELECT id FROM sweeps ORDER BY id DESC LIMIT 1", &[])?,
        };
        rows.first().map(|r| self.db(r.try_get(0))).transpose()
    }

    /// How many sweeps the store holds.
    pub fn sweep_count(&self) -> Result<usize> {
        let rows = self.fetch_all("SELECT COUNT(*) FROM sweeps", &[])?;
        let count: i64 = rows
            .first()
            .map(|r| self.db(r.try_get(0)))
            .transpose()?
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// For each cell of a sweep, the run that stands for it: the FINISHED original run with the
    /// cell's config hash if there is one, else the newest original run (any status), else none.
    pub fn cell_runs(&self, sweep: &SweepRecord) -> Result<Vec<(CellSpec, Option<RunRecord>)>> {
        let runs = self.query_runs(
            "SELECT * FROM runs WHERE rerun_of IS NULL AND config_hash IN
               (SELECT config_hash FROM sweep_cells WHERE sweep_id = $1)
             ORDER BY id",
            &[Bind::Int(sweep.id)],
        )?;
        Ok(sweep
            .cells
            .iter()
            .map(|cell| {
                let of_cell = runs.iter().filter(|r| r.config_hash == cell.config_hash);
                let finished = of_cell.clone().find(|r| r.status == Status::Finished);
                let chosen = finished.or_else(|| of_cell.clone().next_back());
                (cell.clone(), chosen.cloned())
            })
            .collect())
    }

    // ---- claiming and the run lifecycle -----------------------------------------------

    /// Claim-or-skip, atomically: FINISHED with the same config -> `Finished`; held by a live
    /// process -> `Held`; last run FAILED and `retry_failed` is false -> `Failed`; otherwise a
    /// new QUEUED run. Runs of dead processes met on the way are marked KILLED first.
    pub fn claim(&self, run: &NewRun, retry_failed: bool) -> Result<Claim> {
        let here = Host::current().name;
        let stale = self.stale_after.as_millis() as i64;
        self.write_deciding(async |tx| {
            let holders = sqlx::query(
                "SELECT id, status, host, pid, pid_start, heartbeat_at FROM runs
                 WHERE config_hash = $1 AND rerun_of IS NULL
                   AND status IN ('QUEUED', 'RUNNING', 'FINISHED')",
            )
            .bind(&run.config_hash)
            .fetch_all(&mut *tx)
            .await?;
            for row in &holders {
                let id: i64 = row.try_get(0)?;
                let status: String = row.try_get(1)?;
                if status == "FINISHED" {
                    return Ok(Claim::Finished(id));
                }
                if holder_is_alive(row, &here, stale)? {
                    return Ok(Claim::Held(id));
                }
                mark_dead(&mut *tx, id).await?;
            }
            if !retry_failed {
                let last = sqlx::query(
                    "SELECT id, status FROM runs WHERE config_hash = $1 AND rerun_of IS NULL
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(&run.config_hash)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = last
                    && row.try_get::<String, _>(1)? == "FAILED"
                {
                    return Ok(Claim::Failed(row.try_get(0)?));
                }
            }
            Ok(Claim::Claimed(insert_run(&mut *tx, run).await?))
        })
    }

    /// Record a run without claiming (a rerun: `rerun_of` is set, so it never blocks a cell).
    pub fn insert_run(&self, run: &NewRun) -> Result<i64> {
        self.write(async |tx| insert_run(&mut *tx, run).await)
    }

    /// Mark every QUEUED/RUNNING run whose process is gone as KILLED; returns their ids.
    /// Same host: at once (pid and start time); other hosts: after a stale heartbeat.
    pub fn reap_dead(&self) -> Result<Vec<i64>> {
        let here = Host::current().name;
        let stale = self.stale_after.as_millis() as i64;
        self.write_deciding(async |tx| {
            let rows = sqlx::query(
                "SELECT id, status, host, pid, pid_start, heartbeat_at FROM runs
                 WHERE status IN ('QUEUED', 'RUNNING')",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut reaped = Vec::new();
            for row in &rows {
                if !holder_is_alive(row, &here, stale)? {
                    let id: i64 = row.try_get(0)?;
                    mark_dead(&mut *tx, id).await?;
                    reaped.push(id);
                }
            }
            Ok(reaped)
        })
    }

    /// QUEUED -> RUNNING, with what the run trains on and where its files go.
    pub fn start(
        &self,
        id: i64,
        dataset_hash: &str,
        subset_hash: &str,
        artifact_dir: &str,
    ) -> Result<()> {
        let now = now_ms();
        self.write(async |tx| {
            sqlx::query(
                "UPDATE runs SET status = 'RUNNING', started_at = $1, heartbeat_at = $1,
                        dataset_hash = $2, subset_hash = $3, artifact_dir = $4
                 WHERE id = $5",
            )
            .bind(now)
            .bind(dataset_hash)
            .bind(subset_hash)
            .bind(artifact_dir)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    /// Refresh a live run's heartbeat.
    pub fn heartbeat(&self, id: i64) -> Result<()> {
        let now = now_ms();
        self.write(async |tx| {
            sqlx::query(
                "UPDATE runs SET heartbeat_at = $1 WHERE id = $2 AND status IN ('QUEUED', 'RUNNING')",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    /// Record one epoch's values (all in one transaction). NaN is kept as NaN.
    pub fn log_epoch(&self, id: i64, epoch: i64, values: &[(&str, &str, f64)]) -> Result<()> {
        let now = now_ms();
        self.write(async |tx| {
            for (split, key, value) in values {
                let (value, is_nan) = nan_split(*value);
                sqlx::query(
                    "INSERT INTO epoch_metrics (run_id, split, key, epoch, value, is_nan)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(*split)
                .bind(*key)
                .bind(epoch)
                .bind(value)
                .bind(is_nan)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE runs SET heartbeat_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// Final metrics, artifacts and FINISHED, in one transaction: a run is either finished
    /// with all of its results or not finished at all.
    pub fn finish(&self, id: i64, metrics: &[FinalMetric], artifacts: &[Artifact]) -> Result<()> {
        let now = now_ms();
        self.write(async |tx| {
            for m in metrics {
                let (value, is_nan) = nan_split(m.value);
                sqlx::query(
                    "INSERT INTO run_metrics (run_id, split, key, tag, value, is_nan, ci_low, ci_high)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(&m.split)
                .bind(&m.key)
                .bind(m.tag.as_deref())
                .bind(value)
                .bind(is_nan)
                .bind(m.ci.map(|c| c.0))
                .bind(m.ci.map(|c| c.1))
                .execute(&mut *tx)
                .await?;
            }
            for a in artifacts {
                sqlx::query(
                    "INSERT INTO artifacts (run_id, name, path, sha256, size)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&a.name)
                .bind(&a.path)
                .bind(&a.sha256)
                .bind(a.size)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE runs SET status = 'FINISHED', ended_at = $1, heartbeat_at = $1
                 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })?;
        self.checkpoint()
    }

    /// Copy what the write-ahead log holds into the SQLite file itself (a no-op on
    /// PostgreSQL). SQLite does so on its own only every 1000 pages or when the last
    /// connection closes, so while any other process holds the store open (a second sweep, a
    /// `runs list` loop, `sqlite3`) a finished run would live in `-wal` alone and a copy of
    /// the `.db` file would not have it. PASSIVE never waits for readers.
    pub fn checkpoint(&self) -> Result<()> {
        if self.dialect != Dialect::Sqlite || self.read_only {
            return Ok(());
        }
        self.check_wal()?;
        self.passive_checkpoint().map(|_| ())
    }

    /// `PRAGMA wal_checkpoint(PASSIVE)`; whether every frame of the log reached the file.
    fn passive_checkpoint(&self) -> Result<bool> {
        let row = self
            .runtime
            .block_on(sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.pool));
        let row = self.db(row)?;
        let (busy, log, done): (i64, i64, i64) = self.db((|| {
            Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        })())?;
        Ok(busy == 0 && log == done)
    }

    /// Refuse to write once the write-ahead log was deleted or replaced under this process:
    /// its commits would go to a file no other process sees and that vanishes when it closes.
    /// What this process wrote is first copied into the database file, which is still the
    /// same file (the checkpoint reads the removed log through the connections' handles).
    fn check_wal(&self) -> Result<()> {
        let Some(wal) = self.wal.as_ref().filter(|w| !w.intact()) else {
            return Ok(());
        };
        // A passive checkpoint stops at frames another connection of the pool may still be
        // reading (one just released finishes on its worker thread); under load the first try
        // once came up short, so a few more, a moment apart, before calling the copy failed.
        let rescued = (0..WAL_RESCUE_TRIES).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(WAL_RESCUE_PAUSE);
            }
            self.passive_checkpoint().unwrap_or(false)
        });
        Err(TrackingError::WalLost {
            path: wal.path.clone(),
            rescued,
        })
    }

    /// End a run as FAILED or KILLED with the reason.
    pub fn end(&self, id: i64, status: Status, error: &str) -> Result<()> {
        let now = now_ms();
        self.write(async |tx| {
            sqlx::query(
                "UPDATE runs SET status = $1, error = $2, ended_at = $3
                 WHERE id = $4 AND status IN ('QUEUED', 'RUNNING')",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })?;
        self.checkpoint()
    }

    // ---- scheduler submissions ---------------------------------------------------------

    /// Record that `cells` of a sweep were submitted to a scheduler as job `job_id`.
    pub fn record_submission(
        &self,
        sweep: i64,
        executor: &str,
        job_id: &str,
        cells: &[i64],
        script: &str,
    ) -> Result<i64> {
        let cells = cells
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let now = now_ms();
        self.write(async |tx| {
            sqlx::query(
                "INSERT INTO submissions (sweep_id, executor, job_id, cells, script, submitted_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(sweep)
            .bind(executor)
            .bind(job_id)
            .bind(&cells)
            .bind(script)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)
        })
    }

    /// A sweep's submissions, oldest first.
    pub fn submissions(&self, sweep: i64) -> Result<Vec<Submission>> {
        let rows = self.fetch_all(
            "SELECT id, sweep_id, executor, job_id, cells, script, submitted_at FROM submissions
             WHERE sweep_id = $1 ORDER BY id",
            &[Bind::Int(sweep)],
        )?;
        rows.iter()
            .map(|r| {
                let cells: String = self.db(r.try_get(4))?;
                let cells = cells
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        c.parse::<i64>().map_err(|_| {
                            TrackingError::Corrupt(format!("submission cell list `{cells}`"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.db((|| {
                    Ok(Submission {
                        id: r.try_get(0)?,
                        sweep: r.try_get(1)?,
                        executor: r.try_get(2)?,
                        job_id: r.try_get(3)?,
                        cells,
                        script: r.try_get(5)?,
                        submitted_at: r.try_get(6)?,
                    })
                })())
            })
            .collect()
    }

    // ---- whole-store operations --------------------------------------------------------

    /// Write a consistent single-file copy of a SQLite store to `out` (`VACUUM INTO`, safe
    /// while other processes write), then check the copy. `out` must not exist; the copy is
    /// staged beside it and renamed into place, so `out` is complete or absent.
    pub fn backup(&self, out: &Path) -> Result<()> {
        if self.dialect != Dialect::Sqlite {
            return Err(TrackingError::Unsupported(
                "a PostgreSQL store is backed up with PostgreSQL's own tools: \
                 pg_dump --format=custom --file=OUT URL"
                    .into(),
            ));
        }
        if out.exists() {
            return Err(io_error(out, "already exists: choose a new file".into()));
        }
        self.check_wal()?;
        let staging = out.with_file_name(format!(
            ".{}.partial-{}",
            out.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&staging);
        let copied = self.runtime.block_on(
            sqlx::query("VACUUM INTO $1")
                .bind(staging.to_string_lossy().into_owned())
                .execute(&self.pool),
        );
        let checked = self.db(copied).and_then(|_| {
            self.runtime
                .block_on(check_sqlite_file(&sqlite_url(&staging)))
                .map_err(|reason| damaged(&staging, reason))
        });
        let published = checked.and_then(|()| {
            std::fs::rename(&staging, out)
                .map_err(|e| io_error(out, format!("cannot move the copy into place: {e}")))
        });
        if published.is_err() {
            let _ = std::fs::remove_file(&staging);
        }
        published
    }

    /// SQLite's full `PRAGMA integrity_check` and `PRAGMA foreign_key_check`: the problems
    /// found, none when the file is sound. PostgreSQL keeps its own pages consistent, so
    /// there it returns `None` (not checked).
    pub fn integrity_problems(&self) -> Result<Option<Vec<String>>> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        let rows = self.fetch_all("PRAGMA integrity_check", &[])?;
        let mut problems: Vec<String> = self.db(rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>())?;
        problems.retain(|p| p != "ok");
        for r in self.fetch_all("PRAGMA foreign_key_check", &[])? {
            let table: String = self.db(r.try_get(0))?;
            let row: Option<i64> = self.db(r.try_get(1))?;
            let parent: String = self.db(r.try_get(2))?;
            problems.push(format!(
                "row {} of `{table}` refers to a missing row of `{parent}`",
                row.map_or("?".into(), |r| r.to_string())
            ));
        }
        Ok(Some(problems))
    }

    // ---- queries -----------------------------------------------------------------------

    /// One run.
    pub fn run(&self, id: i64) -> Result<RunRecord> {
        self.query_runs("SELECT * FROM runs WHERE id = $1", &[Bind::Int(id)])?
            .pop()
            .ok_or(TrackingError::NoSuchRun(id))
    }

    /// Every run, oldest first; with `sweep`, the runs that stand for that sweep's cells or
    /// were launched by it.
    pub fn runs(&self, sweep: Option<i64>) -> Result<Vec<RunRecord>> {
        match sweep {
            Some(id) => {
                self.sweep(id)?;
                self.query_runs(
                    "SELECT * FROM runs WHERE sweep_id = $1 OR (rerun_of IS NULL AND config_hash IN
                       (SELECT config_hash FROM sweep_cells WHERE sweep_id = $1))
                     ORDER BY id",
                    &[Bind::Int(id)],
                )
            }
            None => self.query_runs("SELECT * FROM runs ORDER BY id", &[]),
        }
    }

    /// The id, status and end of every run [`Store::runs`] lists for `sweep`, in the same
    /// order, without the rest of each row (a run's config and git diff can be tens of KB):
    /// what tells whether anything of the sweep has changed.
    pub fn run_states(&self, sweep: i64) -> Result<Vec<(i64, Status, Option<i64>)>> {
        self.sweep(sweep)?;
        let rows = self.fetch_all(
            "SELECT id, status, ended_at FROM runs WHERE sweep_id = $1 OR (rerun_of IS NULL
               AND config_hash IN (SELECT config_hash FROM sweep_cells WHERE sweep_id = $1))
             ORDER BY id",
            &[Bind::Int(sweep)],
        )?;
        rows.iter()
            .map(|row| {
                let (id, status, ended): (i64, String, Option<i64>) =
                    self.db((|| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))())?;
                let status = status.parse().map_err(TrackingError::Corrupt)?;
                Ok((id, status, ended))
            })
            .collect()
    }

    /// A run's per-epoch values, by epoch, split and key.
    pub fn epoch_metrics(&self, id: i64) -> Result<Vec<EpochMetric>> {
        let rows = self.fetch_all(
            "SELECT epoch, split, key, value, is_nan FROM epoch_metrics WHERE run_id = $1
             ORDER BY epoch, split, key",
            &[Bind::Int(id)],
        )?;
        self.db(rows
            .iter()
            .map(|r| {
                Ok(EpochMetric {
                    epoch: r.try_get(0)?,
                    split: r.try_get(1)?,
                    key: r.try_get(2)?,
                    value: nan_join(r.try_get(3)?, r.try_get(4)?),
                })
            })
            .collect())
    }

    /// A run's final figures: macro first, then per tag, each by split and key.
    pub fn run_metrics(&self, id: i64) -> Result<Vec<FinalMetric>> {
        let rows = self.fetch_all(
            "SELECT split, key, tag, value, is_nan, ci_low, ci_high FROM run_metrics
             WHERE run_id = $1 ORDER BY split, tag IS NOT NULL, tag, key",
            &[Bind::Int(id)],
        )?;
        self.db(rows
            .iter()
            .map(|r| {
                let low: Option<f64> = r.try_get(5)?;
                let high: Option<f64> = r.try_get(6)?;
                Ok(FinalMetric {
                    split: r.try_get(0)?,
                    key: r.try_get(1)?,
                    tag: r.try_get(2)?,
                    value: nan_join(r.try_get(3)?, r.try_get(4)?),
                    ci: low.zip(high),
                })
            })
            .collect())
    }

    /// A run's files.
    pub fn artifacts(&self, id: i64) -> Result<Vec<Artifact>> {
        let rows = self.fetch_all(
            "SELECT name, path, sha256, size FROM artifacts WHERE run_id = $1 ORDER BY name",
            &[Bind::Int(id)],
        )?;
        self.db(rows
            .iter()
            .map(|r| {
                Ok(Artifact {
                    name: r.try_get(0)?,
                    path: r.try_get(1)?,
                    sha256: r.try_get(2)?,
                    size: r.try_get(3)?,
                })
            })
            .collect())
    }

    pub(crate) fn query_runs(&self, sql: &'static str, binds: &[Bind]) -> Result<Vec<RunRecord>> {
        self.query_runs_built(sql.to_string(), binds)
    }

    pub(crate) fn query_runs_built(&self, sql: String, binds: &[Bind]) -> Result<Vec<RunRecord>> {
        let rows = self.fetch_built(sql, binds)?;
        rows.iter()
            .map(|r| self.db(run_record(r)).and_then(|r| r))
            .collect()
    }
}

/// Per connection: wait (not fail) on a busy database, WAL so readers never block the writer,
/// synchronous=FULL so a committed result survives anything short of losing the disk.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 30000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
];

/// A sweep's identity: the sha256 of its spec text.
fn spec_sha256(spec_toml: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(spec_toml.as_bytes()))
}

/// `url` with the password of its user-info part (`user:PASSWORD@`) replaced by `***`, for
/// error messages and the URL shown to users.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The runtime a store blocks on: one worker is all the pool needs.
fn store_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| TrackingError::Runtime(e.to_string()))
}

/// What every connection of a read-only store runs first.
async fn apply_read_only_settings(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
) -> std::result::Result<(), sqlx::Error> {
    let settings: &[&str] = match dialect {
        Dialect::Sqlite => &["PRAGMA busy_timeout = 30000", "PRAGMA query_only = ON"],
        Dialect::Postgres => &["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"],
    };
    for setting in settings {
        sqlx::query(*setting).execute(&mut *conn).await?;
    }
    Ok(())
}

/// What every SQLite connection runs first (`SQLITE_PRAGMAS`).
async fn apply_sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
) -> std::result::Result<(), sqlx::Error> {
    for pragma in SQLITE_PRAGMAS {
        sqlx::query(*pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Open one connection and check the file before the pool does: the pool retries a
/// connection that fails (a truncated or overwritten file) until its acquire timeout, two
/// minutes of repeated errors that end in "pool timed out" and hide the cause.
async fn check_sqlite_file(url: &str) -> std::result::Result<(), String> {
    let check = async {
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        apply_sqlite_pragmas(&mut conn).await?;
        let verdict: String = sqlx::query("PRAGMA quick_check(1)")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        conn.close().await?;
        Ok::<_, sqlx::Error>(verdict)
    };
    match check.await {
        Ok(verdict) if verdict == "ok" => Ok(()),
        Ok(verdict) => Err(verdict),
        Err(e) => Err(e.to_string()),
    }
}

fn sqlite_url(path: &Path) -> String {
    sqlite_url_with(path, "rwc")
}

/// The sqlx URL of a SQLite file opened in `mode` (`rwc`: read, write, create; `ro`).
fn sqlite_url_with(path: &Path, mode: &str) -> String {
    let mut encoded = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => encoded.push_str(&format!("%{:02X}", c as u32)),
            c => encoded.push(c),
        }
    }
    format!("sqlite://{encoded}?mode={mode}")
}

/// Create the database file if needed and hold an exclusive lock on it while migrating, so
/// two processes opening a new store do not both apply the first migration.
fn lock_file(path: &Path) -> Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| io_error(parent, format!("cannot create the directory: {e}")))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_error(path, format!("cannot open the store: {e}")))?;
    file.lock()
        .map_err(|e| io_error(path, format!("cannot lock the store for migration: {e}")))?;
    Ok(file)
}

/// A store file that fails its check at open. An I/O error there is what a `-wal` deleted
/// under another live process gives, which is not damage to the file itself.
fn damaged(path: &Path, reason: String) -> TrackingError {
    if reason.contains("disk I/O error") {
        TrackingError::Unreadable {
            path: path.to_path_buf(),
            reason,
        }
    } else {
        TrackingError::Damaged {
            path: path.to_path_buf(),
            reason,
        }
    }
}

fn io_error(path: &Path, message: String) -> TrackingError {
    TrackingError::Io {
        path: path.to_path_buf(),
        message,
    }
}

/// SQLite turns NaN into NULL: store NaN as (NULL, 1).
fn nan_split(value: f64) -> (Option<f64>, i64) {
    if value.is_nan() {
        (None, 1)
    } else {
        (Some(value), 0)
    }
}

pub(crate) fn nan_join(value: Option<f64>, is_nan: i64) -> f64 {
    match value {
        Some(v) if is_nan == 0 => v,
        _ => f64::NAN,
    }
}

/// A bind value for the read queries built at run time.
#[derive(Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

impl Bind {
    pub(crate) fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.clone()),
        }
    }
}

fn holder_is_alive(
    row: &AnyRow,
    here: &str,
    stale_ms: i64,
) -> std::result::Result<bool, sqlx::Error> {
    let host: String = row.try_get(2)?;
    if host == here {
        let pid: i64 = row.try_get(3)?;
        let start: i64 = row.try_get(4)?;
        Ok(ProcessId {
            pid: pid as u32,
            start: start as u64,
        }
        .is_alive())
    } else {
        let heartbeat: i64 = row.try_get(5)?;
        Ok(now_ms() - heartbeat <= stale_ms)
    }
}

async fn mark_dead(tx: &mut sqlx::AnyConnection, id: i64) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE runs SET status = 'KILLED', ended_at = $1,
                error = 'its process is gone (killed, crashed or lost its host)'
         WHERE id = $2 AND status IN ('QUEUED', 'RUNNING')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_run(
    tx: &mut sqlx::AnyConnection,
    run: &NewRun,
) -> std::result::Result<i64, sqlx::Error> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO runs (uuid, sweep_id, cell, rerun_of, config_json, config_hash, model,
                           train_size, backend, seed, status, created_at, heartbeat_at, pid,
                           pid_start, host, cpu, gpu, threads, git_commit, git_dirty, git_diff,
                           cargo_lock_sha256, rustc_version, cargo_features, binary_sha256,
                           scheduler_job, simd, libraries)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'QUEUED', $11, $11, $12, $13, $14, $15,
                 $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
         RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(run.cell.map(|c| c.0))
    .bind(run.cell.map(|c| c.1))
    .bind(run.rerun_of)
    .bind(&run.config_json)
    .bind(&run.config_hash)
    .bind(&run.axes.model)
    .bind(run.axes.train_size)
    .bind(&run.axes.backend)
    .bind(run.axes.seed)
    .bind(now)
    .bind(i64::from(run.process.pid))
    .bind(run.process.start as i64)
    .bind(&run.host.name)
    .bind(&run.host.cpu)
    .bind(&run.host.gpu)
    .bind(run.threads)
    .bind(&run.code.git_commit)
    .bind(i64::from(run.code.git_dirty))
    .bind(&run.code.git_diff)
    .bind(&run.code.cargo_lock_sha256)
    .bind(&run.code.rustc_version)
    .bind(&run.code.cargo_features)
    .bind(&run.code.binary_sha256)
    .bind(run.scheduler_job.as_deref())
    .bind(&run.host.simd)
    .bind(&run.host.libraries)
    .fetch_one(&mut *tx)
    .await?;
    row.try_get(0)
}

fn run_record(r: &AnyRow) -> std::result::Result<Result<RunRecord>, sqlx::Error> {
    let status: String = r.try_get("status")?;
    let status = match status.parse::<Status>() {
        Ok(s) => s,
        Err(e) => return Ok(Err(TrackingError::Corrupt(e))),
    };
    Ok(Ok(RunRecord {
        id: r.try_get("id")?,
        uuid: r.try_get("uuid")?,
        sweep: r.try_get("sweep_id")?,
        cell: r.try_get("cell")?,
        rerun_of: r.try_get("rerun_of")?,
        config_json: r.try_get("config_json")?,
        config_hash: r.try_get("config_hash")?,
        axes: RunAxes {
            model: r.try_get("model")?,
            train_size: r.try_get("train_size")?,
            backend: r.try_get("backend")?,
            seed: r.try_get("seed")?,
        },
        status,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        error: r.try_get("error")?,
        pid: r.try_get("pid")?,
        host: Host {
            name: r.try_get("host")?,
            cpu: r.try_get("cpu")?,
            gpu: r.try_get("gpu")?,
            simd: r.try_get("simd")?,
            libraries: r.try_get("libraries")?,
        },
        threads: r.try_get("threads")?,
        code: CodeVersion {
            git_commit: r.try_get("git_commit")?,
            git_dirty: r.try_get::<i64, _>("git_dirty")? != 0,
            git_diff: r.try_get("git_diff")?,
            cargo_lock_sha256: r.try_get("cargo_lock_sha256")?,
            rustc_version: r.try_get("rustc_version")?,
            cargo_features: r.try_get("cargo_features")?,
            binary_sha256: r.try_get("binary_sha256")?,
        },
        dataset_hash: r.try_get("dataset_hash")?,
        subset_hash: r.try_get("subset_hash")?,
        artifact_dir: r.try_get("artifact_dir")?,
        scheduler_job: r.try_get("scheduler_job")?,
    }))
}
