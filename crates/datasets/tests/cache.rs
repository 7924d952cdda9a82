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
        let wave = c.waveform(i).unwrap();
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
        let mel = c.log_mel(i).unwrap();
        assert_eq!((mel.frames, mel.n_mels), (1 + 32_000 / 256, 48));
        assert_eq!(c.descriptors(i).unwrap().len(), c.descriptor_names().len());
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
    assert_eq!(c.log_mel(5).unwrap().frames, 126);
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
    assert!(c.waveform(good).is_some());
    assert!(c.waveform(bad).is_none());
    let recorded = c.bad_tracks();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0].reason.contains("bad.wav"),
        "{}",
        recorded[0].reason
    );
}

/// A damaged shard index (an offset past the end of its shard) is an error naming the shard
/// and the track when the cache opens, never a panic when the track is read.
#[test]
fn an_index_offset_past_its_shard_is_an_error_naming_shard_and_track() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = small_corpus();
    build(dir.path(), &manifest, &AtomicU64::new(0));
    for (field, ext) in [("mel", "mel"), ("wave", "wave"), ("desc", "desc")] {
        let index_path = dir.path().join("shard-00001.json");
        let original = std::fs::read_to_string(&index_path).unwrap();
        let mut index: serde_json::Value = serde_json::from_str(&original).unwrap();
        let entry = &mut index["entries"][1];
        let id = entry["id"].as_str().unwrap().to_string();
        match field {
            "desc" => entry["desc"] = serde_json::json!(u64::MAX / 2),
            _ => entry[field][0] = serde_json::json!(1u64 << 40),
        }
        std::fs::write(&index_path, index.to_string()).unwrap();
        let err = cache::FeatureCache::open(dir.path()).err().expect(field);
        let message = err.to_string();
        assert!(
            message.contains("shard-00001.json")
                && message.contains(&id)
                && message.contains(&format!(".{ext} shard")),
            "{message}"
        );
        std::fs::write(&index_path, original).unwrap();
        assert!(cache::FeatureCache::open(dir.path()).is_ok());
    }
}
