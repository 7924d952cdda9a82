//! `tagscale rerun ID [--verify]`: re-execute a logged run from its stored config.

use anyhow::{Result, bail};
use clap::Args;
use runner::Env;
use runner::rerun::{self, Verdict};

use crate::args::parse_count;
use crate::{env, print, progress, store};

#[derive(Args)]
pub struct RerunArgs {
    /// The run's ID (`tagscale runs list`).
    id: i64,
    /// Compare every per-epoch and final metric with the original run.
    #[arg(long)]
    verify: bool,
    /// Largest absolute difference still counted as reproduced (WITHIN_TOLERANCE).
    #[arg(long, default_value_t = 1e-6, value_parser = parse_tolerance)]
    tolerance: f64,
    /// Training threads (default: as many as the original run used; flex results depend on it).
    #[arg(long, value_parser = parse_count)]
    threads: Option<usize>,
}

/// `--tolerance`: a finite, non-negative difference.
fn parse_tolerance(text: &str) -> std::result::Result<f64, String> {
    let t: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if !t.is_finite() || t < 0.0 {
        return Err(format!("{t} must be finite and at least 0"));
    }
    Ok(t)
}

pub fn run(args: RerunArgs, db: &str, quiet: bool) -> Result<()> {
    let store = store::open_existing(db)?;
    let probe = Env::from_process(db, env::code_version()?)?;
    let plan = rerun::plan(&store, &probe, args.id)?;
    for difference in &plan.code_differences {
        tracing::warn!("run {} was produced by other code ({difference})", args.id);
    }
    let other_host = plan.host_differences.join("; ");
    if !other_host.is_empty() {
        tracing::warn!(
            "run {} ran on another kind of host ({other_host}): floating-point sums may be \
             ordered differently, so --verify judges with --tolerance {} rather than expecting \
             bit-identical figures",
            args.id,
            args.tolerance
        );
    }
    let threads = args
        .threads
        .unwrap_or(plan.original.threads.max(1) as usize);
    let env = probe.with_threads(threads);
    let spinner = progress::RunSpinner::new(quiet);
    let outcome = rerun::rerun(&store, &env, &plan, env::interrupt_flag(), &spinner)?;
    drop(spinner);
    print::outcome(&store, &outcome)?;
    if !args.verify {
        return Ok(());
    }
    let verdict = rerun::verify(&store, args.id, outcome.id, args.tolerance)?;
    if other_host.is_empty() {
        println!("{verdict}");
    } else {
        let finals = rerun::largest_final_difference(&store, args.id, outcome.id)?;
        println!(
            "{verdict} (on another kind of host: {other_host}; the final metrics differ by \
             at most {finals:.3e})"
        );
    }
    if let Verdict::Diverged { .. } = verdict {
        bail!("run {} did not reproduce run {}", outcome.id, args.id);
    }
    Ok(())
}
