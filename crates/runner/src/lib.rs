//! # runner — grids, training, sweeps, reruns
//!
//! Turns a grid file into tracked runs (SPEC §6, §9):
//! - [`grid`]: the typed, validated grid TOML and its expansion into cells;
//! - [`config`]: the fully resolved config of one run (what the store records and hashes);
//! - [`dataset`]: the run's manifest, feature cache, training subset, validation and test sets;
//! - [`train`]: the training loop (deep models with early stopping; GBT per tag);
//! - [`loader`]: inputs read and cropped one step ahead on a loader thread;
//! - [`evaluate`]: per-tag and macro figures with bootstrap intervals;
//! - [`execute`]: claim a cell, train it with a heartbeat, record results or the failure;
//! - [`progress`]: the traits through which training, caches and sweeps report progress
//!   (the library draws nothing);
//! - [`plan`]: which cells of a sweep still need running (the claim's rule);
//! - [`command`]: the `tagscale run GRID --cell K` command workers and Slurm tasks run;
//! - [`mod@env`]: where things live (`TAGSCALE_*`) and how much of the machine a run may use;
//! - [`sweep`]: freeze a grid and hand its unfinished cells to an [`sweep::Executor`]:
//! - [`local`]: worker processes on this machine, surviving crashes and sharing the work with
//!   concurrent sweeps;
//! - [`slurm`]: a Slurm job array, one task per cell still to run;
//! - [`rerun`]: re-execute a logged run from its stored config and verify the result;
//! - [`tagger`]: song-level tags of audio files and folders with a trained model;
//! - [`outputs`]: the score table and embedding files `tag` and `embed` write;
//! - [`export`]: a trained run as a self-contained model directory with a model card.

pub mod command;
pub mod config;
pub mod dataset;
pub mod env;
pub mod error;
pub mod evaluate;
pub mod execute;
pub mod export;
pub mod grid;
pub mod loader;
pub mod local;
pub mod outputs;
pub mod plan;
pub mod progress;
pub mod rerun;
pub mod slurm;
pub mod sweep;
pub mod tagger;
pub mod train;

pub use config::RunConfig;
pub use env::Env;
pub use error::{Result, RunnerError};
pub use execute::{CellOutcome, GridFile, RunOutcome};
pub use grid::{Cell, Grid, ModelKind};
