//! The feature cache (SPEC §4.5): 16 kHz i16 waveforms, f16 log-mels and f32 descriptors in
//! sharded, memory-mapped files, keyed by (manifest hash, feature-config hash).
//!
//! Layout of a cache directory:
//!
//! ```text
//! <manifest hash[..16]>-<feature hash[..16]>/
//!   cache.json              key, feature config, shard size, descriptor names
//!   shard-00000.wave        i16 LE samples of the shard's tracks, back to back
//!   shard-00000.mel         f16 LE log-mel values ([frames, n_mels] per track)
//!   shard-00000.desc        f32 LE descriptor vectors
//!   shard-00000.json        the shard's index: offsets per track, or the track's error
//! ```
//!
//! A shard's data files are written under temporary names and renamed, and its `.json` index
//! is renamed into place last: a shard with an index is complete. Building is resumable (done
//! shards are skipped), parallel within a shard, and holds at most one shard in memory.

use std::fs;
use std::path::{Path, PathBuf};

use audio_features::{DescriptorExtractor, MelConfig, MelExtractor, Spectrogram};
use half::f16;
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result, io_err};
use crate::manifest::{BadTrack, Manifest, Source, Track};
use crate::synth;

/// Version of the cache layout; part of the feature hash.
const LAYOUT_VERSION: u32 = 1;

/// What the cache computes; its hash keys the cache directory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    pub mel: MelConfig,
}

impl FeatureConfig {
    pub fn with_mels(n_mels: usize) -> Self {
        Self {
            mel: MelConfig {
                n_mels,
                ..MelConfig::default()
            },
        }
    }

    /// sha256 of the canonical JSON of the config and the layout version.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(LAYOUT_VERSION.to_le_bytes());
        h.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

/// Where a track's features sit in its shard, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub track: usize,
    pub id: String,
    /// Offset and length in samples in the `.wave` file.
    pub wave: (u64, u64),
    /// Offset in values in the `.mel` file and number of frames.
    pub mel: (u64, u64),
    /// Offset in values in the `.desc` file.
    pub desc: u64,
    /// Set for a track that failed: why. Its ranges are empty.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardIndex {
    shard: usize,
    entries: Vec<Entry>,
    wave_bytes: u64,
    mel_bytes: u64,
    desc_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheMeta {
    manifest_hash: String,
    feature_hash: String,
    config: FeatureConfig,
    shard_size: usize,
    tracks: usize,
    descriptor_names: Vec<String>,
}

/// Directory name of a cache: the two hashes, shortened.
pub fn cache_dir(root: &Path, manifest: &Manifest, config: &FeatureConfig) -> PathBuf {
    root.join(format!(
        "{}-{}",
        &manifest.content_hash()[..16],
        &config.hash()[..16]
    ))
}

/// Build (or finish building) the cache of `manifest` in `dir`. `on_track(n)` reports progress.
pub fn build(
    dir: &Path,
    manifest: &Manifest,
    config: &FeatureConfig,
    shard_size: usize,
    on_tracks: &(dyn Fn(u64) + Sync),
) -> Result<FeatureCache> {
    let shard_size = shard_size.max(1);
    let mel = MelExtractor::new(config.mel)?;
    let descriptors = DescriptorExtractor::new(MelConfig::default())?;
    fs::create_dir_all(dir).map_err(io_err(dir, "cannot create the cache directory"))?;
    let meta = CacheMeta {
        manifest_hash: manifest.content_hash(),
        feature_hash: config.hash(),
        config: *config,
        shard_size,
        tracks: manifest.tracks.len(),
        descriptor_names: descriptors.names().to_vec(),
    };
    let meta_path = dir.join("cache.json");
    match read_json::<CacheMeta>(&meta_path) {
        Ok(existing)
            if existing.manifest_hash != meta.manifest_hash
                || existing.feature_hash != meta.feature_hash
                || existing.shard_size != shard_size =>
        {
            return Err(DatasetError::Format {
                path: meta_path,
                message:
                    "this cache directory belongs to another manifest or feature configuration"
                        .into(),
            });
        }
        Ok(_) => {}
        Err(_) => write_json(&meta_path, &meta)?,
    }
    let shards = manifest.tracks.len().div_ceil(shard_size);
    for shard in 0..shards {
        let range = shard * shard_size..((shard + 1) * shard_size).min(manifest.tracks.len());
        if shard_is_complete(dir, shard) {
            on_tracks(range.len() as u64);
            continue;
        }
        build_shard(dir, shard, range, manifest, &mel, &descriptors, on_tracks)?;
    }
    FeatureCache::open(dir)
}

fn shard_path(dir: &Path, shard: usize, ext: &str) -> PathBuf {
    dir.join(format!("shard-{shard:05}.{ext}"))
}

fn shard_is_complete(dir: &Path, shard: usize) -> bool {
    let Ok(index) = read_json::<ShardIndex>(&shard_path(dir, shard, "json")) else {
        return false;
    };
    let size = |ext| {
        fs::metadata(shard_path(dir, shard, ext))
            .map(|m| m.len())
            .ok()
    };
    size("wave") == Some(index.wave_bytes)
        && size("mel") == Some(index.mel_bytes)
        && size("desc") == Some(index.desc_bytes)
}

/// What one track contributes to its shard.
struct TrackFeatures {
    wave: Vec<i16>,
    mel: Spectrogram,
    desc: Vec<f32>,
}

fn compute(
    manifest: &Manifest,
    track: &Track,
    mel: &MelExtractor,
    desc: &DescriptorExtractor,
) -> std::result::Result<TrackFeatures, String> {
    let samples = match &track.source {
        Source::Synth { seed, index } => {
            let seconds = track.duration.unwrap_or(10.0);
            synth::render(*seed, *index, &synth::plan(*seed, *index, seconds))
        }
        Source::File { .. } => {
            let path = manifest.audio_path(track).unwrap_or_default();
            audio_features::load_mono(&path, audio_features::SAMPLE_RATE)
                .map_err(|e| e.to_string())?
                .audio
                .samples
        }
    };
    Ok(TrackFeatures {
        wave: samples
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect(),
        mel: mel.log_mel(&samples),
        desc: desc.compute(&samples),
    })
}

fn build_shard(
    dir: &Path,
    shard: usize,
    range: std::ops::Range<usize>,
    manifest: &Manifest,
    mel: &MelExtractor,
    desc: &DescriptorExtractor,
    on_tracks: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let computed: Vec<(usize, std::result::Result<TrackFeatures, String>)> = range
        .into_par_iter()
        .map(|i| {
            let features = compute(manifest, &manifest.tracks[i], mel, desc);
            on_tracks(1);
            (i, features)
        })
        .collect();
    let (mut wave, mut mels, mut descs) = (Vec::new(), Vec::new(), Vec::new());
    let mut entries = Vec::with_capacity(computed.len());
    for (i, features) in computed {
        let track = &manifest.tracks[i];
        let (w0, m0, d0) = (
            (wave.len() / 2) as u64,
            (mels.len() / 2) as u64,
            (descs.len() / 4) as u64,
        );
        let error = match features {
            Ok(f) => {
                wave.extend(f.wave.iter().flat_map(|s| s.to_le_bytes()));
                mels.extend(
                    f.mel
                        .data
                        .iter()
                        .flat_map(|v| f16::from_f32(*v).to_le_bytes()),
                );
                descs.extend(f.desc.iter().flat_map(|v| v.to_le_bytes()));
                None
            }
            Err(reason) => {
                tracing::warn!("track {}: {reason}", track.id);
                Some(reason)
            }
        };
        entries.push(Entry {
            track: i,
            id: track.id.clone(),
            wave: (w0, (wave.len() / 2) as u64 - w0),
            mel: (
                m0,
                if error.is_some() {
                    0
                } else {
                    ((mels.len() / 2) as u64 - m0) / mel.config().n_mels as u64
                },
            ),
            desc: d0,
            error,
        });
    }
    let index = ShardIndex {
        shard,
        entries,
        wave_bytes: wave.len() as u64,
        mel_bytes: mels.len() as u64,
        desc_bytes: descs.len() as u64,
    };
    crate::atomic_write(&shard_path(dir, shard, "wave"), &wave)?;
    crate::atomic_write(&shard_path(dir, shard, "mel"), &mels)?;
    crate::atomic_write(&shard_path(dir, shard, "desc"), &descs)?;
    // The index last: its presence marks the shard complete.
    write_json(&shard_path(dir, shard, "json"), &index)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(io_err(path, "cannot read"))?;
    serde_json::from_str(&text).map_err(|e| DatasetError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| DatasetError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    crate::atomic_write(path, &text)
}

/// A built cache, memory-mapped for reading.
pub struct FeatureCache {
    meta: CacheMeta,
    entries: Vec<Option<(usize, Entry)>>,
    shards: Vec<[Mmap; 3]>,
}

/// The shard (`wave`, `mel` or `desc`) whose mapped bytes an index entry's range overruns, so a
/// damaged index is an error when the cache opens rather than a panic when a track is read.
/// `widths`: bytes per sample, per mel frame and per descriptor vector.
fn out_of_range(e: &Entry, maps: &[Mmap; 3], widths: [u64; 3]) -> Option<&'static str> {
    if e.error.is_some() {
        return None;
    }
    let ranges = [
        (e.wave.0.checked_mul(2), e.wave.1.checked_mul(widths[0])),
        (e.mel.0.checked_mul(2), e.mel.1.checked_mul(widths[1])),
        (e.desc.checked_mul(4), Some(widths[2])),
    ];
    let names = ["wave", "mel", "desc"];
    ranges
        .iter()
        .zip(maps)
        .zip(names)
        .find(|(((start, len), map), _)| {
            let end = start.zip(*len).and_then(|(s, l)| s.checked_add(l));
            end.is_none_or(|end| end > map.len() as u64)
        })
        .map(|(_, name)| name)
}

impl FeatureCache {
    /// Open a complete cache; an incomplete one is an error naming the missing shard.
    pub fn open(dir: &Path) -> Result<Self> {
        let meta: CacheMeta = read_json(&dir.join("cache.json"))?;
        let mut entries = vec![None; meta.tracks];
        let mut shards = Vec::new();
        for shard in 0..meta.tracks.div_ceil(meta.shard_size) {
            if !shard_is_complete(dir, shard) {
                return Err(DatasetError::Format {
                    path: shard_path(dir, shard, "json"),
                    message:
                        "shard missing or incomplete: run `tagscale data cache` to finish the cache"
                            .into(),
                });
            }
            let index: ShardIndex = read_json(&shard_path(dir, shard, "json"))?;
            let map = |ext| -> Result<Mmap> {
                let path = shard_path(dir, shard, ext);
                let file =
                    fs::File::open(&path).map_err(io_err(&path, "cannot open cache shard"))?;
                // SAFETY: shards are immutable once their index exists; the cache never
                // rewrites a complete shard, so the mapping cannot change under us.
                unsafe { Mmap::map(&file) }.map_err(io_err(&path, "cannot map cache shard"))
            };
            let maps = [map("wave")?, map("mel")?, map("desc")?];
            let widths = [
                2,
                2 * meta.config.mel.n_mels as u64,
                4 * meta.descriptor_names.len() as u64,
            ];
            for e in index.entries {
                if let Some(ext) = out_of_range(&e, &maps, widths) {
                    return Err(DatasetError::Format {
                        path: shard_path(dir, shard, "json"),
                        message: format!(
                            "the index entry of track {:?} points past the end of its .{ext} \
                             shard: the cache is damaged; delete {} and run `tagscale data \
                             cache` to rebuild it",
                            e.id,
                            dir.display()
                        ),
                    });
                }
                let slot = e.track;
                if let Some(s) = entries.get_mut(slot) {
                    *s = Some((shard, e));
                }
            }
            shards.push(maps);
        }
        Ok(Self {
            meta,
            entries,
            shards,
        })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.meta.config
    }

    pub fn descriptor_names(&self) -> &[String] {
        &self.meta.descriptor_names
    }

    /// Tracks that failed, with their errors.
    pub fn bad_tracks(&self) -> Vec<BadTrack> {
        self.entries
            .iter()
            .flatten()
            .filter_map(|(_, e)| {
                e.error.as_ref().map(|reason| BadTrack {
                    id: e.id.clone(),
                    path: None,
                    reason: reason.clone(),
                })
            })
            .collect()
    }

    fn entry(&self, track: usize) -> Option<(&[Mmap; 3], &Entry)> {
        let (shard, e) = self.entries.get(track)?.as_ref()?;
        if e.error.is_some() {
            return None;
        }
        Some((&self.shards[*shard], e))
    }

    /// The 16 kHz waveform in [-1, 1], or `None` for a bad track.
    pub fn waveform(&self, track: usize) -> Option<Vec<f32>> {
        let (maps, e) = self.entry(track)?;
        let bytes = &maps[0][(e.wave.0 * 2) as usize..((e.wave.0 + e.wave.1) * 2) as usize];
        Some(
            bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0)
                .collect(),
        )
    }

    /// The log-mel before normalisation, or `None` for a bad track.
    pub fn log_mel(&self, track: usize) -> Option<Spectrogram> {
        let (maps, e) = self.entry(track)?;
        let n_mels = self.meta.config.mel.n_mels;
        let start = (e.mel.0 * 2) as usize;
        let bytes = &maps[1][start..start + e.mel.1 as usize * n_mels * 2];
        Some(Spectrogram {
            frames: e.mel.1 as usize,
            n_mels,
            data: bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        })
    }

    /// The descriptor vector, or `None` for a bad track.
    pub fn descriptors(&self, track: usize) -> Option<Vec<f32>> {
        let (maps, e) = self.entry(track)?;
        let n = self.meta.descriptor_names.len();
        let start = (e.desc * 4) as usize;
        let bytes = &maps[2][start..start + n * 4];
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}
