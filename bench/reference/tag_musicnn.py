"""Tagging throughput of musicnn (Pons & Serra, 2019) through its own API, for bench/run.py.

Usage: tag_musicnn.py AUDIO_DIR [THREADS]

Calls `musicnn.tagger.top_tags(file, model='MTT_musicnn', topN=10)` on every .wav in AUDIO_DIR
(sorted), as a musicnn user tags a collection: its API builds the TensorFlow graph and restores
the checkpoint on every call, then computes the log-mel with librosa and scores 3 s windows
(no overlap, its default). THREADS caps TensorFlow's intra- and inter-op pools and the BLAS/FFT
pools (unset: all cores). Prints one JSON line: tracks/s, seconds, the model's trainable
parameter count and its windows per track.
"""
import glob
import json
import math
import os
import sys
import time

threads = sys.argv[2] if len(sys.argv) > 2 else None
if threads:
    # Read by TensorFlow when its runtime starts, so set before the import.
    for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = threads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import musicnn  # noqa: E402
import tensorflow as tf  # noqa: E402
from musicnn import configuration  # noqa: E402
from musicnn.tagger import top_tags  # noqa: E402

MODEL = "MTT_musicnn"


def trainable_parameters():
    """Weights of the checkpoint, without the optimiser's slots and BN's moving statistics."""
    # The checkpoint prefix is the folder itself (files `.index`, `.data-…` inside it).
    ckpt = os.path.join(os.path.dirname(musicnn.__file__), MODEL) + "/"
    skip = ("Adam", "moving_", "power", "global_step")
    return sum(
        math.prod(shape)
        for name, shape in tf.compat.v1.train.NewCheckpointReader(ckpt)
        .get_variable_to_shape_map()
        .items()
        if not any(s in name for s in skip)
    )


def main():
    files = sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.wav"), recursive=True))
    if not files:
        raise SystemExit(f"no .wav under {sys.argv[1]}")
    top_tags(files[0], model=MODEL, topN=10, print_tags=False)  # TensorFlow's first-use cost
    start = time.perf_counter()
    for f in files:
        top_tags(f, model=MODEL, topN=10, print_tags=False)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "library": f"musicnn {getattr(musicnn, '__version__', '0.1.0')} {MODEL} "
                   f"(TensorFlow {tf.__version__})",
        "tracks": len(files),
        "seconds": seconds,
        "tracks_per_second": len(files) / seconds,
        "parameters": trainable_parameters(),
        "window_seconds": 3.0,
        "mel_bands": configuration.N_MELS,
    }))


if __name__ == "__main__":
    main()
