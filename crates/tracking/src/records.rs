//! What the store holds, as plain Rust values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::host::{Host, ProcessId};

/// A run's lifecycle: QUEUED -> RUNNING -> FINISHED / FAILED / KILLED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Queued,
    Running,
    Finished,
    Failed,
    Killed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Finished,
        Status::Failed,
        Status::Killed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "QUEUED" => Status::Queued,
            "RUNNING" => Status::Running,
            "FINISHED" => Status::Finished,
            "FAILED" => Status::Failed,
            "KILLED" => Status::Killed,
            other => return Err(format!("unknown run status `{other}`")),
        })
    }
}

/// The code a run was produced by.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CodeVersion {
    pub git_commit: String,
    pub git_dirty: bool,
    /// `git diff HEAD` of a dirty tree (empty when clean).
    pub git_diff: String,
    pub cargo_lock_sha256: String,
    pub rustc_version: String,
    /// Enabled cargo features of the binary, comma-separated.
    pub cargo_features: String,
    pub binary_sha256: String,
}

impl CodeVersion {
    /// The commit with a `-dirty` mark, for one-line displays.
    pub fn short(&self) -> String {
        let commit: String = self.git_commit.chars().take(12).collect();
        if self.git_dirty {
            format!("{commit}-dirty")
        } else {
            commit
        }
    }
}

/// Axes of a run, denormalised from its config so queries need not parse JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAxes {
    pub model: String,
    pub train_size: i64,
    /// [`RunAxes::NO_BACKEND`] for runs without a Burn backend (GBT).
    pub backend: String,
    pub seed: i64,
}

impl RunAxes {
    /// The backend axis of a run without a Burn backend (GBT).
    pub const NO_BACKEND: &'static str = "-";
}

/// A run about to be claimed or recorded.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Sweep id and cell index; `None` for a run outside any sweep.
    pub cell: Option<(i64, i64)>,
    pub rerun_of: Option<i64>,
    pub config_json: String,
    pub config_hash: String,
    pub axes: RunAxes,
    pub threads: i64,
    pub code: CodeVersion,
    pub host: Host,
    pub process: ProcessId,
    /// The scheduler job this process runs in (Slurm: `JOBID_TASKID`), if any.
    pub scheduler_job: Option<String>,
}

/// One row of `runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub uuid: String,
    pub sweep: Option<i64>,
    pub cell: Option<i64>,
    pub rerun_of: Option<i64>,
    pub config_json: String,
    pub config_hash: String,
    #[serde(flatten)]
    pub axes: RunAxes,
    pub status: Status,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub heartbeat_at: i64,
    pub error: Option<String>,
    pub pid: i64,
    pub host: Host,
    pub threads: i64,
    pub code: CodeVersion,
    pub dataset_hash: Option<String>,
    pub subset_hash: Option<String>,
    pub artifact_dir: Option<String>,
    pub scheduler_job: Option<String>,
}

impl RunRecord {
    /// Why the run has no results: `FAILED (run 7): the error`, `KILLED (run 3)`, or
    /// `RUNNING (run 5)`; `None` when it FINISHED.
    pub fn unfinished(&self) -> Option<String> {
        (self.status != Status::Finished).then(|| {
            let error = self
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(": {e}"));
            format!("{} (run {}){error}", self.status, self.id)
        })
    }
}

/// One value of one epoch (`split` is `train` or `valid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetric {
    pub epoch: i64,
    pub split: String,
    pub key: String,
    pub value: f64,
}

/// A final figure: per tag, or the macro figure (`tag = None`) with its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalMetric {
    pub split: String,
    pub key: String,
    pub tag: Option<String>,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
}

/// A file a run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub size: i64,
}

/// A frozen grid cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellSpec {
    pub index: i64,
    pub config_json: String,
    pub config_hash: String,
}

/// A frozen grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub id: i64,
    pub experiment: String,
    pub description: String,
    pub spec_toml: String,
    pub spec_sha256: String,
    pub grid_path: String,
    pub created_at: i64,
    pub cells: Vec<CellSpec>,
}

/// How many of a sweep's cells stand at each status (a cell's run, or none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub queued: usize,
    pub running: usize,
    pub finished: usize,
    pub failed: usize,
    pub killed: usize,
    pub not_run: usize,
}

impl StatusCounts {
    /// Count the runs standing for cells (`None`: the cell has no run).
    pub fn of<'a>(runs: impl IntoIterator<Item = Option<&'a RunRecord>>) -> Self {
        let mut counts = Self::default();
        for run in runs {
            counts.add(run.map(|r| r.status));
        }
        counts
    }

    /// Count one cell: its run's status, or `None` for a cell without a run.
    pub fn add(&mut self, status: Option<Status>) {
        match status {
            None => self.not_run += 1,
            Some(Status::Queued) => self.queued += 1,
            Some(Status::Running) => self.running += 1,
            Some(Status::Finished) => self.finished += 1,
            Some(Status::Failed) => self.failed += 1,
            Some(Status::Killed) => self.killed += 1,
        }
    }

    /// The count of one status.
    pub fn get(&self, status: Status) -> usize {
        match status {
            Status::Queued => self.queued,
            Status::Running => self.running,
            Status::Finished => self.finished,
            Status::Failed => self.failed,
            Status::Killed => self.killed,
        }
    }
}

/// Cells of a sweep handed to a batch scheduler as one job (a Slurm job array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: i64,
    pub sweep: i64,
    /// `slurm`.
    pub executor: String,
    pub job_id: String,
    /// The cells submitted, which are also the array's task ids.
    pub cells: Vec<i64>,
    /// The batch script as submitted.
    pub script: String,
    pub submitted_at: i64,
}

/// The outcome of trying to claim a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// A new QUEUED run of ours.
    Claimed(i64),
    /// Already FINISHED with the same config hash: nothing to do.
    Finished(i64),
    /// A live process holds it.
    Held(i64),
    /// Its last run FAILED and retrying was not asked for.
    Failed(i64),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `YYYY-MM-DD HH:MM:SS` UTC of a Unix-milliseconds time.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_795_522_994_000), "2026-11-24 12:23:14");
    }

    #[test]
    fn status_counts_count_each_cell_once() {
        let run = |status| RunRecord {
            id: 1,
            uuid: String::new(),
            sweep: None,
            cell: None,
            rerun_of: None,
            config_json: String::new(),
            config_hash: String::new(),
            axes: RunAxes {
                model: "gbt".into(),
                train_size: 1,
                backend: RunAxes::NO_BACKEND.into(),
                seed: 1,
            },
            status,
            created_at: 0,
            started_at: None,
            ended_at: None,
            heartbeat_at: 0,
            error: None,
            pid: 0,
            host: Host {
                name: String::new(),
                cpu: String::new(),
                gpu: String::new(),
                simd: String::new(),
                libraries: String::new(),
            },
            threads: 1,
            code: CodeVersion::default(),
            dataset_hash: None,
            subset_hash: None,
            artifact_dir: None,
            scheduler_job: None,
        };
        let runs = [
            run(Status::Finished),
            run(Status::Finished),
            run(Status::Killed),
        ];
        let counts = StatusCounts::of([Some(&runs[0]), None, Some(&runs[1]), Some(&runs[2])]);
        assert_eq!(counts.get(Status::Finished), 2);
        assert_eq!(counts.get(Status::Killed), 1);
        assert_eq!((counts.running, counts.queued, counts.failed), (0, 0, 0));
        assert_eq!(counts.not_run, 1);

        // Why a run has no results, as the sweep's summary and the report both say it.
        assert_eq!(runs[0].unfinished(), None);
        assert_eq!(runs[2].unfinished().as_deref(), Some("KILLED (run 1)"));
        let failed = RunRecord {
            error: Some("boom".into()),
            ..run(Status::Failed)
        };
        assert_eq!(failed.unfinished().as_deref(), Some("FAILED (run 1): boom"));
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("DONE".parse::<Status>().is_err());
    }
}
