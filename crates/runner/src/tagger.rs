//! Song-level tags of any audio file with a trained run's best checkpoint — the musicnn
//! `top_tags` experience: decode, resample to the run's rate, the run's input (normalised
//! log-mel or waveform), moving-window average of the sigmoid outputs.

use std::path::{Path, PathBuf};

use audio_features::{BandStats, MelExtractor, load_mono};
use datasets::cache::FeatureConfig;
use models::{Architecture, Backend, ModelConfig, TaggingModel};
use tracking::{Status, Store};

use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::train::Geometry;

/// A trained run, loaded for tagging.
pub struct Tagger {
    pub run: i64,
    model: TaggingModel,
    config: ModelConfig,
    tags: Vec<String>,
    mel: MelExtractor,
    band_stats: Option<BandStats>,
    geometry: Geometry,
    patch_seconds: f64,
    batch: usize,
    device: burn::tensor::Device,
}

/// A file's song-level tags.
pub struct Tagged {
    /// Every tag with its score, highest first.
    pub scores: Vec<(String, f32)>,
    /// Why the scores deserve less trust (audio shorter than one patch).
    pub warning: Option<String>,
}

impl Tagger {
    /// Load run `id`: its checkpoint, tag names and input normalisation. The run's backend is
    /// used when this binary has it, flex otherwise.
    pub fn from_run(store: &Store, id: i64) -> Result<Self> {
        let run = store.run(id)?;
        let refuse = |why: String| RunnerError::Data(format!("run {id} cannot tag audio: {why}"));
        if run.status != Status::Finished {
            return Err(refuse(format!("it is {}", run.status)));
        }
        let config = RunConfig::from_json(&run.config_json)?;
        let (Some(features), Some(_)) = (config.features, config.widths) else {
            return Err(refuse(
                "it is a GBT run (tagging needs a deep model)".into(),
            ));
        };
        let artifacts = store.artifacts(id)?;
        let artifact = |name: &str| -> Result<PathBuf> {
            artifacts
                .iter()
                .find(|a| a.name == name)
                .map(|a| PathBuf::from(&a.path))
                .ok_or_else(|| refuse(format!("it recorded no `{name}` artifact")))
        };
        let backend = config
            .backend
            .filter(|b| b.is_compiled())
            .unwrap_or(Backend::Flex);
        let device = backend.device()?;
        let (model, model_config) = TaggingModel::load(&artifact("model")?, &device)?;
        let tags = read_tags(&artifact("tags")?)?;
        if tags.len() != model_config.n_tags {
            return Err(refuse(format!(
                "its tags.json lists {} tags but the model has {} outputs",
                tags.len(),
                model_config.n_tags
            )));
        }
        let band_stats = match model_config.architecture {
            Architecture::Spectrogram => {
                let path = artifact("band_stats")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| RunnerError::io(&path, "cannot read", e))?;
                Some(BandStats::from_json(&text)?)
            }
            Architecture::Waveform => None,
        };
        let mel_config = FeatureConfig::with_mels(features.n_mels).mel;
        Ok(Self {
            run: id,
            geometry: Geometry::new(
                model_config.architecture,
                features.patch_seconds,
                config.eval.hop_seconds,
                &mel_config,
            ),
            patch_seconds: features.patch_seconds,
            mel: MelExtractor::new(mel_config)?,
            batch: config.train.map_or(16, |t| t.batch_size),
            model,
            config: model_config,
            tags,
            band_stats,
            device,
        })
    }

    /// Every tag with its song-level score, highest first.
    pub fn tag(&self, path: &Path) -> Result<Tagged> {
        let rate = self.mel.config().sample_rate;
        let decoded = load_mono(path, rate)?;
        let samples = decoded.audio.samples;
        if samples.is_empty() {
            return Err(RunnerError::Data(format!(
                "{}: no audio samples",
                path.display()
            )));
        }
        let seconds = samples.len() as f64 / f64::from(rate);
        let warning = (seconds < self.patch_seconds).then(|| {
            format!(
                "{}: {seconds:.2} s of audio is shorter than the model's {:.2} s patch; the \
                 rest of the patch is zeros, so these scores say little about the file",
                path.display(),
                self.patch_seconds
            )
        });
        let input = match &self.band_stats {
            Some(stats) => {
                let mut spec = self.mel.log_mel(&samples);
                stats.apply(&mut spec.data);
                spec.data
            }
            None => samples,
        };
        let scores = self.model.predict_song(
            &self.config,
            &input,
            self.geometry.patch_len,
            self.geometry.hop_len,
            self.batch,
            &self.device,
        )?;
        let mut tagged: Vec<(String, f32)> = self.tags.iter().cloned().zip(scores).collect();
        tagged.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Tagged {
            scores: tagged,
            warning,
        })
    }
}

fn read_tags(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| RunnerError::io(path, "cannot read", e))?;
    let tags: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| RunnerError::io(path, "not a tag list", e))?;
    tags.iter()
        .map(|t| {
            t["name"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| RunnerError::io(path, "not a tag list", "an entry without a name"))
        })
        .collect()
}

/// The default run to tag with: the FINISHED spectrogram run of the newest sweep with the
/// best test ROC-AUC (ties: the larger training set, then the lower id).
pub fn default_run(store: &Store) -> Result<i64> {
    let none = || {
        RunnerError::Data(
            "no finished spectrogram run in the newest sweep: pass --run ID (see `tagscale runs list`)"
                .into(),
        )
    };
    let sweep = store.latest_sweep(None)?.ok_or_else(none)?;
    let record = store.sweep(sweep)?;
    let mut best: Option<(f64, i64, i64)> = None;
    for (_, run) in store.cell_runs(&record)? {
        let Some(run) =
            run.filter(|r| r.status == Status::Finished && r.axes.model == "spectrogram")
        else {
            continue;
        };
        let auc = store
            .run_metrics(run.id)?
            .iter()
            .find(|m| m.split == "test" && m.key == "roc_auc" && m.tag.is_none())
            .map_or(f64::NEG_INFINITY, |m| m.value);
        let key = (auc, run.axes.train_size, -run.id);
        if best.is_none_or(|b| key > b) {
            best = Some(key);
        }
    }
    best.map(|(_, _, id)| -id).ok_or_else(none)
}
