//! # tracking — the run store
//!
//! Every run of tagscale is recorded here (SPEC §8): its fully resolved config and hash, its
//! status lifecycle (QUEUED -> RUNNING -> FINISHED / FAILED / KILLED), times and heartbeat, the
//! code version and host it ran on, the dataset and training-subset hashes, per-epoch metrics
//! (NaN kept as NaN), final per-tag and macro metrics with bootstrap intervals, and artifacts
//! with their sha256. Sweeps freeze a grid's cells; [`Store::claim`] is claim-or-skip in one
//! write transaction, so concurrent sweeps never run a cell twice.
//!
//! SQLite is the default (WAL, a 30 s busy timeout, `BEGIN IMMEDIATE` for writes, migrations
//! from `migrations/sqlite/` applied on open under a file lock). PostgreSQL (`postgres://…`)
//! is the store for several hosts: the same portable queries with `$N` placeholders through
//! sqlx's `Any` driver, its own migrations from `migrations/postgres/`, and claims serialised
//! by a table lock instead of SQLite's single writer. [`Store::record_submission`] keeps which
//! cells went to a batch scheduler as which job.
//!
//! ```no_run
//! let store = tracking::Store::open("tagscale.db")?;
//! for run in store.runs(None)? {
//!     println!("{} {} {}", run.id, run.status, run.axes.model);
//! }
//! # Ok::<(), tracking::TrackingError>(())
//! ```

pub mod browse;
pub mod check;
pub mod error;
pub mod host;
pub mod keys;
pub mod records;
pub mod store;

pub use browse::{GroupPage, RunFilter, RunOrder, RunPage, SeedGroup, SweepSummary};
pub use check::{StoreCheck, check};
pub use error::{Result, TrackingError};
pub use host::{Host, ProcessId};
pub use records::{
    Artifact, CellSpec, Claim, CodeVersion, EpochMetric, FinalMetric, NewRun, RunAxes, RunRecord,
    Status, StatusCounts, Submission, SweepRecord, format_time, now_ms,
};
pub use store::{HEARTBEAT_EVERY, Location, Store, redact_password};
