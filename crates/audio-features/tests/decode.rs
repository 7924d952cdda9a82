//! Decoding every supported format, and every way a file can be bad.

use std::path::{Path, PathBuf};

use audio_features::{AudioError, decode_file, load_mono};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Magnitude of the signal's correlation with a sinusoid of `hz` (a one-bin DFT).
fn tone_level(y: &[f32], sample_rate: u32, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(sample_rate);
    let (re, im) = y.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, &s)| {
        let s = f64::from(s);
        (re + s * (w * i as f64).cos(), im + s * (w * i as f64).sin())
    });
    (re * re + im * im).sqrt() / y.len() as f64
}

#[test]
fn every_supported_format_decodes_with_duration_rate_and_content() {
    for ext in ["wav", "flac", "ogg", "mp3"] {
        let path = fixture(&format!("tone.{ext}"));
        let decoded = decode_file(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(decoded.audio.sample_rate, 22_050, "{ext}");
        assert_eq!(decoded.channels, 2, "{ext}");
        let seconds = decoded.audio.duration_seconds();
        assert!((seconds - 1.0).abs() < 0.06, "{ext}: {seconds} s");
        assert!(
            decoded.truncated.is_none(),
            "{ext}: {:?}",
            decoded.truncated
        );

        let mono = load_mono(&path, 16_000).unwrap().audio;
        assert_eq!(mono.sample_rate, 16_000);
        assert!((mono.duration_seconds() - 1.0).abs() < 0.06, "{ext}");
        // The downmix keeps both channels' tones (440 Hz left, 660 Hz right) at half level.
        let (a, b, off) = (
            tone_level(&mono.samples, 16_000, 440.0),
            tone_level(&mono.samples, 16_000, 660.0),
            tone_level(&mono.samples, 16_000, 550.0),
        );
        assert!(a > 0.07 && b > 0.07, "{ext}: tone levels {a} {b}");
        assert!(off < 0.01, "{ext}: energy between the tones {off}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn assert_names_file(err: &AudioError, path: &Path) {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "error does not name the file: {message}"
    );
}

#[test]
fn zero_byte_wav_is_an_empty_file_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.wav", b"");
    let err = decode_file(&path).unwrap_err();
    assert!(matches!(err, AudioError::EmptyFile { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn wav_without_samples_is_an_error_not_an_empty_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&path, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let err = decode_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::NoSamples { .. } | AudioError::Corrupt { .. }
        ),
        "{err}"
    );
    assert_names_file(&err, &path);
}

#[test]
fn text_named_ogg_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "notes.ogg",
        b"these are my lyrics, not audio\n".repeat(20).as_slice(),
    );
    let err = decode_file(&path).unwrap_err();
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn random_bytes_named_flac_are_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed LCG: reproducible "random" bytes without a dependency.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 56) as u8
        })
        .collect();
    let path = write(dir.path(), "noise.flac", &bytes);
    let err = decode_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::Unsupported { .. } | AudioError::Corrupt { .. }
        ),
        "{err}"
    );
    assert_names_file(&err, &path);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent/dir/song.mp3");
    let err = decode_file(path).unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }), "{err}");
    assert_names_file(&err, path);
}

/// Byte offset of the first MPEG audio frame after the ID3v2 tag and the Xing/Info frame.
fn first_audio_frame_offset(bytes: &[u8]) -> usize {
    let mut pos = 0;
    if bytes.starts_with(b"ID3") {
        let size = bytes[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7f));
        pos = 10 + size;
    }
    let is_sync = |i: usize| bytes[i] == 0xff && bytes[i + 1] & 0xe0 == 0xe0;
    while !is_sync(pos) {
        pos += 1;
    }
    pos
}

#[test]
fn mp3_cut_inside_its_first_frame_is_an_error() {
    let bytes = std::fs::read(fixture("tone.mp3")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = first_audio_frame_offset(&bytes) + 40;
    let path = write(dir.path(), "cut_early.mp3", &bytes[..cut]);
    let err = decode_file(&path).unwrap_err();
    assert_names_file(&err, &path);
    assert!(
        matches!(
            err,
            AudioError::Corrupt { .. }
                | AudioError::Unsupported { .. }
                | AudioError::NoSamples { .. }
        ),
        "{err}"
    );
}

#[test]
fn mp3_cut_midway_decodes_what_is_there_and_reports_the_cut() {
    let bytes = std::fs::read(fixture("tone.mp3")).unwrap();
    let full = decode_file(&fixture("tone.mp3")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "cut_half.mp3", &bytes[..bytes.len() / 2]);
    let partial = decode_file(&path).unwrap();
    let (got, all) = (partial.audio.samples.len(), full.audio.samples.len());
    assert!(
        got > all / 4 && got < all * 3 / 4,
        "kept {got} of {all} samples"
    );
    assert!(partial.truncated.is_some(), "the cut was not reported");
    // What was kept is the start of the song, unchanged.
    let head = 2048;
    let diff = partial.audio.samples[..head]
        .iter()
        .zip(&full.audio.samples[..head])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-6, "decoded start differs by {diff}");
}
