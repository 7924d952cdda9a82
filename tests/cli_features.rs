//! End-to-end: the real `tagscale` binary on the `features` commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tagscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .args(args)
        .output()
        .expect("the tagscale binary runs")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/audio-features/tests/fixtures")
        .join(name)
}

fn read_npy_shape(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape = &shape[..shape.find(')').unwrap()];
    shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn features_mel_writes_frames_by_mels_float32_npy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tone.npy");
    let file = fixture("tone.mp3");
    let run = tagscale(&[
        "features",
        "mel",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--n-mels",
        "48",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // ~1 s at 16 kHz, hop 256 -> 1 + 16000 / 256 = 63 frames.
    let shape = read_npy_shape(&out);
    assert_eq!(shape.len(), 2);
    assert!((62..=64).contains(&shape[0]), "{shape:?}");
    assert_eq!(shape[1], 48);
}

#[test]
fn features_descriptors_json_has_named_finite_values() {
    let file = fixture("tone.flac");
    let run = tagscale(&["features", "descriptors", file.to_str().unwrap(), "--json"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let object = value.as_object().unwrap();
    assert!(object.len() >= 140, "{} descriptors", object.len());
    for key in ["mfcc_00_mean", "tempo_bpm", "chroma_09_mean", "key_clarity"] {
        assert!(object[key].as_f64().unwrap().is_finite(), "{key}");
    }
    // The 440 Hz (A) tone dominates the chroma.
    let a = object["chroma_09_mean"].as_f64().unwrap();
    let c = object["chroma_00_mean"].as_f64().unwrap();
    assert!(a > c, "A {a} vs C {c}");
}

#[test]
fn bad_audio_fails_with_the_file_named_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("song.ogg");
    std::fs::write(&bogus, "not audio at all").unwrap();
    let out = dir.path().join("x.npy");
    for args in [
        vec![
            "features",
            "mel",
            bogus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        vec!["features", "descriptors", "/no/such/file.wav"],
    ] {
        let run = tagscale(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("error:"), "{stderr}");
        assert!(
            stderr.contains(args[2]),
            "error does not name the file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!out.exists(), "no output is written for a failed decode");
}
