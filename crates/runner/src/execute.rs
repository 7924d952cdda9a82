//! Executing runs against the store: claim a grid cell (or record a rerun), train it with a
//! heartbeat beside it, and record everything it produced — or why it failed or was killed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, mpsc};

use datasets::split::derive_seed;
use metrics::table::TableWriter;
use sha2::{Digest, Sha256};
use tracking::keys::{artifact, split};
use tracking::{Artifact, CellSpec, Claim, FinalMetric, Host, NewRun, ProcessId, Status, Store};

use crate::config::RunConfig;
use crate::dataset::RunData;
use crate::env::Env;
use crate::error::{Result, RunnerError};
use crate::evaluate::figures;
use crate::grid::Grid;
use crate::progress::RunProgress;
use crate::train::{Observer, train};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub id: i64,
    pub status: Status,
    pub error: Option<String>,
}

/// What `run --cell` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CellOutcome {
    Ran(RunOutcome),
    /// Nothing to do: the claim said why.
    Skipped(Claim),
}

/// A grid, read once, with its text (the sweep's identity) and path.
pub struct GridFile {
    pub grid: Grid,
    pub text: String,
    pub path: PathBuf,
}

impl GridFile {
    pub fn load(path: &Path) -> Result<Self> {
        let (grid, text) = Grid::load_with_text(path)?;
        Ok(Self {
            grid,
            text,
            path: path.to_path_buf(),
        })
    }

    /// The resolved configs of every cell, in cell order.
    pub fn configs(&self) -> Result<Vec<RunConfig>> {
        let cells = self.grid.cells().map_err(|e| RunnerError::Grid {
            path: self.path.clone(),
            message: format!("`grid.backend`: {e}"),
        })?;
        Ok(cells.iter().map(|c| self.grid.resolve(c)).collect())
    }

    /// Record the grid and its cells in the store; returns the sweep id.
    pub fn freeze(&self, store: &Store) -> Result<i64> {
        let cells: Vec<CellSpec> = self
            .configs()?
            .iter()
            .enumerate()
            .map(|(i, c)| CellSpec {
                index: i as i64,
                config_json: c.to_json(),
                config_hash: c.hash(),
            })
            .collect();
        let path = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Ok(store.freeze_sweep(
            &self.grid.experiment.name,
            &self.grid.experiment.description,
            &self.text,
            &path.to_string_lossy(),
            &cells,
        )?)
    }
}

/// A new run row for `config`.
pub fn new_run(
    config: &RunConfig,
    env: &Env,
    cell: Option<(i64, i64)>,
    rerun_of: Option<i64>,
) -> NewRun {
    NewRun {
        cell,
        rerun_of,
        config_json: config.to_json(),
        config_hash: config.hash(),
        axes: config.axes(),
        threads: env.threads as i64,
        code: env.code.clone(),
        host: Host::current(),
        process: ProcessId::current(),
        scheduler_job: env.scheduler_job.clone(),
    }
}

/// `tagscale run GRID --cell K`: freeze the grid, claim cell K, run it unless it is finished,
/// held by a live process, or failed (without `retry_failed`).
pub fn run_cell(
    store: &Store,
    env: &Env,
    grid: &GridFile,
    cell: usize,
    retry_failed: bool,
    interrupt: &AtomicBool,
    progress: &dyn RunProgress,
) -> Result<CellOutcome> {
    let configs = grid.configs()?;
    let config = configs.get(cell).ok_or(RunnerError::NoSuchCell {
        requested: cell,
        cells: configs.len(),
    })?;
    let sweep = grid.freeze(store)?;
    let run = new_run(config, env, Some((sweep, cell as i64)), None);
    match store.claim(&run, retry_failed)? {
        Claim::Claimed(id) => Ok(CellOutcome::Ran(execute(
            store, env, id, config, interrupt, progress,
        )?)),
        other => Ok(CellOutcome::Skipped(other)),
    }
}

/// Train the recorded run `id` (QUEUED) with `config` and record how it ended. Training
/// failures are recorded (FAILED, or KILLED for a signal) and returned as the outcome; only
/// store failures are errors here.
pub fn execute(
    store: &Store,
    env: &Env,
    id: i64,
    config: &RunConfig,
    interrupt: &AtomicBool,
    progress: &dyn RunProgress,
) -> Result<RunOutcome> {
    let dir = env.runs_root.join(id.to_string());
    let uuid = store.run(id)?.uuid;
    let result = fs::create_dir_all(&dir)
        .map_err(|e| RunnerError::io(&dir, "cannot create the run directory", e))
        .and_then(|()| claim_directory(&dir, &uuid))
        .and_then(|()| RunLog::create(&dir.join(artifact::LOG_FILE)))
        .and_then(|log| {
            let outcome = train_and_record(store, env, id, config, &dir, &log, interrupt, progress);
            if let Err(e) = &outcome {
                log.line(&format!("run {id} ended: {}", e.with_causes()));
            }
            outcome
        });
    let (status, error) = match result {
        Ok(()) => return Ok(finished(id)),
        Err(RunnerError::Store(e)) => return Err(RunnerError::Store(e)),
        Err(RunnerError::Interrupted) => (Status::Killed, RunnerError::Interrupted.to_string()),
        Err(e) => (Status::Failed, e.with_causes()),
    };
    store.end(id, status, &error)?;
    Ok(RunOutcome {
        id,
        status,
        error: Some(error),
    })
}

/// Make `dir` this run's (`uuid`) or refuse it: run directories are named by run id, so a
/// store sharing its runs root with another would otherwise overwrite the other's finished
/// artifacts. A run executed again under its own id (after a kill) finds its own uuid there;
/// a directory from before owners were recorded is taken over, as it always was.
fn claim_directory(dir: &Path, uuid: &str) -> Result<()> {
    let owner = dir.join(artifact::OWNER_FILE);
    match fs::read_to_string(&owner) {
        Ok(holder) if holder.trim() == uuid => Ok(()),
        Ok(holder) => Err(RunnerError::Io {
            path: dir.to_path_buf(),
            message: format!(
                "holds the artifacts of run {}, not of this run ({uuid}): another store shares \
                 this runs root; give each store its own (TAGSCALE_RUNS)",
                holder.trim()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::write(&owner, uuid)
            .map_err(|e| RunnerError::io(&owner, "cannot record the run directory's owner", e)),
        Err(e) => Err(RunnerError::io(
            &owner,
            "cannot read the run directory's owner",
            e,
        )),
    }
}

fn finished(id: i64) -> RunOutcome {
    RunOutcome {
        id,
        status: Status::Finished,
        error: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn train_and_record(
    store: &Store,
    env: &Env,
    id: i64,
    config: &RunConfig,
    dir: &Path,
    log: &RunLog,
    interrupt: &AtomicBool,
    progress: &dyn RunProgress,
) -> Result<()> {
    log.line(&format!(
        "run {id}: {} n={} backend={} seed={} threads={}",
        config.model.as_str(),
        config.train_size,
        config.backend_name(),
        config.seed,
        env.threads
    ));
    let data = RunData::prepare_until(config, &env.data_root, interrupt)?;
    store.start(
        id,
        &data.manifest.content_hash(),
        &data.subset.hash,
        &dir.to_string_lossy(),
    )?;
    log.line(&format!(
        "dataset {} ({} train / {} valid / {} test tracks)",
        data.manifest.name,
        data.train.len(),
        data.valid.len(),
        data.test.len()
    ));
    let trained = with_heartbeat(store, id, || {
        in_pool(env.threads, || {
            let mut observer = StoreObserver {
                store,
                id,
                log,
                interrupt,
                progress,
            };
            train(config, &data, dir, &mut observer)
        })
    })?;
    let test = figures(
        &data,
        &data.test,
        &trained.test_predictions,
        config.eval.bootstrap,
        derive_seed(config.seed, "bootstrap", 0),
    )?;
    let predictions = dir.join("predictions_test.csv");
    write_test_table(&predictions, &data, &trained.test_predictions)?;
    let labels = dir.join("labels_test.csv");
    write_test_table(&labels, &data, &data.labels(&data.test))?;
    let tags = dir.join("tags.json");
    write_tags(&tags, &data)?;
    if let Some(stop) = trained.stop {
        log.line(&format!("training stopped: {stop}"));
    }
    let prior = data.label_prior_predictions(&data.test);
    let prior = figures(&data, &data.test, &prior, 0, 0)?;
    let mut metrics = test.to_metrics(split::TEST);
    metrics.extend(
        prior
            .to_metrics(split::TEST_PRIOR)
            .into_iter()
            .filter(|m| m.tag.is_none()),
    );
    metrics.extend(
        trained
            .summary
            .iter()
            .map(|(split, key, value)| FinalMetric {
                split: split.clone(),
                key: key.clone(),
                tag: None,
                value: *value,
                ci: None,
            }),
    );
    let mut files = trained.files.clone();
    files.push((artifact::PREDICTIONS_TEST.into(), predictions));
    files.push((artifact::LABELS_TEST.into(), labels));
    files.push((artifact::TAGS.into(), tags));
    files.push((artifact::LOG.into(), dir.join(artifact::LOG_FILE)));
    log.line(&format!(
        "test: {}",
        test.macro_values()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let artifacts = files
        .iter()
        .map(|(name, path)| recorded_artifact(name, path))
        .collect::<Result<Vec<_>>>()?;
    store.finish(id, &metrics, &artifacts)?;
    Ok(())
}

/// Run `body` while a thread refreshes the run's heartbeat.
fn with_heartbeat<T>(store: &Store, id: i64, body: impl FnOnce() -> Result<T>) -> Result<T> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(tracking::HEARTBEAT_EVERY)
            {
                if let Err(e) = store.heartbeat(id) {
                    tracing::warn!("run {id}: heartbeat failed: {e}");
                }
            }
        });
        let result = body();
        drop(stop);
        result
    })
}

/// Run `body` on a rayon pool of `threads` (Burn's flex kernels and the GBT use the current
/// pool), turning a panic into an error so the run is recorded as FAILED.
fn in_pool<T: Send>(threads: usize, body: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| RunnerError::Data(format!("cannot start {threads} threads: {e}")))?;
    pool.install(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(RunnerError::Panic(message))
        })
    })
}

struct StoreObserver<'a> {
    store: &'a Store,
    id: i64,
    log: &'a RunLog,
    interrupt: &'a AtomicBool,
    progress: &'a dyn RunProgress,
}

impl Observer for StoreObserver<'_> {
    fn evaluation(&mut self, evaluation: usize, values: &[(&str, &str, f64)]) -> Result<()> {
        self.store.log_epoch(self.id, evaluation as i64, values)?;
        let shown = values
            .iter()
            .map(|(split, key, v)| format!("{split}/{key} {v:.4}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.log
            .line(&format!("evaluation {}: {shown}", evaluation + 1));
        Ok(())
    }

    fn step(&mut self, step: usize, max_steps: usize) {
        self.progress.step(self.id, step, max_steps);
    }

    fn stop_signal(&self) -> &AtomicBool {
        self.interrupt
    }
}

/// The run's own log file, beside its artifacts (lines also go to `tracing`).
struct RunLog {
    file: Mutex<fs::File>,
}

impl RunLog {
    fn create(path: &Path) -> Result<Self> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| RunnerError::io(path, "cannot open the run log", e))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    fn line(&self, message: &str) {
        tracing::info!("{message}");
        if let Ok(mut file) = self.file.lock() {
            // A failing log write must not fail the run; the store has the results.
            let _ = writeln!(
                file,
                "{} {message}",
                tracking::format_time(tracking::now_ms())
            );
        }
    }
}

/// `track,<tag>...` rows of `values` (`[test tracks, tags]`): the test predictions, or labels.
fn write_test_table(path: &Path, data: &RunData, values: &[f32]) -> Result<()> {
    let err = |e: std::io::Error| RunnerError::io(path, "cannot write", e);
    let file = fs::File::create(path).map_err(err)?;
    let mut table = TableWriter::new(file, &data.tag_names).map_err(err)?;
    let rows = values.chunks_exact(data.n_tags());
    for (id, row) in data.ids(&data.test).iter().zip(rows) {
        table.row(id, row.iter().copied()).map_err(err)?;
    }
    table.finish().map_err(err)?;
    Ok(())
}

/// The tag schema (names and kinds, in output order): what `tagscale tag` labels outputs with.
fn write_tags(path: &Path, data: &RunData) -> Result<()> {
    let tags: Vec<serde_json::Value> = data
        .tag_names
        .iter()
        .zip(&data.kinds)
        .map(|(name, kind)| serde_json::json!({"name": name, "kind": kind.as_str()}))
        .collect();
    let text = serde_json::to_string_pretty(&tags)
        .map_err(|e| RunnerError::io(path, "cannot encode the tags", e))?;
    fs::write(path, text).map_err(|e| RunnerError::io(path, "cannot write", e))
}

/// A file with its sha256 and size.
fn recorded_artifact(name: &str, path: &Path) -> Result<Artifact> {
    let bytes = fs::read(path).map_err(|e| RunnerError::io(path, "cannot read artifact", e))?;
    Ok(Artifact {
        name: name.into(),
        path: path.to_string_lossy().into_owned(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as i64,
    })
}
