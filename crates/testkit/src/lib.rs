//! # testkit — real servers for the test tier
//!
//! The run store must work on PostgreSQL and sweeps must run under Slurm, and both are tested
//! against the real thing: [`Postgres`] starts a throwaway PostgreSQL server and [`Slurm`] a
//! single-node Slurm cluster, each once per test process, on loopback, in a temporary
//! directory, ending with the process. See the crate README for what each needs installed.

mod daemon;
mod postgres;
mod slurm;

pub use postgres::Postgres;
pub use slurm::Slurm;
