//! Progress bars (indicatif) with ETA, hidden under `--quiet`: the binary's side of the
//! runner's progress traits.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use runner::RunConfig;
use runner::progress::{CacheProgress, RunProgress, SweepProgress};
use tracking::keys::{metric, split};
use tracking::{EpochMetric, RunRecord};

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar over `total` items labelled `what`; hidden when `quiet`.
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        style("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, ETA {eta})").progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A spinner whose message the caller sets; hidden when `quiet`.
fn spinner(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(style("{spinner} {msg} ({elapsed})"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// One run's training steps on a spinner (`run` / `rerun`).
pub struct RunSpinner(ProgressBar);

impl RunSpinner {
    pub fn new(quiet: bool) -> Self {
        Self(spinner(quiet))
    }
}

impl Drop for RunSpinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl RunProgress for RunSpinner {
    fn step(&self, run: i64, step: usize, max_steps: usize) {
        self.0
            .set_message(format!("run {run} step {step}/{max_steps}"));
    }
}

/// A feature cache being built, on a bar: all a Slurm submission shows (it builds the cache
/// before submitting; its cells run elsewhere).
pub struct CacheBar(ProgressBar);

impl CacheBar {
    pub fn new(quiet: bool) -> Self {
        Self(bar(0, "cache", quiet))
    }
}

impl CacheProgress for CacheBar {
    fn cache(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }

    fn cache_done(&self) {
        self.0.finish_and_clear();
    }
}

impl SweepProgress for CacheBar {}

/// A local sweep: a bar over cells, the cache while it is built, and a line per worker with
/// its run's newest evaluation.
pub struct SweepDisplay {
    multi: MultiProgress,
    cells: ProgressBar,
    cache: ProgressBar,
    workers: Mutex<BTreeMap<usize, ProgressBar>>,
}

impl SweepDisplay {
    pub fn new(cells: usize, quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let bar = multi.add(ProgressBar::new(cells as u64));
        bar.set_style(style(
            "{msg:>12} [{bar:30}] {pos}/{len} cells ({elapsed}, ETA {eta})",
        ));
        bar.set_message("sweep");
        let cache = multi.add(ProgressBar::no_length());
        cache.set_style(style("{msg:>12} [{bar:30}] {pos}/{len} tracks (ETA {eta})"));
        cache.set_message("cache");
        Self {
            multi,
            cells: bar,
            cache,
            workers: Mutex::new(BTreeMap::new()),
        }
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, ProgressBar>> {
        self.workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CacheProgress for SweepDisplay {
    fn cache(&self, done: u64, total: u64) {
        self.cache.set_length(total);
        self.cache.set_position(done);
    }

    fn cache_done(&self) {
        self.cache.finish_and_clear();
    }
}

impl SweepProgress for SweepDisplay {
    fn cells(&self, done: usize, _total: usize) {
        self.cells.set_position(done as u64);
    }

    fn worker_started(&self, cell: usize, config: &RunConfig) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(style("{spinner} {prefix} {msg}"));
        bar.set_prefix(format!(
            "cell {cell} {} n={} {} seed {}",
            config.model.as_str(),
            config.train_size,
            config.backend_name(),
            config.seed
        ));
        bar.enable_steady_tick(Duration::from_millis(200));
        self.workers().insert(cell, bar);
    }

    fn shows_workers(&self) -> bool {
        !self.cells.is_hidden()
    }

    fn worker_news(&self, cell: usize, run: &RunRecord, evaluations: &[EpochMetric]) {
        let message = match evaluations.last() {
            Some(last) => {
                let value = |key: &str| {
                    evaluations
                        .iter()
                        .rev()
                        .find(|m| m.epoch == last.epoch && m.split == split::VALID && m.key == key)
                        .map_or(String::new(), |m| format!(" valid {key} {:.3}", m.value))
                };
                format!(
                    "run {} epoch {}{}{}",
                    run.id,
                    last.epoch + 1,
                    value(metric::LOSS),
                    value(metric::ROC_AUC)
                )
            }
            None => format!("run {} {}", run.id, run.status),
        };
        if let Some(bar) = self.workers().get(&cell) {
            bar.set_message(message);
        }
    }

    fn worker_ended(&self, cell: usize) {
        if let Some(bar) = self.workers().remove(&cell) {
            bar.finish_and_clear();
        }
    }

    fn finished(&self) {
        self.cells.finish_and_clear();
    }
}
