"""Tagging throughput of musicnn (Pons & Serra, 2019) through its own API, for bench/run.py.

Usage: tag_musicnn.py AUDIO_DIR THREADS api|loaded-once [HOP_SECONDS]

`api`: calls `musicnn.tagger.top_tags(file, model='MTT_musicnn', topN=10)` on every .wav in
AUDIO_DIR (sorted), as a musicnn user tags a collection: its API builds the TensorFlow graph and
restores the checkpoint on every call, then computes the log-mel with librosa and scores 3 s
windows (no overlap, its default).

`loaded-once`: the same model, graph and checkpoint built once, then for every file musicnn's
own `extractor.batch_data` (librosa log-mel, windows every HOP_SECONDS) and one session run per
batch of windows, the mean of the windows' sigmoids and its top 10 — the model's compute alone,
with the windows tagscale uses.

THREADS caps TensorFlow's intra- and inter-op pools and the BLAS/FFT pools. Prints one JSON
line: tracks/s, seconds, the model's trainable parameter count, window and hop.
"""
import glob
import json
import math
import os
import sys
import time

threads = sys.argv[2]
# Read by TensorFlow when its runtime starts, so set before the import.
for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = threads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import librosa  # noqa: E402
import musicnn  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from musicnn import configuration, extractor, models  # noqa: E402
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


def frames(seconds):
    return librosa.time_to_frames(seconds, sr=configuration.SR, n_fft=configuration.FFT_SIZE,
                                  hop_length=configuration.FFT_HOP)


def loaded_once(hop_seconds):
    """A tagger that builds musicnn's graph and restores its checkpoint once, as
    `extractor.extractor` does on every call."""
    n_frames = frames(3) + 1
    hop = frames(hop_seconds)
    labels = configuration.MTT_LABELS
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, configuration.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y = models.define_model(x, is_training, MODEL, len(labels))[0]
        scores = tf.nn.sigmoid(y)
    session = tf.compat.v1.Session()
    session.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(session, os.path.join(os.path.dirname(musicnn.__file__),
                                                             MODEL) + "/")

    def tag(path):
        batch, _ = extractor.batch_data(path, n_frames, hop)
        outs = [session.run(scores, feed_dict={x: batch[i:i + configuration.BATCH_SIZE],
                                               is_training: False})
                for i in range(0, len(batch), configuration.BATCH_SIZE)]
        mean = np.concatenate(outs).mean(axis=0)
        return [labels[i] for i in np.argsort(-mean)[:10]]

    return tag


def main():
    audio, mode = sys.argv[1], sys.argv[3]
    hop_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
    files = sorted(glob.glob(os.path.join(audio, "**", "*.wav"), recursive=True))
    if not files:
        raise SystemExit(f"no .wav under {audio}")
    if mode == "api":
        hop_seconds = 3.0

        def tag(path):
            return top_tags(path, model=MODEL, topN=10, print_tags=False)
    elif mode == "loaded-once":
        tag = loaded_once(hop_seconds)
    else:
        raise SystemExit(f"mode must be api or loaded-once, not {mode!r}")
    tag(files[0])  # TensorFlow's first-use cost
    start = time.perf_counter()
    for f in files:
        tag(f)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "library": f"musicnn {getattr(musicnn, '__version__', '0.1.0')} {MODEL} "
                   f"(TensorFlow {tf.__version__})",
        "mode": mode,
        "tracks": len(files),
        "seconds": seconds,
        "tracks_per_second": len(files) / seconds,
        "parameters": trainable_parameters(),
        "window_seconds": 3.0,
        "hop_seconds": hop_seconds,
        "mel_bands": configuration.N_MELS,
    }))


if __name__ == "__main__":
    main()
