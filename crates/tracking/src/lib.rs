//! # tracking — Run store for tagscale
//!
//! The run store: sqlx with migrations, SQLite by default and PostgreSQL for teams; sweeps, cells, runs with their resolved configs, code version and host, per-epoch and final metrics, artifacts; atomic claim-or-skip of grid cells (SPEC §8).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
