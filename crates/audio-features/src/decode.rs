//! Decoding of wav / mp3 / ogg-vorbis / flac with symphonia, downmixed to mono.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{AudioError, Result};
use crate::resample::resample;

/// Mono audio at a known sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// What decoding a file gave: the mono signal at the file's own rate and what was noticed.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub audio: Audio,
    /// Channels of the source before the downmix.
    pub channels: usize,
    /// Set when the stream ended early (a cut file): why, and what was kept.
    pub truncated: Option<String>,
}

/// Decode, downmix to mono and resample to `sample_rate`: the pipeline's front door.
pub fn load_mono(path: &Path, sample_rate: u32) -> Result<Decoded> {
    let mut decoded = decode_file(path)?;
    decoded.audio = resample(&decoded.audio, sample_rate)?;
    Ok(decoded)
}

/// Decode a whole file to mono at its own sample rate.
///
/// A file cut before its first whole audio frame is an error; a file cut later keeps what
/// decoded and reports the cut in [`Decoded::truncated`] (and as a `tracing` warning).
pub fn decode_file(path: &Path) -> Result<Decoded> {
    let io_err = |source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let metadata = file.metadata().map_err(io_err)?;
    if metadata.is_dir() {
        return Err(AudioError::Directory {
            path: path.to_path_buf(),
        });
    }
    if metadata.len() == 0 {
        return Err(AudioError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let mut format = probe(path, file)?;
    let (track_id, expected_frames, decoder) = open_track(path, format.as_ref())?;
    let mut decoder = decoder;

    let mut planar: Vec<Vec<f32>> = Vec::new();
    let mut channels = 0usize;
    let mut sample_rate = 0u32;
    let mut mono: Vec<f32> = Vec::new();
    let mut stream_error: Option<String> = None;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(err) => {
                stream_error = Some(describe(&err));
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let spec = buffer.spec();
                channels = spec.channels().count().max(1);
                sample_rate = spec.rate();
                buffer.copy_to_vecs_planar::<f32>(&mut planar);
                append_downmix(&planar, buffer.frames(), &mut mono);
            }
            // A damaged packet inside an otherwise good stream: skip it, as players do.
            Err(SymError::DecodeError(reason)) => {
                bad_packets += 1;
                stream_error.get_or_insert_with(|| format!("malformed packet: {reason}"));
            }
            Err(err) => {
                stream_error = Some(describe(&err));
                break;
            }
        }
    }

    if mono.is_empty() {
        return Err(match stream_error {
            Some(reason) => AudioError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("cut or damaged before its first whole audio frame ({reason})"),
            },
            None => AudioError::NoSamples {
                path: path.to_path_buf(),
            },
        });
    }
    let truncated = truncation_note(mono.len(), expected_frames, stream_error, bad_packets);
    if let Some(note) = &truncated {
        tracing::warn!("{}: {note}", path.display());
    }
    Ok(Decoded {
        audio: Audio {
            samples: mono,
            sample_rate,
        },
        channels,
        truncated,
    })
}

/// File extensions of the containers the decoder reads (lower case), for finding audio files
/// in a folder.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "mp3", "ogg", "oga", "flac"];

/// Whether `path` has one of [`AUDIO_EXTENSIONS`] (in any case).
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn probe(path: &Path, file: File) -> Result<Box<dyn FormatReader>> {
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|err| match err {
            SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                AudioError::Unsupported {
                    path: path.to_path_buf(),
                    reason: "no known container or stream header found".into(),
                }
            }
            SymError::Unsupported(_) => AudioError::Unsupported {
                path: path.to_path_buf(),
                reason: "no known audio format recognised in its contents".into(),
            },
            other => AudioError::Unsupported {
                path: path.to_path_buf(),
                reason: describe(&other),
            },
        })
}

type TrackDecoder = Box<dyn symphonia::core::codecs::audio::AudioDecoder>;

fn open_track(path: &Path, format: &dyn FormatReader) -> Result<(u32, Option<u64>, TrackDecoder)> {
    let unsupported = |reason: String| AudioError::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| unsupported("the file has no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| unsupported("the audio track has no codec parameters".into()))?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|err| unsupported(describe(&err)))?;
    Ok((track.id, track.num_frames, decoder))
}

/// Average the channels of one decoded buffer onto the mono signal.
fn append_downmix(planar: &[Vec<f32>], frames: usize, mono: &mut Vec<f32>) {
    let scale = 1.0 / planar.len().max(1) as f32;
    mono.extend((0..frames).map(|i| planar.iter().map(|ch| ch[i]).sum::<f32>() * scale));
}

/// Why a stream that did decode some audio should be reported as cut, if it should.
fn truncation_note(
    decoded: usize,
    expected: Option<u64>,
    stream_error: Option<String>,
    bad_packets: usize,
) -> Option<String> {
    let short_by = expected
        .map(|n| n.saturating_sub(decoded as u64))
        .unwrap_or(0);
    // Encoders pad and decoders trim a frame or so; only a real shortfall is a cut.
    let cut = short_by > 2048;
    match (stream_error, cut) {
        (None, false) => None,
        (Some(reason), _) if bad_packets == 0 || cut => Some(format!(
            "stream ended early ({reason}); kept the {decoded} samples decoded before it"
        )),
        (Some(reason), _) => Some(format!(
            "skipped {bad_packets} damaged packet(s) ({reason}); kept {decoded} samples"
        )),
        (None, true) => Some(format!(
            "stream is {short_by} samples shorter than its header says; kept {decoded} samples"
        )),
    }
}

fn describe(err: &SymError) -> String {
    match err {
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "unexpected end of file".into()
        }
        other => other.to_string(),
    }
}
