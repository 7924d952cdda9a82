//! # runner
//!
//! Experiment grids from TOML and, in time, the training loop, executors and rerun (SPEC §6,
//! §9). Today: [`grid`] — the typed, validated grid file and its expansion into cells — and
//! [`dataset`] — the grid's dataset as a manifest and its feature cache.

pub mod dataset;
pub mod error;
pub mod grid;

pub use error::{Result, RunnerError};
pub use grid::{Cell, Grid, ModelKind};
