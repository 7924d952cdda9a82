//! # runner — Experiment runner for tagscale
//!
//! Experiment grids from TOML, their expansion into cells, the training loop (early stopping, best checkpoint, determinism), local worker executors, sweeps that survive crashes, and rerun by ID (SPEC §6, §9).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
