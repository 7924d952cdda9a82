//! # testkit — real servers for the test tier
//!
//! The run store must work on PostgreSQL and sweeps must run under Slurm, and both are tested
//! against the real thing: [`Postgres`] starts a throwaway PostgreSQL server and [`Slurm`] a
//! single-node Slurm cluster, each once per test process, on loopback, in a temporary
//! directory, ending with the process; [`Browser`] drives Debian's headless Chromium over
//! WebDriver (chromedriver) for the dashboard's tests. See the crate README for what each needs installed.
//! Tests call [`available`] first, so that a machine without those packages skips them loudly
//! (and CI, which sets [`REQUIRE_SERVICES`], fails instead).

mod browser;
mod daemon;
mod postgres;
mod skip;
mod slurm;

pub use browser::Browser;
pub use postgres::Postgres;
pub use skip::{REQUIRE_SERVICES, Service, available};
pub use slurm::Slurm;
