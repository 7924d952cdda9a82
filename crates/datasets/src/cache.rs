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
//!   shard-00000.json        the shard's index: offsets and CRC-32s per track, or its error
//! ```
//!
//! A shard's data files are written under temporary names and renamed, and its `.json` index
//! is renamed into place last: a shard with an index is complete. Building is resumable (done
//! shards are skipped), parallel within a shard, and holds at most one shard in memory.
//!
//! Integrity: every index range is checked against its shard when the cache opens, and each
//! track's bytes are checked against their CRC-32 the first time a process reads them (a cost
//! proportional to what a run reads, once; a run never reads the whole of a large cache).
//! [`build`] verifies every complete shard in full and rebuilds the damaged ones.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use audio_features::{DescriptorExtractor, MelConfig, MelExtractor, Spectrogram};
use half::f16;
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result, io_err};
use crate::manifest::{BadTrack, Manifest, Source, Track};
use crate::synth;

/// Version of the cache layout and of how its features are computed; part of the feature
/// hash, so a cache built by an older computation is rebuilt, not reused. 3: the log-mel's
/// compression is vectorised (a band can move by one f32 step).
const LAYOUT_VERSION: u32 = 3;

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
    /// CRC-32 of the track's bytes in the `.wave`, `.mel` and `.desc` files.
    pub crc: [u32; 3],
    /// Set for a track that failed: why. Its ranges are empty.
    pub error: Option<String>,
}

/// The three files of a shard, in the order of [`Entry::crc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Wave,
    Mel,
    Desc,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Wave, Part::Mel, Part::Desc];

    /// The shard file's extension.
    pub fn ext(self) -> &'static str {
        match self {
            Part::Wave => "wave",
            Part::Mel => "mel",
            Part::Desc => "desc",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Part::Wave => "waveform",
            Part::Mel => "log-mel",
            Part::Desc => "descriptors",
        }
    }
}

/// Bytes per sample, per mel frame and per descriptor vector, in [`Part`] order.
#[derive(Debug, Clone, Copy)]
struct Widths([u64; 3]);

impl Widths {
    fn of(meta: &CacheMeta) -> Self {
        Self([
            2,
            2 * meta.config.mel.n_mels as u64,
            4 * meta.descriptor_names.len() as u64,
        ])
    }

    /// The byte range of `part` of a good entry, or `None` if it overflows.
    fn range(self, e: &Entry, part: Part) -> Option<Range<usize>> {
        let (start, count) = match part {
            Part::Wave => (e.wave.0.checked_mul(2)?, e.wave.1),
            Part::Mel => (e.mel.0.checked_mul(2)?, e.mel.1),
            Part::Desc => (e.desc.checked_mul(4)?, 1),
        };
        let end = start.checked_add(count.checked_mul(self.0[part as usize])?)?;
        Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }
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

/// Build (or finish building) the cache of `manifest` in `dir`, verifying every complete shard
/// in full and rebuilding the damaged ones. A cache that already exists keeps its shard size.
/// `on_tracks(n)` reports progress.
pub fn build(
    dir: &Path,
    manifest: &Manifest,
    config: &FeatureConfig,
    shard_size: usize,
    on_tracks: &(dyn Fn(u64) + Sync),
) -> Result<FeatureCache> {
    build_until(
        dir,
        manifest,
        config,
        shard_size,
        on_tracks,
        &AtomicBool::new(false),
    )
}

/// [`build`] that stops within a track once `stop` is set (a signal arrived), returning
/// [`DatasetError::Interrupted`]; the shards finished so far are kept for the next build.
pub fn build_until(
    dir: &Path,
    manifest: &Manifest,
    config: &FeatureConfig,
    shard_size: usize,
    on_tracks: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<FeatureCache> {
    let mel = MelExtractor::new(config.mel)?;
    let descriptors = DescriptorExtractor::new(MelConfig::default())?;
    fs::create_dir_all(dir).map_err(io_err(dir, "cannot create the cache directory"))?;
    crate::remove_abandoned_temporaries(dir);
    let meta = CacheMeta {
        manifest_hash: manifest.content_hash(),
        feature_hash: config.hash(),
        config: *config,
        shard_size: shard_size.max(1),
        tracks: manifest.tracks.len(),
        descriptor_names: descriptors.names().to_vec(),
    };
    let meta_path = dir.join("cache.json");
    let meta = match read_json::<CacheMeta>(&meta_path) {
        Ok(existing)
            if existing.manifest_hash != meta.manifest_hash
                || existing.feature_hash != meta.feature_hash
                || existing.tracks != meta.tracks =>
        {
            return Err(DatasetError::Format {
                path: meta_path,
                message:
                    "this cache directory belongs to another manifest or feature configuration"
                        .into(),
            });
        }
        Ok(existing) => existing,
        Err(_) => {
            write_json(&meta_path, &meta)?;
            meta
        }
    };
    let widths = Widths::of(&meta);
    let tracks = manifest.tracks.len();
    for shard in 0..tracks.div_ceil(meta.shard_size) {
        let range = shard * meta.shard_size..((shard + 1) * meta.shard_size).min(tracks);
        let complete = ShardFiles::load(dir, shard, widths).and_then(|files| match files {
            Some(files) => files.verify(widths).map(|()| true),
            None => Ok(false),
        });
        match complete {
            Ok(true) => {
                on_tracks(range.len() as u64);
                continue;
            }
            Ok(false) => {}
            Err(e @ DatasetError::Damaged { .. }) => tracing::warn!("{e}; rebuilding the shard"),
            Err(e) => return Err(e),
        }
        let extractors = Extractors {
            mel: &mel,
            descriptors: &descriptors,
        };
        build_shard(dir, shard, range, manifest, extractors, on_tracks, stop)?;
    }
    FeatureCache::open(dir)
}

fn shard_path(dir: &Path, shard: usize, ext: &str) -> PathBuf {
    dir.join(format!("shard-{shard:05}.{ext}"))
}

/// A shard's index and mapped files; sizes match the index, every range lies inside its file.
struct ShardFiles {
    path: PathBuf,
    index: ShardIndex,
    maps: [Mmap; 3],
}

impl ShardFiles {
    /// `Ok(None)` for a shard not (completely) written yet.
    fn load(dir: &Path, shard: usize, widths: Widths) -> Result<Option<Self>> {
        let path = shard_path(dir, shard, "json");
        let Ok(index) = read_json::<ShardIndex>(&path) else {
            return Ok(None);
        };
        let sizes = [index.wave_bytes, index.mel_bytes, index.desc_bytes];
        let size_matches = |(part, size): (Part, u64)| {
            fs::metadata(shard_path(dir, shard, part.ext())).is_ok_and(|m| m.len() == size)
        };
        if !Part::ALL.into_iter().zip(sizes).all(size_matches) {
            return Ok(None);
        }
        let map = |part: Part| -> Result<Mmap> {
            let path = shard_path(dir, shard, part.ext());
            let file = fs::File::open(&path).map_err(io_err(&path, "cannot open cache shard"))?;
            // SAFETY: shards are immutable once their index exists; a rebuild writes new
            // files and renames them over, so a mapping never changes under its reader.
            unsafe { Mmap::map(&file) }.map_err(io_err(&path, "cannot map cache shard"))
        };
        let shard = Self {
            maps: [map(Part::Wave)?, map(Part::Mel)?, map(Part::Desc)?],
            path,
            index,
        };
        for e in shard.index.entries.iter().filter(|e| e.error.is_none()) {
            for part in Part::ALL {
                shard.bytes(e, part, widths)?;
            }
        }
        Ok(Some(shard))
    }

    /// The bytes of `part` of a good entry; a range outside the file is damage.
    fn bytes(&self, e: &Entry, part: Part, widths: Widths) -> Result<&[u8]> {
        widths
            .range(e, part)
            .and_then(|r| self.maps[part as usize].get(r))
            .ok_or_else(|| self.damaged(e, part, "lies past the end of its shard"))
    }

    /// Check `part` of a good entry against its CRC-32.
    fn check(&self, e: &Entry, part: Part, widths: Widths) -> Result<&[u8]> {
        let bytes = self.bytes(e, part, widths)?;
        if crc32fast::hash(bytes) == e.crc[part as usize] {
            Ok(bytes)
        } else {
            Err(self.damaged(e, part, "does not match its checksum"))
        }
    }

    /// Check every good entry in full.
    fn verify(&self, widths: Widths) -> Result<()> {
        for e in self.index.entries.iter().filter(|e| e.error.is_none()) {
            for part in Part::ALL {
                self.check(e, part, widths)?;
            }
        }
        Ok(())
    }

    fn damaged(&self, e: &Entry, part: Part, problem: &'static str) -> DatasetError {
        DatasetError::Damaged {
            shard: self.path.with_extension(part.ext()),
            track: e.id.clone(),
            what: part.what(),
            problem,
        }
    }
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
            synth::render_track(*seed, *index, seconds)
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

/// What computes a track's features.
#[derive(Clone, Copy)]
struct Extractors<'a> {
    mel: &'a MelExtractor,
    descriptors: &'a DescriptorExtractor,
}

fn build_shard(
    dir: &Path,
    shard: usize,
    range: Range<usize>,
    manifest: &Manifest,
    extractors: Extractors,
    on_tracks: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<()> {
    let Extractors {
        mel,
        descriptors: desc,
    } = extractors;
    let computed: Option<Vec<(usize, std::result::Result<TrackFeatures, String>)>> = range
        .into_par_iter()
        .map(|i| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let features = compute(manifest, &manifest.tracks[i], mel, desc);
            on_tracks(1);
            Some((i, features))
        })
        .collect();
    let computed = computed.ok_or(DatasetError::Interrupted)?;
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
            crc: [
                crc32fast::hash(&wave[w0 as usize * 2..]),
                crc32fast::hash(&mels[m0 as usize * 2..]),
                crc32fast::hash(&descs[d0 as usize * 4..]),
            ],
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

/// A built cache, memory-mapped for reading. Each track's bytes are checked against their
/// CRC-32 the first time they are read.
pub struct FeatureCache {
    meta: CacheMeta,
    widths: Widths,
    entries: Vec<Option<(usize, Entry)>>,
    shards: Vec<ShardFiles>,
    /// Per track, whether each [`Part`] has been checked.
    verified: Vec<[AtomicBool; 3]>,
}

impl FeatureCache {
    /// Open a complete cache; an incomplete one is an error naming the missing shard, a range
    /// outside its shard one naming the shard and the track.
    pub fn open(dir: &Path) -> Result<Self> {
        let meta: CacheMeta = read_json(&dir.join("cache.json"))?;
        let widths = Widths::of(&meta);
        let mut entries = vec![None; meta.tracks];
        let mut shards = Vec::new();
        for shard in 0..meta.tracks.div_ceil(meta.shard_size.max(1)) {
            let Some(files) = ShardFiles::load(dir, shard, widths)? else {
                return Err(DatasetError::Format {
                    path: shard_path(dir, shard, "json"),
                    message:
                        "shard missing or incomplete: run `tagscale data cache` to finish the cache"
                            .into(),
                });
            };
            for e in &files.index.entries {
                if let Some(slot) = entries.get_mut(e.track) {
                    *slot = Some((shard, e.clone()));
                }
            }
            shards.push(files);
        }
        Ok(Self {
            verified: (0..meta.tracks).map(|_| Default::default()).collect(),
            meta,
            widths,
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

    /// Whether the cache holds features of `track` (it was decoded).
    pub fn is_usable(&self, track: usize) -> bool {
        self.good_entry(track).is_some()
    }

    fn good_entry(&self, track: usize) -> Option<(&ShardFiles, &Entry)> {
        let (shard, e) = self.entries.get(track)?.as_ref()?;
        if e.error.is_some() {
            return None;
        }
        Some((self.shards.get(*shard)?, e))
    }

    /// The bytes of `part` of `track`, checked against their CRC-32 on first read; `None` for
    /// a bad track.
    fn bytes(&self, track: usize, part: Part) -> Result<Option<&[u8]>> {
        let Some((files, e)) = self.good_entry(track) else {
            return Ok(None);
        };
        let checked = &self.verified[track][part as usize];
        if checked.load(Ordering::Relaxed) {
            return files.bytes(e, part, self.widths).map(Some);
        }
        let bytes = files.check(e, part, self.widths)?;
        checked.store(true, Ordering::Relaxed);
        Ok(Some(bytes))
    }

    /// The 16 kHz waveform in [-1, 1]; `None` for a bad track.
    pub fn waveform(&self, track: usize) -> Result<Option<Vec<f32>>> {
        let bytes = self.bytes(track, Part::Wave)?;
        Ok(bytes.map(|b| {
            b.chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0)
                .collect()
        }))
    }

    /// The log-mel before normalisation; `None` for a bad track.
    pub fn log_mel(&self, track: usize) -> Result<Option<Spectrogram>> {
        let n_mels = self.meta.config.mel.n_mels;
        let bytes = self.bytes(track, Part::Mel)?;
        Ok(bytes.map(|b| Spectrogram {
            frames: b.len() / (2 * n_mels.max(1)),
            n_mels,
            data: b
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }))
    }

    /// The descriptor vector; `None` for a bad track.
    pub fn descriptors(&self, track: usize) -> Result<Option<Vec<f32>>> {
        let bytes = self.bytes(track, Part::Desc)?;
        Ok(bytes.map(|b| {
            b.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        }))
    }
}
