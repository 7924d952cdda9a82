#!/usr/bin/env python3
"""Reference timing: librosa log-mel of one clip, the conventions of SPEC §3, one thread.

Usage: logmel_librosa.py CLIP.npy [REPEATS]   (prints one JSON line)
"""
import json
import sys
import time

import librosa
import numpy as np


def logmel(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, pad_mode="constant"
    )
    return np.log10(1.0 + 10000.0 * mel)


def main():
    y = np.load(sys.argv[1]).astype(np.float32)
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    logmel(y)  # warm-up: caches the mel basis and the FFT plan
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logmel(y)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    print(json.dumps({
        "bench": "logmel",
        "library": f"librosa {librosa.__version__}",
        "median_ms": times[len(times) // 2],
        "min_ms": times[0],
        "repeats": repeats,
    }))


if __name__ == "__main__":
    main()
