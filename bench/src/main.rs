//! `tagscale-bench`: times one piece of tagscale and prints the figures as JSON on stdout.
//!
//! `bench/run.py` (= `just bench`) calls it next to the reference scripts in
//! `bench/reference/`, on the same inputs in the same run, and writes `bench/RESULTS.md`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use audio_features::{MelConfig, MelExtractor, npy};
use clap::{Parser, Subcommand};
use datasets::cache::FeatureConfig;
use datasets::synth::{self, SynthConfig};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

mod gradients;
mod recipe;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

/// A model's widths; the defaults are the paper's.
#[derive(clap::Args)]
struct Widths {
    #[arg(long, default_value_t = 16)]
    nf: usize,
    #[arg(long, default_value_t = 512)]
    backend_width: usize,
    #[arg(long, default_value_t = 500)]
    dense_units: usize,
    #[arg(long, default_value_t = 96)]
    n_mels: usize,
    /// Output tags (0: the synthetic corpus's, as the main job trains).
    #[arg(long, default_value_t = 50)]
    tags: usize,
}

impl Widths {
    /// The model these widths describe (the paper's dropout).
    fn config(&self, architecture: models::Architecture) -> models::ModelConfig {
        let tags = match self.tags {
            0 => synth::schema().len(),
            n => n,
        };
        models::ModelConfig {
            nf: self.nf,
            backend_width: self.backend_width,
            dense_units: self.dense_units,
            n_mels: self.n_mels,
            ..models::ModelConfig::paper(architecture, tags)
        }
    }
}

/// Input rows of a patch of `seconds` at the default log-mel settings (16 kHz, hop 256).
fn patch_len(architecture: models::Architecture, seconds: f64) -> usize {
    architecture.patch_len(seconds, &MelConfig::default())
}

#[derive(Subcommand)]
enum Bench {
    /// Log-mel (16 kHz, n_fft 512, hop 256, 96 mels, log10(1 + 10000 x)) of one clip.
    Logmel {
        /// float32 .npy clip at 16 kHz.
        #[arg(long)]
        clip: PathBuf,
        #[arg(long, default_value_t = 50)]
        repeats: usize,
    },
    /// Synthetic corpus generation to WAV files (tracks/s), all cores.
    Corpus {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 200)]
        tracks: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// One training step (forward, MSE, backward, Adam), at the paper's widths unless told.
    TrainStep {
        /// spectrogram or waveform
        #[arg(long)]
        model: models::Architecture,
        #[arg(long, default_value_t = 3.0)]
        patch_seconds: f64,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// flex, libtorch, ...
        #[arg(long, default_value = "flex")]
        backend: models::Backend,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[command(flatten)]
        widths: Widths,
        /// Threads of the step (0: the machine's).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// One batch's loss gradients, with the weights, input and targets, written as .npy files
    /// to OUT for `reference/gradients_torch.py` to recompute in float64 (dropout off).
    Gradients {
        /// spectrogram or waveform
        #[arg(long)]
        model: models::Architecture,
        #[arg(long, default_value_t = 3.2)]
        patch_seconds: f64,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[command(flatten)]
        widths: Widths,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// This machine's practical peak: GFLOP/s of a large f32 matmul (1024 x 1024) on flex.
    Peak {
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Per-tag GBT on the synthetic corpus's descriptors: fit time and test figures per tag;
    /// writes the descriptor matrices as .npy for the LightGBM reference.
    Gbt {
        /// Working directory (cache and .npy dumps).
        #[arg(long)]
        work: PathBuf,
        #[arg(long, default_value_t = 2000)]
        tracks: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Put the threads inside each tag's trees instead of across tags.
        #[arg(long)]
        tree_parallel: bool,
        /// Histogram bins per feature [default: baseline-gbt's default].
        #[arg(long)]
        bins: Option<u16>,
    },
    /// Run store overhead: time a real sweep of GRID with the `tagscale` binary, then replay
    /// all the store traffic of its runs (claims, starts, heartbeats, epochs, final metrics,
    /// artifacts) and the sweep's polling into a fresh store, timed on its own.
    StoreOverhead {
        /// The tagscale binary.
        #[arg(long)]
        tagscale: PathBuf,
        #[arg(long)]
        grid: PathBuf,
        /// Working directory (stores, data, runs); emptied first.
        #[arg(long)]
        work: PathBuf,
    },
    /// Recipe parity: train one deep cell of GRID with this project (test figures and
    /// seconds per step as JSON), after writing its data (the subset's, validation and test
    /// tracks as the model sees them, labels, and the recipe) into DATA for
    /// `reference/recipe_torch.py`.
    Recipe {
        #[arg(long)]
        grid: PathBuf,
        #[arg(long)]
        model: runner::ModelKind,
        #[arg(long)]
        train_size: usize,
        #[arg(long)]
        seed: u64,
        /// Where the exported data goes (emptied first).
        #[arg(long)]
        data: PathBuf,
        /// Corpora and caches (`TAGSCALE_DATA`).
        #[arg(long)]
        work: PathBuf,
    },
    /// Learning-curve fits (`metrics::curve::fit`) of the curves of a fixture written by
    /// `tools/reference/make_curve_fit_fixture.py`: time per fit and the largest ratio of
    /// the weighted cost reached to scipy's.
    CurveFit {
        #[arg(long)]
        fixture: PathBuf,
        #[arg(long, default_value_t = 200)]
        repeats: usize,
    },
    /// Feature-cache build of an on-the-fly synthetic manifest (tracks/s, peak memory).
    Cache {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        tracks: usize,
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
}

fn main() -> Result<()> {
    models::keep_freed_memory();
    match Cli::parse().bench {
        Bench::Logmel { clip, repeats } => logmel(clip, repeats),
        Bench::CurveFit { fixture, repeats } => curve_fit(&fixture, repeats),
        Bench::Corpus {
            out,
            tracks,
            seconds,
        } => corpus(out, tracks, seconds),
        Bench::Cache {
            out,
            tracks,
            seconds,
        } => cache(out, tracks, seconds),
        Bench::StoreOverhead {
            tagscale,
            grid,
            work,
        } => store_overhead(tagscale, grid, work),
        Bench::Gbt {
            work,
            tracks,
            seconds,
            tree_parallel,
            bins,
        } => gbt(work, tracks, seconds, tree_parallel, bins),
        Bench::Recipe {
            grid,
            model,
            train_size,
            seed,
            data,
            work,
        } => recipe::run(&grid, model, train_size, seed, &data, &work),
        Bench::TrainStep {
            model,
            patch_seconds,
            batch,
            backend,
            steps,
            widths,
            threads,
        } => on_threads(threads, || {
            train_step(model, &widths, patch_seconds, batch, backend, steps)
        }),
        Bench::Peak { threads } => on_threads(threads, peak),
        Bench::Gradients {
            model,
            patch_seconds,
            batch,
            widths,
            seed,
            out,
        } => gradients::run(
            &widths.config(model),
            patch_len(model, patch_seconds),
            batch,
            seed,
            &out,
        ),
    }
}

/// Run `f` on a pool of `threads` threads (0: rayon's default pool, the machine's cores).
fn on_threads(threads: usize, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    if threads == 0 {
        return f();
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?
        .install(f)
}

/// GFLOP/s of a 1024 x 1024 x 1024 f32 matmul on flex (the median of 5 after a warm-up).
fn peak() -> Result<()> {
    use burn::prelude::*;
    const N: usize = 1024;
    let device = Device::flex();
    let a = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; N * N], [N, N]), &device);
    let multiply = || {
        let _ = a.clone().matmul(a.clone()).into_data();
    };
    multiply();
    let seconds = median(&time_repeats(5, multiply)) / 1e3;
    print_json(serde_json::json!({
        "bench": "peak",
        "threads": rayon::current_num_threads(),
        "gflops": 2.0 * (N * N * N) as f64 / seconds / 1e9,
    }))
}

fn train_step(
    architecture: models::Architecture,
    widths: &Widths,
    patch_seconds: f64,
    batch: usize,
    backend: models::Backend,
    steps: usize,
) -> Result<()> {
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::prelude::*;
    let config = widths.config(architecture);
    let tags = config.n_tags;
    let device = backend.device()?.autodiff();
    device.seed(1);
    let len = patch_len(architecture, patch_seconds);
    let width = models::input_width(&config);
    let mut model = models::TaggingModel::new(&config, &device)?;
    let mut optim = AdamConfig::new().init();
    let data: Vec<f32> = (0..batch * len * width)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let targets: Vec<f32> = (0..batch * tags)
        .map(|i| (i % 3 == 0) as u8 as f32)
        .collect();
    // Phases of a step, in seconds: forward (to the scalar loss), backward, optimiser.
    let mut step = || -> Result<[f64; 3]> {
        let start = Instant::now();
        let x = models::input_tensor(&config, data.clone(), batch, len, &device)?;
        let y = Tensor::<2>::from_data(TensorData::new(targets.clone(), [batch, tags]), &device);
        let loss = (model.forward(x) - y).powi_scalar(2).mean();
        // Reading the loss forces a lazy forward to finish before the backward starts.
        let _ = loss.clone().into_scalar::<f32>();
        let forward = start.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = start.elapsed().as_secs_f64() - forward;
        model = optim.step(1e-3, model.clone(), grads);
        Ok([
            forward,
            backward,
            start.elapsed().as_secs_f64() - forward - backward,
        ])
    };
    step()?; // warm-up
    let phases = (0..steps.max(1))
        .map(|_| step())
        .collect::<Result<Vec<[f64; 3]>>>()?;
    let times: Vec<f64> = phases.iter().map(|p| p.iter().sum()).collect();
    let phase = |i: usize| median(&phases.iter().map(|p| p[i]).collect::<Vec<f64>>());
    let per_step = median(&times);
    let flops = 3 * batch as u64 * models::summary::forward_flops(&config, len)?;
    print_json(serde_json::json!({
        "bench": "train_step",
        "threads": rayon::current_num_threads(),
        "tags": tags,
        "parameters": models::TaggingModel::new(&config, &device)?.trainable_params(),
        "step_gflop": flops as f64 / 1e9,
        "gflops": flops as f64 / per_step / 1e9,
        "model": architecture.as_str(),
        "backend": backend.as_str(),
        "patch_seconds": patch_seconds,
        "batch": batch,
        "seconds_per_step": per_step,
        "samples_per_second": batch as f64 / per_step,
        "forward_seconds": phase(0),
        "backward_seconds": phase(1),
        "optimizer_seconds": phase(2),
    }))
}

fn synth_config(tracks: usize, seconds: f64) -> SynthConfig {
    SynthConfig {
        tracks,
        seed: 2026,
        seconds,
    }
}

fn corpus(out: PathBuf, tracks: usize, seconds: f64) -> Result<()> {
    let start = Instant::now();
    synth::write_corpus(&out, &synth_config(tracks, seconds), &|| {})?;
    print_throughput("corpus", tracks, seconds, start)
}

fn cache(out: PathBuf, tracks: usize, seconds: f64) -> Result<()> {
    let manifest = synth::manifest(&synth_config(tracks, seconds))?;
    let config = FeatureConfig::with_mels(96);
    let start = Instant::now();
    datasets::cache::build(&out, &manifest, &config, 128, &|_| {})?;
    print_throughput("cache", tracks, seconds, start)
}

/// Tracks per second since `start`, with this process's peak memory.
fn print_throughput(bench: &str, tracks: usize, seconds: f64, start: Instant) -> Result<()> {
    let elapsed = start.elapsed().as_secs_f64();
    print_json(serde_json::json!({
        "bench": bench,
        "tracks": tracks,
        "seconds_per_track": seconds,
        "tracks_per_second": tracks as f64 / elapsed,
        "wall_seconds": elapsed,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

fn gbt(
    work: PathBuf,
    tracks: usize,
    seconds: f64,
    tree_parallel: bool,
    bins: Option<u16>,
) -> Result<()> {
    use datasets::{Split, TagKind};
    let manifest = synth::manifest(&synth_config(tracks, seconds))?;
    let config = FeatureConfig::with_mels(96);
    let cache = datasets::cache::build(
        &datasets::cache::cache_dir(&work.join("cache"), &manifest, &config),
        &manifest,
        &config,
        128,
        &|_| {},
    )?;
    let n_tags = manifest.schema.len();
    let split_table = |split: Split| -> Result<_> {
        let (mut x, mut y, mut rows) = (Vec::new(), Vec::new(), 0usize);
        for (i, t) in manifest.tracks_in(split) {
            if let Some(d) = cache.descriptors(i)? {
                x.extend(d);
                y.extend(t.labels.iter().copied());
                rows += 1;
            }
        }
        Ok((x, y, rows))
    };
    let (tx, ty, tr) = split_table(Split::Train)?;
    let (vx, vy, vr) = split_table(Split::Validation)?;
    let (ex, ey, er) = split_table(Split::Test)?;
    let n_features = cache.descriptor_names().len();
    for (name, data, rows, cols) in [
        ("train_x", &tx, tr, n_features),
        ("train_y", &ty, tr, n_tags),
        ("valid_x", &vx, vr, n_features),
        ("valid_y", &vy, vr, n_tags),
        ("test_x", &ex, er, n_features),
        ("test_y", &ey, er, n_tags),
    ] {
        npy::write_f32(&work.join(format!("{name}.npy")), &[rows, cols], data)?;
    }
    let kinds: Vec<TagKind> = manifest.schema.tags.iter().map(|t| t.kind).collect();
    std::fs::write(work.join("kinds.json"), serde_json::to_string(&kinds)?)?;
    let parallelism = if tree_parallel {
        baseline_gbt::Parallelism::Trees
    } else {
        baseline_gbt::Parallelism::Tags
    };
    let defaults = baseline_gbt::GbtConfig::default();
    let gbt_config = baseline_gbt::GbtConfig {
        parallelism,
        bins: bins.unwrap_or(defaults.bins),
        ..defaults
    };
    let start = Instant::now();
    let model = baseline_gbt::GbtModel::fit(
        &gbt_config,
        &kinds,
        &baseline_gbt::Table {
            rows: tr,
            features: &tx,
            targets: &ty,
        },
        Some(&baseline_gbt::Table {
            rows: vr,
            features: &vx,
            targets: &vy,
        }),
    )?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let predictions: Vec<f64> = model
        .predict(&ex, er)?
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let truth: Vec<f64> = ey.iter().map(|v| f64::from(*v)).collect();
    let names: Vec<String> = manifest.schema.names().map(String::from).collect();
    let e = metrics::evaluate(&metrics::Scores {
        names: &names,
        kinds: &kinds,
        truth: &truth,
        predictions: &predictions,
    })?;
    print_json(serde_json::json!({
        "bench": "gbt",
        "tracks": {"train": tr, "validation": vr, "test": er},
        "features": n_features,
        "fit_seconds": fit_seconds,
        "parallelism": if tree_parallel { "trees" } else { "tags" },
        "bins": gbt_config.bins,
        "macro_roc_auc": e.macro_roc_auc,
        "macro_pr_auc": e.macro_pr_auc,
        "macro_rmse": e.macro_rmse,
        "per_tag": e.per_tag,
    }))
}

/// Peak resident set size of this process (VmHWM), in MiB.
fn store_overhead(tagscale: PathBuf, grid: PathBuf, work: PathBuf) -> Result<()> {
    let grid = std::path::absolute(&grid)?;
    use tracking::{Claim, NewRun, ProcessId, Store};
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let swept = work.join("sweep.db");
    let start = Instant::now();
    let status = std::process::Command::new(&tagscale)
        .args(["--quiet", "--db"])
        .arg(&swept)
        .arg("sweep")
        .arg(&grid)
        .arg("--no-report")
        .current_dir(&work)
        .stdout(std::process::Stdio::null())
        .env("TAGSCALE_DATA", work.join("data"))
        .env("TAGSCALE_RUNS", work.join("runs"))
        .status()
        .context("running the sweep")?;
    anyhow::ensure!(status.success(), "the sweep failed");
    let sweep_seconds = start.elapsed().as_secs_f64();

    let source = Store::open(swept.to_str().context("UTF-8 path")?)?;
    let sweep = source.sweep(source.latest_sweep(None)?.context("no sweep recorded")?)?;
    let runs = source.runs(Some(sweep.id))?;
    let replay = Store::open(work.join("replay.db").to_str().context("UTF-8 path")?)?;
    let start = Instant::now();
    let id = replay.freeze_sweep(
        &sweep.experiment,
        &sweep.description,
        &sweep.spec_toml,
        &sweep.grid_path,
        &sweep.cells,
    )?;
    let mut epochs_written = 0;
    for run in &runs {
        let new = NewRun {
            cell: run.cell.map(|c| (id, c)),
            rerun_of: None,
            config_json: run.config_json.clone(),
            config_hash: run.config_hash.clone(),
            axes: run.axes.clone(),
            threads: run.threads,
            code: run.code.clone(),
            host: run.host.clone(),
            process: ProcessId::current(),
            scheduler_job: run.scheduler_job.clone(),
        };
        let Claim::Claimed(rid) = replay.claim(&new, false)? else {
            anyhow::bail!("replayed claim of run {} did not claim", run.id);
        };
        replay.start(
            rid,
            run.dataset_hash.as_deref().unwrap_or(""),
            run.subset_hash.as_deref().unwrap_or(""),
            run.artifact_dir.as_deref().unwrap_or(""),
        )?;
        let seconds = run.ended_at.zip(run.started_at).map_or(0, |(e, s)| e - s) / 1000;
        for _ in 0..=seconds / tracking::HEARTBEAT_EVERY.as_secs() as i64 {
            replay.heartbeat(rid)?;
        }
        let metrics = source.epoch_metrics(run.id)?;
        let mut by_epoch: std::collections::BTreeMap<i64, Vec<(&str, &str, f64)>> =
            std::collections::BTreeMap::new();
        for m in &metrics {
            by_epoch
                .entry(m.epoch)
                .or_default()
                .push((m.split.as_str(), m.key.as_str(), m.value));
        }
        for (epoch, values) in &by_epoch {
            replay.log_epoch(rid, *epoch, values)?;
            epochs_written += 1;
        }
        replay.finish(
            rid,
            &source.run_metrics(run.id)?,
            &source.artifacts(run.id)?,
        )?;
    }
    let run_writes = start.elapsed().as_secs_f64();
    // The sweep polls the store (reap + cell states) every 500 ms while cells run.
    let start = Instant::now();
    let record = replay.sweep(id)?;
    let polls = (sweep_seconds / 0.5).ceil() as usize;
    for _ in 0..polls {
        replay.reap_dead()?;
        replay.cell_runs(&record)?;
    }
    let polling = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "sweep_seconds": sweep_seconds,
            "runs": runs.len(),
            "epochs": epochs_written,
            "run_write_seconds": run_writes,
            "polls": polls,
            "polling_seconds": polling,
            "overhead_fraction": (run_writes + polling) / sweep_seconds,
        })
    );
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn logmel(clip: PathBuf, repeats: usize) -> Result<()> {
    let array = npy::read(&clip).with_context(|| format!("reading {}", clip.display()))?;
    let y: Vec<f32> = array.data.iter().map(|&v| v as f32).collect();
    let extractor = MelExtractor::new(MelConfig::default())?;
    // One warm-up run: plans and caches, as the reference's first call.
    let frames = extractor.log_mel(&y).frames;
    let times = time_repeats(repeats, || {
        std::hint::black_box(extractor.log_mel(std::hint::black_box(&y)));
    });
    // The half-length complex FFTs alone (rustfft's plan, as the STFT runs them, one per
    // frame): the part whose bits the parity and every cached feature stand on.
    let half = extractor.config().n_fft / 2;
    let fft = FftPlanner::<f64>::new().plan_fft_forward(half);
    let input = vec![Complex::new(0.25, -0.5); half];
    let mut output = input.clone();
    let mut scratch = vec![Complex::default(); fft.get_immutable_scratch_len()];
    let fft_times = time_repeats(repeats, || {
        for _ in 0..frames {
            fft.process_immutable_with_scratch(
                std::hint::black_box(&input),
                &mut output,
                &mut scratch,
            );
            std::hint::black_box(&output);
        }
    });
    print_json(serde_json::json!({
        "bench": "logmel",
        "frames": frames,
        "seconds_of_audio": y.len() as f64 / 16_000.0,
        "median_ms": median(&times),
        "fft_median_ms": median(&fft_times),
        "min_ms": times.iter().copied().fold(f64::INFINITY, f64::min),
        "repeats": repeats,
    }))
}

fn curve_fit(fixture: &std::path::Path, repeats: usize) -> Result<()> {
    let text = std::fs::read_to_string(fixture)
        .with_context(|| format!("reading {}", fixture.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", fixture.display()))?;
    let mut curves = Vec::new();
    for curve in json["curves"]
        .as_array()
        .context("the fixture has no curves")?
    {
        let column = |key: &str| -> Result<Vec<f64>> {
            serde_json::from_value(curve[key].clone()).with_context(|| format!("curve {key}"))
        };
        let (n, err, sigma) = (column("n")?, column("err")?, column("sigma")?);
        let points: Vec<metrics::curve::Point> = (0..n.len())
            .map(|i| metrics::curve::Point {
                n: n[i],
                err: err[i],
                sigma: sigma[i],
            })
            .collect();
        let scipy_cost = curve["cost"].as_f64().context("curve cost")?;
        curves.push((points, scipy_cost));
    }
    let mut worst_ratio = 0f64;
    for (points, scipy_cost) in &curves {
        let law = metrics::curve::fit(points)?.law;
        let cost: f64 = points
            .iter()
            .map(|p| ((p.err - law.at(p.n)) / p.sigma).powi(2))
            .sum();
        worst_ratio = worst_ratio.max(cost / scipy_cost);
    }
    let times = time_repeats(repeats, || {
        for (points, _) in &curves {
            std::hint::black_box(metrics::curve::fit(std::hint::black_box(points)).ok());
        }
    });
    print_json(serde_json::json!({
        "bench": "curve_fit",
        "curves": curves.len(),
        "median_ms_per_fit": median(&times) / curves.len() as f64,
        "worst_cost_ratio": worst_ratio,
    }))
}

/// Wall time of each of `repeats` calls, in milliseconds.
fn time_repeats(repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3 // milliseconds
        })
        .collect()
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn print_json(value: serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}
