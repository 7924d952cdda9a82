//! The paper's models: parameter counts, shapes, learning, checkpoints, song-level inference.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use models::summary::{format_table, summary};
use models::{Architecture, Backend, ModelConfig, TaggingModel, input_tensor};

/// The backend under test: `TAGSCALE_TEST_BACKEND` (flex by default; `just test-tch` runs the
/// suite on libtorch).
fn device() -> Device {
    let name = std::env::var("TAGSCALE_TEST_BACKEND").unwrap_or_else(|_| "flex".into());
    name.parse::<Backend>().unwrap().device().unwrap()
}

fn small(architecture: Architecture, n_tags: usize) -> ModelConfig {
    ModelConfig {
        architecture,
        n_tags,
        n_mels: 32,
        nf: 4,
        backend_width: 32,
        dense_units: 32,
        dropout: 0.0,
    }
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 20_000) as f32 / 10_000.0 - 1.0
        })
        .collect()
}

fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn parameter_counts_match_the_paper_for_50_tags() {
    let device = device();
    for (architecture, expected, len) in [
        (Architecture::Spectrogram, 5_926_198, 938),
        (Architecture::Waveform, 5_379_126, 240_000),
    ] {
        let config = ModelConfig::paper(architecture, 50);
        let model = TaggingModel::new(&config, &device).unwrap();
        assert_eq!(model.trainable_params(), expected, "{architecture:?}");
        let rows = summary(&config, len).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.params).sum::<usize>(),
            expected,
            "{architecture:?} table"
        );
        assert!(format_table(&rows).ends_with(&format!("parameters: {expected}")));
    }
}

/// Counted by PyTorch 2.9's `torch.utils.flop_counter.FlopCounterMode` on one example through
/// the same architecture (bench/reference/train_step_torch.py, its `forward_flops`).
#[test]
fn forward_flops_match_pytorchs_flop_counter() {
    let main_job = |architecture| ModelConfig {
        nf: 4,
        backend_width: 32,
        dense_units: 32,
        n_mels: 48,
        ..ModelConfig::paper(architecture, 27)
    };
    let cases = [
        (
            ModelConfig::paper(Architecture::Waveform, 50),
            48_000,
            810_492_752,
        ),
        (
            ModelConfig::paper(Architecture::Spectrogram, 50),
            188,
            1_939_967_696,
        ),
        (main_job(Architecture::Waveform), 51_200, 49_165_952),
        (main_job(Architecture::Spectrogram), 201, 38_460_168),
    ];
    for (config, len, torch_flops) in cases {
        let ours = models::summary::forward_flops(&config, len).unwrap();
        assert_eq!(
            ours, torch_flops,
            "{:?} nf {}",
            config.architecture, config.nf
        );
    }
}

#[test]
fn output_shapes_for_3_and_15_second_patches() {
    let device = device();
    // Spectrogram: 188 / 938 frames; waveform: 48 000 / 240 000 samples (15 s -> 108 steps).
    for (architecture, lens, width) in [
        (Architecture::Spectrogram, [188, 938], 32),
        (Architecture::Waveform, [48_000, 240_000], 1),
    ] {
        let config = small(architecture, 7);
        let model = TaggingModel::new(&config, &device).unwrap().valid();
        for len in lens {
            let x = input_tensor(&config, values(2 * len * width, 1), 2, len, &device).unwrap();
            let y = model.forward(x);
            assert_eq!(y.dims(), [2, 7], "{architecture:?} {len}");
            assert!(to_vec(y).iter().all(|p| (0.0..=1.0).contains(p)));
        }
    }
    let rows = summary(&ModelConfig::paper(Architecture::Waveform, 50), 240_000).unwrap();
    let front_end_out = rows
        .iter()
        .rfind(|r| r.name.starts_with("conv 3 + max-pool"))
        .unwrap();
    assert_eq!(front_end_out.output, vec![256, 108]);
    let rows = summary(&ModelConfig::paper(Architecture::Spectrogram, 50), 188).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.name == "concat" && r.output == vec![464, 188])
    );
}

#[test]
fn too_short_inputs_are_errors_not_panics() {
    let config = small(Architecture::Waveform, 3);
    let err = input_tensor(&config, vec![0.0; 100], 1, 100, &device()).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
    assert!(input_tensor(&config, vec![0.0; 10], 1, 100, &device()).is_err());
}

fn overfit(architecture: Architecture, len: usize) -> (f32, f32) {
    let device = device().autodiff();
    let _turn = models::seed_exclusively(&device, 3);
    let config = small(architecture, 5);
    let mut model = TaggingModel::new(&config, &device).unwrap();
    let width = models::input_width(&config);
    let batch = 4;
    let targets: Vec<f32> = values(batch * 5, 9)
        .iter()
        .map(|v| if *v > 0.0 { 1.0 } else { 0.0 })
        .collect();
    let y = Tensor::<2>::from_data(TensorData::new(targets, [batch, 5]), &device);
    let mut optim = AdamConfig::new().init();
    let (mut first, mut last) = (0.0, 0.0);
    for step in 0..120 {
        let x = input_tensor(&config, values(batch * len * width, 2), batch, len, &device).unwrap();
        let loss = (model.forward(x) - y.clone()).powi_scalar(2).mean();
        let value = loss.clone().into_scalar::<f32>();
        if step == 0 {
            first = value;
        }
        last = value;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    (first, last)
}

#[test]
fn small_models_overfit_a_tiny_batch() {
    for (architecture, len) in [
        (Architecture::Spectrogram, 64),
        (Architecture::Waveform, 24_000),
    ] {
        let (first, last) = overfit(architecture, len);
        assert!(
            last < 0.1 * first,
            "{architecture:?}: loss {first} -> {last}"
        );
    }
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let config = small(Architecture::Spectrogram, 6);
    let model = TaggingModel::new(&config, &device).unwrap().valid();
    let path = dir.path().join("best.bpk");
    model.save(&config, &path).unwrap();
    let (loaded, loaded_config) = TaggingModel::load(&path, &device).unwrap();
    assert_eq!(loaded_config, config);
    let x = || input_tensor(&config, values(2 * 50 * 32, 4), 2, 50, &device).unwrap();
    assert_eq!(
        to_vec(model.forward(x())),
        to_vec(loaded.valid().forward(x()))
    );
    let missing = TaggingModel::load(&dir.path().join("nope.bpk"), &device).unwrap_err();
    assert!(missing.to_string().contains("nope.bpk"));
}

#[test]
fn song_level_inference_is_the_mean_of_window_outputs() {
    let device = device();
    let config = small(Architecture::Spectrogram, 4);
    let model = TaggingModel::new(&config, &device).unwrap().valid();
    let (frames, patch, hop) = (70, 20, 10);
    let track = values(frames * 32, 5);
    let song = model
        .predict_song(&config, &track, patch, hop, 3, &device)
        .unwrap();
    let starts = audio_features::patch::window_starts(frames, patch, hop);
    assert_eq!(starts, vec![0, 10, 20, 30, 40, 50]);
    let mut mean = vec![0.0f32; 4];
    for &s in &starts {
        let window = track[s * 32..(s + patch) * 32].to_vec();
        let out = to_vec(model.forward(input_tensor(&config, window, 1, patch, &device).unwrap()));
        for (m, o) in mean.iter_mut().zip(out) {
            *m += o / starts.len() as f32;
        }
    }
    for (a, b) in song.iter().zip(&mean) {
        assert!((a - b).abs() < 1e-5, "{song:?} vs {mean:?}");
    }
    // A track shorter than a patch is repeat-padded, not rejected.
    let short = model
        .predict_song(&config, &track[..12 * 32], patch, hop, 3, &device)
        .unwrap();
    assert_eq!(short.len(), 4);
}

#[test]
fn unavailable_backends_name_the_feature_to_enable() {
    assert!(Backend::Flex.device().is_ok());
    let err = "tpu".parse::<Backend>().unwrap_err();
    assert!(err.to_string().contains("tpu"));
    if !cfg!(feature = "tch") {
        let err = Backend::Libtorch.device().unwrap_err().to_string();
        assert!(err.contains("--features tch"), "{err}");
    }
    if !cfg!(feature = "cuda") {
        let err = Backend::Cuda.device().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn precise_batch_norm_makes_inference_match_training_mode_on_the_same_batch() {
    for (architecture, len) in [
        (Architecture::Spectrogram, 64),
        (Architecture::Waveform, 24_000),
    ] {
        let device = device().autodiff();
        let _turn = models::seed_exclusively(&device, 11);
        let plain = self::device();
        let config = small(architecture, 5);
        let mut model = TaggingModel::new(&config, &device).unwrap();
        let batch = 6;
        let data = values(batch * len * models::input_width(&config), 5);
        let x = |device: &Device| input_tensor(&config, data.clone(), batch, len, device).unwrap();
        let y = Tensor::<2>::from_data(TensorData::new(vec![0.7; batch * 5], [batch, 5]), &device);
        let mut optim = AdamConfig::new().init();
        for _ in 0..3 {
            let loss = (model.forward(x(&device)) - y.clone())
                .powi_scalar(2)
                .mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        // Training mode normalises by the batch's own statistics; it depends on the weights only.
        let training_mode = to_vec(model.forward(x(&device)));
        let ema = to_vec(model.valid().forward(x(&plain)));
        assert!(
            max_abs_diff(&training_mode, &ema) > 1e-2,
            "{architecture:?}: after 3 steps the running averages should still be far off"
        );

        let seen = model.estimate_batch_norm_statistics([x(&device)]).unwrap();
        assert_eq!(seen, batch);
        let precise = to_vec(model.valid().forward(x(&plain)));
        let diff = max_abs_diff(&training_mode, &precise);
        assert!(
            diff < 1e-4,
            "{architecture:?}: precise BN differs by {diff}"
        );
        assert_eq!(
            to_vec(model.forward(x(&device))),
            training_mode,
            "{architecture:?}: the estimation must not touch the weights"
        );
        model.estimate_batch_norm_statistics([x(&device)]).unwrap();
        assert_eq!(
            to_vec(model.valid().forward(x(&plain))),
            precise,
            "{architecture:?}: the estimation must be reproducible"
        );
    }
}

#[test]
fn untrained_models_start_at_the_label_prior() {
    let device = device().autodiff();
    let _turn = models::seed_exclusively(&device, 4);
    let config = small(Architecture::Spectrogram, 3);
    let prior = [0.05, 0.5, 0.8];
    let model = TaggingModel::new(&config, &device)
        .unwrap()
        .with_output_prior(&config, &prior)
        .unwrap();
    let x = input_tensor(&config, values(4 * 64 * 32, 8), 4, 64, &device).unwrap();
    for row in to_vec(model.forward(x)).chunks(3) {
        for (p, q) in row.iter().zip(prior) {
            assert!((p - q).abs() < 0.02, "output {p} vs prior {q}");
        }
    }
    assert!(
        TaggingModel::new(&config, &device)
            .unwrap()
            .with_output_prior(&config, &[0.5])
            .is_err()
    );
}

#[test]
fn geometry_guard_needs_eight_back_end_steps_after_pooling() {
    let waveform = small(Architecture::Waveform, 3);
    // 1.5 s: the front-end leaves 9 steps, the back-end's last conv sees 1.
    assert_eq!(waveform.backend_steps(24_000).unwrap(), 1);
    let err = waveform.check_geometry(24_000).unwrap_err();
    assert!(err.to_string().contains("at least 8"), "{err}");
    assert!(waveform.check_geometry(64_000).unwrap() >= 8);
    let min = waveform.min_input_len();
    assert!(waveform.check_geometry(min).is_ok());
    assert!(waveform.check_geometry(min - 1).is_err());
    let spectrogram = small(Architecture::Spectrogram, 3);
    assert_eq!(spectrogram.min_input_len(), 22);
}
