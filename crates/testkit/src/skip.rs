//! Whether this machine can run a service test, and a loud skip when it cannot.
//!
//! `cargo test --workspace` must pass on a machine with only the Rust toolchain, so a test
//! that needs PostgreSQL or Slurm asks [`available`] first: where the binaries are missing it
//! writes `SKIPPED <test>: …install Debian's X…` straight to the terminal (past libtest's
//! output capture) and the test returns. CI sets [`REQUIRE_SERVICES`], which turns any such
//! skip into a failure, so `.ci/run` can never skip them silently.

use std::io::Write;
use std::path::Path;

/// Set (to anything but `0`) by CI: a missing service fails the test instead of skipping it.
pub const REQUIRE_SERVICES: &str = "TAGSCALE_REQUIRE_SERVICES";

/// A system service a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Slurm,
    /// Headless Chromium driven over WebDriver.
    Browser,
}

impl Service {
    /// What is missing on this machine for the service, as an instruction, or `None`.
    pub fn missing(self) -> Option<String> {
        match self {
            Service::Postgres => {
                let initdb = crate::postgres::find_initdb().is_some();
                let account = !crate::daemon::is_root() || crate::daemon::has_account("postgres");
                (!(initdb && account))
                    .then(|| "needs a PostgreSQL server: apt-get install postgresql".to_string())
            }
            Service::Slurm => {
                let binaries = [
                    "/usr/sbin/munged",
                    "/usr/sbin/slurmctld",
                    "/usr/sbin/slurmd",
                ]
                .iter()
                .all(|p| Path::new(p).is_file());
                if !binaries {
                    Some("needs Slurm and munge: apt-get install slurm-wlm munge".into())
                } else if !crate::daemon::is_root() {
                    Some("needs root: slurmd starts each job as its submitting user".into())
                } else {
                    None
                }
            }
            Service::Browser => {
                let found = [crate::browser::CHROMIUM, crate::browser::CHROMEDRIVER]
                    .iter()
                    .all(|p| Path::new(p).is_file());
                (!found).then(|| {
                    "needs Chromium and ChromeDriver: apt-get install chromium chromium-driver"
                        .to_string()
                })
            }
        }
    }
}

/// Whether `test` can run against all of `services`. If not, says so loudly and returns
/// false — or panics when [`REQUIRE_SERVICES`] is set.
pub fn available(test: &str, services: &[Service]) -> bool {
    let missing: Vec<String> = services.iter().filter_map(|s| s.missing()).collect();
    if missing.is_empty() {
        return true;
    }
    let reason = missing.join("; ");
    let required = std::env::var(REQUIRE_SERVICES).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(!required, "{test}: {reason} ({REQUIRE_SERVICES} is set)");
    // Straight to the terminal: libtest captures only the print macros.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    false
}
