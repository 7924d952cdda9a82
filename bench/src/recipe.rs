//! Recipe parity (the bench's `recipe` row): one deep cell trained by this project, and its
//! data exported for the independent PyTorch implementation in `reference/recipe_torch.py`.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use audio_features::npy;
use runner::dataset::RunData;
use runner::train::{Observer, train};
use runner::{Grid, ModelKind, RunConfig};
use tracking::keys::training as summary_key;

pub fn run(
    grid: &Path,
    model: ModelKind,
    train_size: usize,
    seed: u64,
    data_dir: &Path,
    work: &Path,
) -> Result<()> {
    let grid = Grid::load(grid)?;
    let cell = grid
        .cells()?
        .into_iter()
        .find(|c| c.model == model && c.train_size == train_size)
        .with_context(|| {
            format!(
                "the grid has no {} cell of {train_size} tracks",
                model.as_str()
            )
        })?;
    let mut config = grid.resolve(&cell);
    config.seed = seed;
    if config.deep().is_none() {
        bail!("recipe parity compares deep models, not GBT");
    }
    let data = RunData::prepare(&config, work)?;
    export(&config, &data, data_dir)?;
    let out = tempfile_dir(work, seed)?;
    let mut timer = StepTimer::default();
    let start = Instant::now();
    let trained = train(&config, &data, &out, &mut timer)?;
    let test = runner::evaluate::figures(&data, &data.test, &trained.test_predictions, 0, 0)?;
    let value = |m: Option<f64>| m.map_or(serde_json::Value::Null, serde_json::Value::from);
    let figures: Vec<(&str, f64)> = test.macro_values().collect();
    let figure = |key: &str| value(figures.iter().find(|(k, _)| *k == key).map(|(_, v)| *v));
    println!(
        "{}",
        serde_json::json!({
            "bench": "recipe",
            "library": "tagscale (flex)",
            "seed": seed,
            "steps": value(trained.summary_value(summary_key::STEPS)),
            "best_evaluation": value(trained.summary_value(summary_key::BEST_EVALUATION)),
            "stopped_early": trained
                .summary_value(summary_key::STOPPED_EARLY)
                .is_some_and(|v| v > 0.5),
            "seconds_per_step": timer.seconds_per_step(),
            "seconds": start.elapsed().as_secs_f64(),
            "test_roc_auc": figure("roc_auc"),
            "test_pr_auc": figure("pr_auc"),
            "test_rmse": figure("rmse"),
        })
    );
    Ok(())
}

fn tempfile_dir(work: &Path, seed: u64) -> Result<std::path::PathBuf> {
    let dir = work.join(format!("recipe-run-{seed}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The three splits as the model sees them (normalised log-mels or waveforms, whole tracks,
/// concatenated with their row counts), their labels, and the recipe in `meta.json`.
fn export(config: &RunConfig, data: &RunData, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let inputs = runner::train::model_inputs(config, data)?;
    for (name, tracks) in [
        ("train", &data.train),
        ("valid", &data.valid),
        ("test", &data.test),
    ] {
        let mut flat = Vec::new();
        let mut rows = Vec::new();
        for &track in tracks.iter() {
            let x = inputs.input(track)?;
            rows.push((x.len() / inputs.width) as f32);
            flat.extend(x);
        }
        npy::write_f32(&dir.join(format!("{name}_x.npy")), &[flat.len()], &flat)?;
        npy::write_f32(&dir.join(format!("{name}_rows.npy")), &[rows.len()], &rows)?;
        let labels = data.labels(tracks);
        npy::write_f32(
            &dir.join(format!("{name}_y.npy")),
            &[tracks.len(), data.n_tags()],
            &labels,
        )?;
    }
    let deep = config
        .deep()
        .context("recipe parity compares deep models")?;
    let (plan, widths, features) = (deep.train, deep.widths, deep.features);
    let meta = serde_json::json!({
        "architecture": config.model.as_str(),
        "width": inputs.width,
        "patch_len": inputs.geometry.patch_len,
        "hop_len": inputs.geometry.hop_len,
        "n_mels": features.n_mels,
        "nf": widths.nf,
        "backend_width": widths.backend_width,
        "dense_units": widths.dense_units,
        "dropout": widths.dropout,
        "batch_size": plan.batch_size,
        "lr": plan.lr,
        "max_steps": plan.max_steps,
        "eval_every": plan.eval_every,
        "patience": plan.patience,
        "bn_patches": plan.bn_patches,
        "kinds": data.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    Ok(())
}

/// Seconds per training step, leaving out the steps that followed an evaluation.
#[derive(Default)]
struct StepTimer {
    last: Option<Instant>,
    total: f64,
    steps: usize,
    /// The bench is never interrupted.
    never: AtomicBool,
}

impl StepTimer {
    fn seconds_per_step(&self) -> f64 {
        self.total / self.steps.max(1) as f64
    }
}

impl Observer for StepTimer {
    fn evaluation(&mut self, _: usize, _: &[(&str, &str, f64)]) -> runner::Result<()> {
        self.last = None;
        Ok(())
    }

    fn step(&mut self, _step: usize, _max_steps: usize) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.total += (now - last).as_secs_f64();
            self.steps += 1;
        }
        self.last = Some(now);
    }

    fn stop_signal(&self) -> &AtomicBool {
        &self.never
    }
}
