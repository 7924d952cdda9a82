#!/usr/bin/env python3
"""Generate the audio-features test fixtures: librosa reference outputs and encoded files.

Run from the repository root (writes crates/audio-features/tests/fixtures/):

    python3 -m venv .venv-ref && .venv-ref/bin/pip install librosa soundfile
    .venv-ref/bin/python tools/reference/make_audio_fixtures.py

What it writes:
- `<signal>.signal.npy`  float32 input at 16 kHz (chirp+noise, harmonic music-like);
- `<signal>.logmel.npy`  log10(1 + 10000 * librosa.feature.melspectrogram(...)), [frames, n_mels];
- `<signal>.logmel64.npy` the same computed by librosa in float64 (dtype=np.float64);
- `<signal>.mfcc.npy`    librosa.feature.mfcc(..., n_mfcc=20), [frames, 20];
- `tone.{wav,flac,ogg,mp3}`  1 s of a stereo 440/660 Hz tone at 22 050 Hz, for the decoders.
The outputs are committed; rerun only when the conventions change.
"""
import json
import os
import sys

import librosa
import numpy as np
import soundfile as sf

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
OUT = os.path.join("crates", "audio-features", "tests", "fixtures")


def chirp_noise(seconds=4.0, seed=1):
    """A 60 Hz -> 7 kHz exponential chirp plus white noise at -30 dB."""
    t = np.arange(int(seconds * SR)) / SR
    f0, f1 = 60.0, 7000.0
    k = (f1 / f0) ** (1.0 / seconds)
    phase = 2 * np.pi * f0 * (k**t - 1) / np.log(k)
    rng = np.random.default_rng(seed)
    y = 0.5 * np.sin(phase) + 0.015 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def harmonic_music(seconds=4.0, seed=2):
    """Chords of decaying harmonic tones (A minor - F - C - G) over a faint noise floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    chords = [[57, 60, 64], [53, 57, 60], [48, 52, 55], [55, 59, 62]]
    beat = n // len(chords)
    for i, chord in enumerate(chords):
        t = np.arange(beat) / SR
        env = np.exp(-3.0 * t)
        for midi in chord:
            f = 440.0 * 2 ** ((midi - 69) / 12)
            for h in range(1, 9):
                if f * h < SR / 2:
                    y[i * beat:(i + 1) * beat] += env * np.sin(2 * np.pi * f * h * t) / h**1.3
    y = 0.25 * y / np.max(np.abs(y))
    y += 0.003 * rng.standard_normal(n)
    return y.astype(np.float32)


def reference_features(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, pad_mode="constant"
    )
    logmel = np.ascontiguousarray(np.log10(1.0 + 10000.0 * mel).T, dtype=np.float32)
    # The same input computed in float64 by librosa: what float32 round-off hides.
    mel64 = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
        pad_mode="constant", dtype=np.float64,
    )
    logmel64 = np.ascontiguousarray(np.log10(1.0 + 10000.0 * mel64).T, dtype=np.float64)
    mfcc = librosa.feature.mfcc(
        y=y, sr=SR, n_mfcc=20, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, pad_mode="constant"
    )
    mfcc = np.ascontiguousarray(mfcc.T, dtype=np.float32)
    return logmel, logmel64, mfcc


def write_codec_fixtures():
    sr = 22050
    t = np.arange(sr) / sr
    left = 0.4 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.4 * np.sin(2 * np.pi * 660.0 * t)
    stereo = np.stack([left, right], axis=1).astype(np.float32)
    sf.write(os.path.join(OUT, "tone.wav"), stereo, sr, subtype="PCM_16")
    sf.write(os.path.join(OUT, "tone.flac"), stereo, sr, subtype="PCM_16")
    sf.write(os.path.join(OUT, "tone.ogg"), stereo, sr, format="OGG", subtype="VORBIS")
    sf.write(os.path.join(OUT, "tone.mp3"), stereo, sr, format="MP3", subtype="MPEG_LAYER_III")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, y in [("chirp_noise", chirp_noise()), ("harmonic", harmonic_music())]:
        logmel, logmel64, mfcc = reference_features(y)
        np.save(os.path.join(OUT, f"{name}.signal.npy"), y)
        np.save(os.path.join(OUT, f"{name}.logmel.npy"), logmel)
        np.save(os.path.join(OUT, f"{name}.logmel64.npy"), logmel64)
        np.save(os.path.join(OUT, f"{name}.mfcc.npy"), mfcc)
    write_codec_fixtures()
    versions = {
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "python": sys.version.split()[0],
    }
    with open(os.path.join(OUT, "VERSIONS.json"), "w") as f:
        json.dump(versions, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
