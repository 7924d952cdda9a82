//! Song-level tags and embeddings of audio files and folders with a trained model (a run's
//! best checkpoint, or an exported model directory) — the musicnn `top_tags` and extractor
//! experience: decode, resample to the model's rate, the model's input (normalised log-mel or
//! waveform), moving-window average of the sigmoid outputs or of an internal layer.

use std::path::{Path, PathBuf};

use audio_features::{BandStats, MelExtractor, load_mono};
use datasets::cache::FeatureConfig;
use models::{Architecture, Backend, EmbeddingLayer, ModelConfig, TaggingModel};
use rayon::prelude::*;
use tracking::keys::{artifact, metric, split};
use tracking::{Status, Store};

use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::loader::{self, Loading};
use crate::train::Geometry;

/// A trained run, loaded for tagging.
pub struct Tagger {
    /// Where the model came from, for output: "run 12" or "model DIR (run 12)".
    pub source: String,
    model: TaggingModel,
    config: ModelConfig,
    tags: Vec<String>,
    inputs: InputMaker,
    geometry: Geometry,
    batch: usize,
    device: burn::tensor::Device,
}

/// From an audio file to the model's input: what tagging does before the model, shareable
/// between threads.
struct InputMaker {
    mel: MelExtractor,
    band_stats: Option<BandStats>,
    patch_seconds: f64,
}

/// What a tagger is loaded from: a run's artifacts or an exported model directory.
pub(crate) struct ModelFiles {
    pub config: RunConfig,
    /// `model.bpk`, with its `model.bpk.config.json` beside it.
    pub checkpoint: PathBuf,
    pub tags: PathBuf,
    /// Spectrogram models only.
    pub band_stats: Option<PathBuf>,
}

impl ModelFiles {
    /// The files of FINISHED deep run `id`, as its artifacts record them.
    pub fn of_run(store: &Store, id: i64) -> Result<Self> {
        Self::of_record(store, &store.run(id)?)
    }

    /// [`ModelFiles::of_run`] of a run already read from the store.
    pub fn of_record(store: &Store, run: &tracking::RunRecord) -> Result<Self> {
        let id = run.id;
        let refuse = |why: String| RunnerError::Data(format!("run {id} cannot tag audio: {why}"));
        if run.status != Status::Finished {
            return Err(refuse(format!("it is {}", run.status)));
        }
        let config = RunConfig::from_json(&run.config_json)?;
        if config.deep().is_none() {
            return Err(refuse(
                "it is a GBT run (tagging, embeddings and export need a deep model)".into(),
            ));
        }
        let artifacts = store.artifacts(id)?;
        let find = |name: &str| {
            artifacts
                .iter()
                .find(|a| a.name == name)
                .map(|a| PathBuf::from(&a.path))
        };
        let need = |name: &str| {
            find(name).ok_or_else(|| refuse(format!("it recorded no `{name}` artifact")))
        };
        Ok(Self {
            checkpoint: need(artifact::MODEL)?,
            tags: need(artifact::TAGS)?,
            band_stats: find(artifact::BAND_STATS),
            config,
        })
    }
}

/// A track's model input, ready for scoring.
struct Prepared {
    input: Vec<f32>,
    warning: Option<String>,
}

/// One file to tag and the id it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub path: PathBuf,
    /// The path relative to the folder it was found in, or the path as given for a file:
    /// the `track` column of `tag --csv` (what `eval --truth` matches on).
    pub id: String,
}

/// A command-line path that gave no tracks, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
}

/// `*` and `?` stay within one folder; `**` crosses them.
const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Expand files and folders into the tracks to tag: a file as given (the decoder judges it);
/// a folder searched recursively for files with an audio extension whose path relative to
/// the folder matches `glob` (all of them without one), sorted by that path. Symbolic links
/// to files are followed, to folders not (no cycles). A path that does not exist or a folder
/// that cannot be read is reported, and the rest collected.
pub fn collect_tracks(
    paths: &[PathBuf],
    glob: Option<&glob::Pattern>,
) -> (Vec<Track>, Vec<Unreadable>) {
    let (mut tracks, mut problems) = (Vec::new(), Vec::new());
    for root in paths {
        let unreadable = |reason: String| Unreadable {
            path: root.clone(),
            reason,
        };
        match std::fs::metadata(root) {
            Err(e) => problems.push(unreadable(e.to_string())),
            Ok(meta) if !meta.is_dir() => tracks.push(Track {
                path: root.clone(),
                id: root.display().to_string(),
            }),
            Ok(_) => {
                let mut found = Vec::new();
                for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
                    let entry = match entry {
                        Ok(entry) => entry,
                        Err(e) => {
                            problems.push(Unreadable {
                                path: e.path().unwrap_or(root).to_path_buf(),
                                reason: e.to_string(),
                            });
                            continue;
                        }
                    };
                    let path = entry.path();
                    let is_file =
                        entry.file_type().is_file() || (entry.path_is_symlink() && path.is_file());
                    if !is_file || !audio_features::has_audio_extension(path) {
                        continue;
                    }
                    let relative = path.strip_prefix(root).unwrap_or(path);
                    if glob.is_some_and(|g| !g.matches_path_with(relative, GLOB_OPTIONS)) {
                        continue;
                    }
                    found.push(Track {
                        path: path.to_path_buf(),
                        id: relative.display().to_string(),
                    });
                }
                found.sort_by(|a, b| a.id.cmp(&b.id));
                tracks.extend(found);
            }
        }
    }
    (tracks, problems)
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
        let files = ModelFiles::of_run(store, id)?;
        Self::load(&files, format!("run {id}"))
    }

    /// Load an exported model directory (`tagscale export`): no store needed.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let (manifest, files) = crate::export::open(dir)?;
        Self::load(
            &files,
            format!("model {} (run {})", dir.display(), manifest.run),
        )
    }

    fn load(files: &ModelFiles, source: String) -> Result<Self> {
        let config = &files.config;
        let refuse = |why: String| RunnerError::Data(format!("{source} cannot tag audio: {why}"));
        let Some(deep) = config.deep() else {
            return Err(refuse(
                "it is a GBT run (tagging, embeddings and export need a deep model)".into(),
            ));
        };
        let features = deep.features;
        let backend = Some(deep.backend)
            .filter(|b| b.is_compiled())
            .unwrap_or(Backend::Flex);
        let device = backend.device()?;
        let (model, model_config) = TaggingModel::load(&files.checkpoint, &device)?;
        let tags: Vec<String> = read_tags(&files.tags)?
            .into_iter()
            .map(|t| t.name)
            .collect();
        if tags.len() != model_config.n_tags {
            return Err(refuse(format!(
                "its tags.json lists {} tags but the model has {} outputs",
                tags.len(),
                model_config.n_tags
            )));
        }
        let band_stats = match (model_config.architecture, &files.band_stats) {
            (Architecture::Spectrogram, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| RunnerError::io(path, "cannot read", e))?;
                Some(BandStats::from_json(&text)?)
            }
            (Architecture::Spectrogram, None) => {
                return Err(refuse("it has no band statistics".into()));
            }
            (Architecture::Waveform, _) => None,
        };
        let mel_config = FeatureConfig::with_mels(features.n_mels).mel;
        Ok(Self {
            source,
            geometry: Geometry::new(
                model_config.architecture,
                features.patch_seconds,
                config.eval.hop_seconds,
                &mel_config,
            ),
            inputs: InputMaker {
                patch_seconds: features.patch_seconds,
                mel: MelExtractor::new(mel_config)?,
                band_stats,
            },
            batch: deep.train.batch_size,
            model,
            config: model_config,
            tags,
            device,
        })
    }

    /// The model's tags, in its output order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Every tag with its song-level score, highest first.
    pub fn tag(&self, path: &Path) -> Result<Tagged> {
        self.score(self.inputs.prepare(path)?)
    }

    /// Tag every track in order, calling `visit` with each result as it is ready. The model
    /// and the decoding share one pool of `threads` threads: while the model scores one batch
    /// of tracks, the next ones are decoded and turned into input on whatever threads the
    /// model leaves idle ([`loader::load`]), so memory holds at most three batches however
    /// large the collection, and no more than `threads` threads compute at once.
    pub fn tag_all(
        &self,
        tracks: &[Track],
        threads: usize,
        mut visit: impl FnMut(usize, &Track, Result<Tagged>) + Send,
    ) -> Result<()> {
        self.for_each_input(tracks, threads, |i, track, prepared| {
            visit(i, track, prepared.and_then(|p| self.score(p)));
        })
    }

    /// Song-level embeddings at `layer` of every track, in order, as [`Tagger::tag_all`]
    /// tags them: each the mean over the track's windows (the same windows as its scores).
    pub fn embed_all(
        &self,
        tracks: &[Track],
        threads: usize,
        layer: EmbeddingLayer,
        mut visit: impl FnMut(usize, &Track, Result<Vec<f32>>) + Send,
    ) -> Result<()> {
        self.for_each_input(tracks, threads, |i, track, prepared| {
            let embedding = prepared.and_then(|p| {
                let mut songs = self.model.embed_songs(
                    &self.config,
                    &[&p.input],
                    self.geometry.patch_len,
                    self.geometry.hop_len,
                    self.batch,
                    layer,
                    &self.device,
                )?;
                Ok(songs.pop().unwrap_or_default())
            });
            visit(i, track, embedding);
        })
    }

    /// The size of an embedding at `layer`.
    pub fn embedding_dims(&self, layer: EmbeddingLayer) -> usize {
        layer.dims(&self.config)
    }

    /// Every track's model input, in order, computed ahead on helper threads (see
    /// [`Tagger::tag_all`]).
    fn for_each_input(
        &self,
        tracks: &[Track],
        threads: usize,
        mut visit: impl FnMut(usize, &Track, Result<Prepared>) + Send,
    ) -> Result<()> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tag-{i}"))
            .build()
            .map_err(|e| RunnerError::Data(format!("cannot start the tagging threads: {e}")))?;
        let pool = &pool;
        let inputs = &self.inputs;
        let batch = 4 * threads;
        // Each batch of files is decoded in parallel on the pool while the one before it is
        // scored; both take turns on the same threads.
        let decoded = tracks
            .chunks(batch)
            .map(move |files| -> Vec<Result<Prepared>> {
                pool.install(|| {
                    files
                        .par_iter()
                        .map(|t| inputs.prepare_guarded(&t.path))
                        .collect()
                })
            });
        loader::load(Loading::Ahead, decoded, |loaded| {
            for (b, ready) in loaded.enumerate() {
                // The model's operations run on the pool too (rayon's current pool).
                pool.install(|| {
                    for (k, prepared) in ready.into_iter().enumerate() {
                        let i = b * batch + k;
                        visit(i, &tracks[i], prepared);
                    }
                });
            }
        });
        Ok(())
    }

    /// The model's song-level scores of a prepared track.
    fn score(&self, prepared: Prepared) -> Result<Tagged> {
        let Prepared { input, warning } = prepared;
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

impl InputMaker {
    /// [`Self::prepare`], with a decoder's panic on a hostile file turned into that file's
    /// error, so the other files of a folder are still tagged.
    fn prepare_guarded(&self, path: &Path) -> Result<Prepared> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.prepare(path)))
            .unwrap_or_else(|_| {
                Err(RunnerError::Data(format!(
                    "{}: decoding panicked (a damaged or hostile file?)",
                    path.display()
                )))
            })
    }

    /// Decode `path` and compute the model's input.
    fn prepare(&self, path: &Path) -> Result<Prepared> {
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
        Ok(Prepared { input, warning })
    }
}

/// One entry of a run's `tags.json` (the model's outputs in order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagEntry {
    pub name: String,
    /// `classification` or `regression`.
    #[serde(default)]
    pub kind: String,
}

/// A `tags.json`: every entry must at least have a name.
pub(crate) fn read_tags(path: &Path) -> Result<Vec<TagEntry>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| RunnerError::io(path, "cannot read", e))?;
    serde_json::from_str(&text).map_err(|e| RunnerError::io(path, "not a tag list", e))
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
            .find(|m| m.split == split::TEST && m.key == metric::ROC_AUC && m.tag.is_none())
            .map_or(f64::NEG_INFINITY, |m| m.value);
        let key = (auc, run.axes.train_size, -run.id);
        if best.is_none_or(|b| key > b) {
            best = Some(key);
        }
    }
    best.map(|(_, _, id)| -id).ok_or_else(none)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn folders_give_their_audio_files_sorted_and_missing_paths_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("music");
        for name in [
            "b/2.mp3",
            "a/1.WAV",
            "a/z/3.flac",
            "c.ogg",
            "notes.txt",
            "a/cover.jpg",
        ] {
            touch(&root.join(name));
        }
        // A link back up the tree would loop: folders behind links are not entered.
        std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("c.ogg"), root.join("linked.ogg")).unwrap();
        let single = dir.path().join("single.mp3");
        touch(&single);
        let missing = dir.path().join("missing");
        let (tracks, problems) =
            collect_tracks(&[root.clone(), single.clone(), missing.clone()], None);
        let ids: Vec<&str> = tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "a/1.WAV",
                "a/z/3.flac",
                "b/2.mp3",
                "c.ogg",
                "linked.ogg",
                single.to_str().unwrap()
            ]
        );
        assert_eq!(tracks[0].path, root.join("a/1.WAV"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, missing);
        assert!(
            problems[0].reason.contains("No such file"),
            "{:?}",
            problems[0]
        );

        let glob = glob::Pattern::new("a/**/*").unwrap();
        let (tracks, _) = collect_tracks(std::slice::from_ref(&root), Some(&glob));
        let ids: Vec<&str> = tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a/1.WAV", "a/z/3.flac"]);
        // `*` does not cross a folder.
        let glob = glob::Pattern::new("a/*").unwrap();
        let (tracks, _) = collect_tracks(std::slice::from_ref(&root), Some(&glob));
        let ids: Vec<&str> = tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a/1.WAV"]);
    }
}
