//! The feature cache: contents, bad tracks recorded, resume after an interrupted build.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use datasets::cache::{self, FeatureConfig};
use datasets::synth::{self, SynthConfig};
use datasets::{Manifest, Source};

fn small_corpus() -> Manifest {
    synth::manifest(&SynthConfig {
        tracks: 10,
        seed: 3,
        seconds: 2.0,
    })
    .unwrap()
}

fn build(dir: &Path, manifest: &Manifest, counter: &AtomicU64) -> cache::FeatureCache {
    cache::build(dir, manifest, &FeatureConfig::with_mels(48), 4, &|n| {
        counter.fetch_add(n, Ordering::Relaxed);
    })
    .unwrap()
}

#[test]
fn cache_holds_waveforms_mels_and_descriptors_of_every_track() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    let counter = AtomicU64::new(0);
    let c = build(dir.path(), &manifest, &counter);
    assert_eq!(counter.load(Ordering::Relaxed), 10);
    for i in 0..10 {
        let wave = c.waveform(i).unwrap().unwrap();
        assert_eq!(wave.len(), 32_000);
        // The cached waveform is the generator's output, quantised to 16 bits.
        let Source::Synth { seed, index } = manifest.tracks[i].source else {
            panic!()
        };
        let fresh = synth::render(seed, index, &synth::plan(seed, index, 2.0));
        let err = wave
            .iter()
            .zip(&fresh)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "track {i}: {err}");
        let mel = c.log_mel(i).unwrap().unwrap();
        assert_eq!((mel.frames, mel.n_mels), (1 + 32_000 / 256, 48));
        assert_eq!(
            c.descriptors(i).unwrap().unwrap().len(),
            c.descriptor_names().len()
        );
    }
    assert!(c.bad_tracks().is_empty());
}

#[test]
fn interrupted_build_resumes_without_redoing_finished_shards() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    build(dir.path(), &manifest, &AtomicU64::new(0));
    let shard0 = dir.path().join("shard-00000.mel");
    let before = std::fs::metadata(&shard0).unwrap().modified().unwrap();
    // Simulate a kill while shard 1 was being written: its index never landed, a data file
    // is half-written.
    std::fs::remove_file(dir.path().join("shard-00001.json")).unwrap();
    std::fs::write(dir.path().join("shard-00001.mel"), b"half").unwrap();
    assert!(
        cache::FeatureCache::open(dir.path()).is_err(),
        "an incomplete cache does not open"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));

    let c = build(dir.path(), &manifest, &AtomicU64::new(0));
    assert_eq!(
        std::fs::metadata(&shard0).unwrap().modified().unwrap(),
        before,
        "shard 0 was rebuilt"
    );
    assert_eq!(c.log_mel(5).unwrap().unwrap().frames, 126);
    // A different manifest cannot reuse the directory.
    let other = synth::manifest(&SynthConfig {
        tracks: 10,
        seed: 4,
        seconds: 2.0,
    })
    .unwrap();
    assert!(
        cache::build(
            dir.path(),
            &other,
            &FeatureConfig::with_mels(48),
            4,
            &|_| {}
        )
        .is_err()
    );
}

#[test]
fn corrupt_audio_is_recorded_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let samples: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    synth::write_wav(&audio.join("good.wav"), &samples).unwrap();
    std::fs::write(
        audio.join("bad.wav"),
        b"RIFF garbage that is not a wave file",
    )
    .unwrap();
    let csv = dir.path().join("labels.csv");
    std::fs::write(&csv, "path,rock\naudio/good.wav,1\naudio/bad.wav,0\n").unwrap();
    let manifest = datasets::import::csv_manifest::import(&csv, &[], 1).unwrap();
    let c = cache::build(
        &dir.path().join("cache"),
        &manifest,
        &FeatureConfig::with_mels(96),
        8,
        &|_| {},
    )
    .unwrap();
    let good = manifest
        .tracks
        .iter()
        .position(|t| t.id.ends_with("good.wav"))
        .unwrap();
    let bad = manifest
        .tracks
        .iter()
        .position(|t| t.id.ends_with("bad.wav"))
        .unwrap();
    assert!(c.waveform(good).unwrap().is_some());
    assert!(c.waveform(bad).unwrap().is_none());
    let recorded = c.bad_tracks();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0].reason.contains("bad.wav"),
        "{}",
        recorded[0].reason
    );
}

/// A damaged shard index (an offset past the end of its shard) is an error naming the shard
/// and the track when the cache opens, never a panic when the track is read; building the
/// cache again rebuilds that shard.
#[test]
fn an_index_offset_past_its_shard_is_an_error_naming_shard_and_track() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    build(dir.path(), &manifest, &AtomicU64::new(0));
    for part in cache::Part::ALL {
        let index_path = dir.path().join("shard-00001.json");
        let original = std::fs::read_to_string(&index_path).unwrap();
        let mut index: serde_json::Value = serde_json::from_str(&original).unwrap();
        let entry = &mut index["entries"][1];
        let id = entry["id"].as_str().unwrap().to_string();
        match part {
            cache::Part::Desc => entry["desc"] = serde_json::json!(u64::MAX / 2),
            _ => entry[part.ext()][0] = serde_json::json!(1u64 << 40),
        }
        std::fs::write(&index_path, index.to_string()).unwrap();
        let err = cache::FeatureCache::open(dir.path())
            .err()
            .unwrap_or_else(|| panic!("{}: the damage went unnoticed", part.ext()));
        let message = err.to_string();
        assert!(
            message.contains(&format!("shard-00001.{}", part.ext()))
                && message.contains(&id)
                && message.contains("past the end")
                && message.contains("tagscale data cache"),
            "{message}"
        );
        let c = build(dir.path(), &manifest, &AtomicU64::new(0));
        assert!(c.log_mel(5).unwrap().is_some(), "the shard was rebuilt");
        assert_eq!(std::fs::read_to_string(&index_path).unwrap(), original);
    }
}

/// Bytes changed in a shard (a flipped float) are an error naming the shard and the track
/// the first time the track is read; building the cache again rebuilds the shard, and the
/// rebuilt track is what it was.
#[test]
fn a_changed_byte_in_a_shard_is_an_error_and_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    let c = build(dir.path(), &manifest, &AtomicU64::new(0));
    let (wave, mel, desc) = (
        c.waveform(6).unwrap().unwrap(),
        c.log_mel(6).unwrap().unwrap(),
        c.descriptors(6).unwrap().unwrap(),
    );
    drop(c);
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("shard-00001.json")).unwrap(),
    )
    .unwrap();
    // Track 6 is the third entry of shard 1 (4 tracks per shard).
    let entry = &index["entries"][2];
    assert_eq!(entry["track"], 6);
    let id = entry["id"].as_str().unwrap().to_string();
    let offsets = [
        entry["wave"][0].as_u64().unwrap() * 2 + 10,
        entry["mel"][0].as_u64().unwrap() * 2 + 10,
        entry["desc"].as_u64().unwrap() * 4 + 1,
    ];
    for (part, offset) in cache::Part::ALL.into_iter().zip(offsets) {
        let path = dir.path().join(format!("shard-00001.{}", part.ext()));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offset as usize] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();

        let c = cache::FeatureCache::open(dir.path()).expect("ranges are intact");
        let err = match part {
            cache::Part::Wave => c.waveform(6).err(),
            cache::Part::Mel => c.log_mel(6).err(),
            cache::Part::Desc => c.descriptors(6).err(),
        }
        .expect("a changed byte is found");
        let message = err.to_string();
        assert!(
            message.contains(&format!("shard-00001.{}", part.ext()))
                && message.contains(&id)
                && message.contains("checksum"),
            "{message}"
        );
        assert!(c.waveform(2).unwrap().is_some(), "other shards still read");
        drop(c);

        let c = build(dir.path(), &manifest, &AtomicU64::new(0));
        assert_eq!(c.waveform(6).unwrap().unwrap(), wave);
        assert_eq!(c.log_mel(6).unwrap().unwrap().data, mel.data);
        assert_eq!(c.descriptors(6).unwrap().unwrap(), desc);
    }
}

/// `data cache` with a shard size other than the one a sweep built with reuses the cache.
#[test]
fn an_existing_cache_keeps_its_shard_size() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    build(dir.path(), &manifest, &AtomicU64::new(0));
    let index0 = dir.path().join("shard-00000.json");
    let before = std::fs::read_to_string(&index0).unwrap();
    let c = cache::build(
        dir.path(),
        &manifest,
        &FeatureConfig::with_mels(48),
        128,
        &|_| {},
    )
    .expect("the same content with another shard size is the same cache");
    assert!(c.log_mel(9).unwrap().is_some());
    assert_eq!(std::fs::read_to_string(&index0).unwrap(), before);
}
