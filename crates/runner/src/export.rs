//! A trained run as a self-contained model directory (`tagscale export`): the weights, the
//! input normalisation, the tags with their kinds, everything needed to compute the model's
//! input (sample rate, patch, hop, mel bands), the exact resolved config, the test figures
//! with their intervals, the dataset and code it came from, and a human-readable
//! `MODEL_CARD.md`. `tag --model DIR` loads it with no run store.
//!
//! The directory's `tagscale-model.json` lists every other file with its size and sha256;
//! opening checks them all, so a missing, truncated or altered file is an error naming it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracking::keys::{metric, split};
use tracking::{CodeVersion, Store};

use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::tagger::{ModelFiles, TagEntry, read_tags};

/// The model directory's format; a directory of a newer one is refused.
pub const FORMAT_VERSION: u32 = 1;
/// The file that describes a model directory.
pub const MANIFEST_FILE: &str = "tagscale-model.json";
/// The human-readable description beside it.
pub const CARD_FILE: &str = "MODEL_CARD.md";

const CHECKPOINT_FILE: &str = "model.bpk";
const TAGS_FILE: &str = "tags.json";
const BAND_STATS_FILE: &str = "band_stats.json";

/// `tagscale-model.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub format_version: u32,
    /// The run it was exported from, in the store it was trained in.
    pub run: i64,
    pub run_uuid: String,
    pub architecture: String,
    pub sample_rate: u32,
    pub n_mels: usize,
    pub patch_seconds: f64,
    /// The song-level window hop; `None` = half a patch.
    pub hop_seconds: Option<f64>,
    pub tags: Vec<TagEntry>,
    pub train_size: usize,
    pub seed: u64,
    pub dataset_hash: Option<String>,
    pub subset_hash: Option<String>,
    /// The run's fully resolved config, as the store holds it.
    pub config: serde_json::Value,
    pub code: CodeVersion,
    /// Test figures: macro (no tag) and per tag, with their 95 % intervals.
    pub test_metrics: Vec<Figure>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub key: String,
    pub tag: Option<String>,
    pub value: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Write run `id` as a model directory at `out` (which must not exist, or be empty): staged
/// beside it and moved in once complete, so `out` never holds half a model.
pub fn export(store: &Store, id: i64, out: &Path) -> Result<ModelManifest> {
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RunnerError::io(
            out,
            "cannot export here",
            "the directory exists and is not empty",
        ));
    }
    let run = store.run(id)?;
    let files = ModelFiles::of_record(store, &run)?;
    let staging = staging_dir(out);
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(|e| RunnerError::io(&staging, "cannot create", e))?;
    let result = write_model(store, &run, &files, &staging).and_then(|manifest| {
        let _ = fs::remove_dir(out); // an empty target
        fs::rename(&staging, out)
            .map_err(|e| RunnerError::io(out, "cannot move the model in", e))?;
        Ok(manifest)
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.exporting-{}", std::process::id()))
}

fn write_model(
    store: &Store,
    run: &tracking::RunRecord,
    files: &ModelFiles,
    dir: &Path,
) -> Result<ModelManifest> {
    let config = &files.config;
    let features = config.require_deep()?.features;
    let mut copies = vec![
        (files.checkpoint.clone(), CHECKPOINT_FILE.to_string()),
        (
            models::model::config_path(&files.checkpoint),
            models::model::config_path(Path::new(CHECKPOINT_FILE))
                .display()
                .to_string(),
        ),
        (files.tags.clone(), TAGS_FILE.to_string()),
    ];
    if let Some(stats) = &files.band_stats {
        copies.push((stats.clone(), BAND_STATS_FILE.to_string()));
    }
    let mut entries = Vec::new();
    for (from, name) in &copies {
        let to = dir.join(name);
        fs::copy(from, &to).map_err(|e| RunnerError::io(from, "cannot copy into the model", e))?;
        entries.push(file_entry(&to, name)?);
    }
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        run: run.id,
        run_uuid: run.uuid.clone(),
        architecture: run.axes.model.clone(),
        sample_rate: datasets::cache::FeatureConfig::with_mels(features.n_mels)
            .mel
            .sample_rate,
        n_mels: features.n_mels,
        patch_seconds: features.patch_seconds,
        hop_seconds: config.eval.hop_seconds,
        tags: read_tags(&files.tags)?,
        train_size: config.train_size,
        seed: config.seed,
        dataset_hash: run.dataset_hash.clone(),
        subset_hash: run.subset_hash.clone(),
        config: serde_json::from_str(&run.config_json)
            .map_err(|e| RunnerError::StoredConfig(e.to_string()))?,
        code: run.code.clone(),
        test_metrics: store
            .run_metrics(run.id)?
            .into_iter()
            .filter(|m| m.split == split::TEST)
            .map(|m| Figure {
                key: m.key,
                tag: m.tag,
                value: m.value,
                low: m.ci.map(|c| c.0),
                high: m.ci.map(|c| c.1),
            })
            .collect(),
        files: entries,
    };
    write_file(&dir.join(CARD_FILE), card(&manifest, config).as_bytes())?;
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| RunnerError::io(dir, "cannot encode the model manifest", e))?;
    write_file(&dir.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(manifest)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| RunnerError::io(path, "cannot write", e))
}

fn file_entry(path: &Path, name: &str) -> Result<FileEntry> {
    let bytes = fs::read(path).map_err(|e| RunnerError::io(path, "cannot read", e))?;
    Ok(FileEntry {
        name: name.to_string(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// Open model directory `dir`: its manifest (of this format version or an older one) and
/// the files it lists, each checked against its size and sha256.
pub(crate) fn open(dir: &Path) -> Result<(ModelManifest, ModelFiles)> {
    let path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).map_err(|e| {
        RunnerError::io(
            &path,
            "cannot read (is this a `tagscale export` directory?)",
            e,
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| RunnerError::io(&path, "not JSON", e))?;
    let version = value["format_version"].as_u64().unwrap_or(0);
    if version > u64::from(FORMAT_VERSION) {
        return Err(RunnerError::io(
            &path,
            "cannot be read",
            format!(
                "it is model format {version}, from a newer tagscale; this one reads up to \
                 format {FORMAT_VERSION}"
            ),
        ));
    }
    let manifest: ModelManifest = serde_json::from_value(value)
        .map_err(|e| RunnerError::io(&path, "not a model manifest", e))?;
    for entry in &manifest.files {
        verify(dir, entry)?;
    }
    let listed = |name: &str| manifest.files.iter().any(|f| f.name == name);
    for name in [CHECKPOINT_FILE, TAGS_FILE] {
        if !listed(name) {
            return Err(RunnerError::io(
                &path,
                "is incomplete",
                format!("it lists no {name}"),
            ));
        }
    }
    let config = RunConfig::from_json(&manifest.config.to_string())?;
    let files = ModelFiles {
        config,
        checkpoint: dir.join(CHECKPOINT_FILE),
        tags: dir.join(TAGS_FILE),
        band_stats: listed(BAND_STATS_FILE).then(|| dir.join(BAND_STATS_FILE)),
    };
    Ok((manifest, files))
}

fn verify(dir: &Path, entry: &FileEntry) -> Result<()> {
    // Names come from the manifest: a plain file name, nothing that leaves the directory.
    if entry.name.contains('/') || entry.name.contains('\\') || entry.name.starts_with('.') {
        return Err(RunnerError::io(
            &dir.join(MANIFEST_FILE),
            "is not valid",
            format!(
                "it lists {:?}, which is not a file of the directory",
                entry.name
            ),
        ));
    }
    let path = dir.join(&entry.name);
    let bytes =
        fs::read(&path).map_err(|e| RunnerError::io(&path, "is missing or unreadable", e))?;
    if bytes.len() as u64 != entry.bytes {
        return Err(RunnerError::io(
            &path,
            "is damaged",
            format!("{} bytes, the manifest says {}", bytes.len(), entry.bytes),
        ));
    }
    if hex::encode(Sha256::digest(&bytes)) != entry.sha256 {
        return Err(RunnerError::io(
            &path,
            "is damaged",
            "its sha256 does not match the manifest",
        ));
    }
    Ok(())
}

/// `MODEL_CARD.md`: what the model predicts, on what it was trained, how well, its limits.
fn card(m: &ModelManifest, config: &RunConfig) -> String {
    use reports::markdown_text as md;
    let figure = |key: &str, tag: Option<&str>| {
        m.test_metrics
            .iter()
            .find(|f| f.key == key && f.tag.as_deref() == tag)
    };
    let show = |f: Option<&Figure>| match f {
        Some(Figure {
            value,
            low: Some(low),
            high: Some(high),
            ..
        }) => format!("{value:.3} [{low:.3}, {high:.3}]"),
        Some(f) => format!("{:.3}", f.value),
        None => "—".into(),
    };
    let (classification, regression): (Vec<&TagEntry>, Vec<&TagEntry>) =
        m.tags.iter().partition(|t| t.kind == "classification");
    let names = |tags: &[&TagEntry]| {
        tags.iter()
            .map(|t| format!("`{}`", t.name.replace('`', "'")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dataset = serde_json::to_value(&config.dataset).unwrap_or_default();
    let kind = dataset["kind"].as_str().unwrap_or("?");
    let source = match dataset["path"].as_str() {
        Some(path) => format!("`{kind}` dataset at `{}`", path.replace('`', "'")),
        None => format!(
            "the built-in synthetic corpus ({} tracks of {} s, seed {})",
            dataset["tracks"], dataset["seconds"], dataset["seed"]
        ),
    };
    let hop = m.hop_seconds.map_or_else(
        || format!("{:.2} s (half a patch)", m.patch_seconds / 2.0),
        |h| format!("{h:.2} s"),
    );
    let mut out = format!(
        "# Model card: {architecture} tagger (run {run})\n\n\
         Exported by `tagscale export` from run {run} (`{uuid}`) of experiment \
         {experiment}. Tag audio with it, no run store needed:\n\n    \
         tagscale tag --model THIS_DIR music/\n\n\
         ## What it predicts\n\n\
         {n} tags, one score in [0, 1] each for a whole track (the mean of the model's sigmoid \
         outputs over {patch:.2} s windows every {hop}).\n\n\
         - {nc} classification tags — the score is how likely the tag applies: {cnames}\n\
         - {nr} regression tags — the score is the predicted value on the dataset's [0, 1] \
         scale: {rnames}\n\n\
         ## Input\n\n\
         Any audio the decoder reads (wav, mp3, ogg/vorbis, flac), mixed to mono and resampled \
         to {rate} Hz; {input}.\n\n\
         ## Training\n\n\
         - data: {source}; manifest hash `{dataset_hash}`\n\
         - training subset: {train_size} tracks (subset hash `{subset_hash}`), seed {seed}\n\
         - model: {architecture} front-end, nf = {nf}, back-end width {bw}, dense {dense}\n\
         - code: commit `{commit}`{dirty}, {rustc}\n\n\
         ## How well (test split, 95 % bootstrap intervals)\n\n\
         | figure | value |\n|---|---:|\n\
         | ROC-AUC (macro, classification tags) | {roc} |\n\
         | PR-AUC (macro, classification tags) | {pr} |\n\
         | RMSE (macro, regression tags) | {rmse} |\n\n",
        architecture = md(&m.architecture),
        run = m.run,
        uuid = m.run_uuid,
        experiment = md(&config.experiment),
        n = m.tags.len(),
        patch = m.patch_seconds,
        nc = classification.len(),
        cnames = names(&classification),
        nr = regression.len(),
        rnames = names(&regression),
        rate = m.sample_rate,
        input = if m.architecture == "spectrogram" {
            format!(
                "{} log-mel bands (`log10(1 + 10000·mel)`), each band normalised with the \
                 training set's statistics (`band_stats.json`)",
                m.n_mels
            )
        } else {
            "the raw waveform".into()
        },
        dataset_hash = m.dataset_hash.as_deref().unwrap_or("—"),
        train_size = m.train_size,
        subset_hash = m.subset_hash.as_deref().unwrap_or("—"),
        seed = m.seed,
        nf = config.deep().map_or(0, |d| d.widths.nf),
        bw = config.deep().map_or(0, |d| d.widths.backend_width),
        dense = config.deep().map_or(0, |d| d.widths.dense_units),
        commit = m.code.short(),
        dirty = if m.code.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        rustc = md(&m.code.rustc_version),
        roc = show(figure(metric::ROC_AUC, None)),
        pr = show(figure(metric::PR_AUC, None)),
        rmse = show(figure(metric::RMSE, None)),
    );
    out.push_str("| tag | kind | ROC-AUC | PR-AUC | RMSE |\n|---|---|---:|---:|---:|\n");
    for tag in &m.tags {
        let name = Some(tag.name.as_str());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            md(&tag.name),
            md(&tag.kind),
            show(figure(metric::ROC_AUC, name)),
            show(figure(metric::PR_AUC, name)),
            show(figure(metric::RMSE, name)),
        ));
    }
    out.push_str(&format!(
        "\n## Known limits\n\n\
         - It learned from {train_size} tracks of {source}: scores on other music (other \
         genres, recording conditions, tag definitions) are not covered by the figures above.\n\
         - The intervals are test-set bootstrap intervals of this one run (seed {seed}); they \
         do not include the spread between training seeds.\n\
         - Audio shorter than one {patch:.2} s window is padded with silence; `tag` warns, and \
         the scores say little about such a file.\n\
         - A classification score is not calibrated to a probability beyond what mean squared \
         error on 0/1 labels gives; pick thresholds on your own validation data.\n\n\
         ## Files\n\n",
        train_size = m.train_size,
        seed = m.seed,
        patch = m.patch_seconds,
    ));
    for f in &m.files {
        out.push_str(&format!(
            "- `{}` — {} bytes, sha256 `{}`\n",
            f.name, f.bytes, f.sha256
        ));
    }
    out.push_str(&format!(
        "- `{MANIFEST_FILE}` — all of the above as JSON, with the run's resolved config\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_that_leaves_the_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["../x", "/etc/passwd", ".hidden"] {
            let entry = FileEntry {
                name: name.into(),
                bytes: 0,
                sha256: String::new(),
            };
            let err = verify(dir.path(), &entry).unwrap_err().to_string();
            assert!(err.contains("not a file of the directory"), "{err}");
        }
    }
}
