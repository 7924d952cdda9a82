#!/usr/bin/env python3
"""Reference training recipe in PyTorch, written from SPEC §5-§7 and sharing no code with
tagscale: trains one main-job deep cell on data that `tagscale-bench recipe-export` wrote and
prints its test figures as one JSON line.

The recipe (SPEC §6): one random patch per track per pass over the subset, batches in a
shuffled order, MSE on sigmoid outputs, Adam (eps 1e-5, as Burn's default), validation every
`eval_every` steps with batch-norm population statistics re-estimated first over one random
patch of each training track ("PreciseBN"), early stopping on the song-level validation MSE
after `patience` evaluations without improvement, the best checkpoint tested. He (fan-in)
weights, zero biases; the output layer starts with small weights and the logit of each tag's
training mean as its bias. Song-level predictions average the sigmoid outputs of windows one
patch long every `hop` rows, the last window ending at the track's end; tracks shorter than a
patch are tiled. Metrics as sklearn: ROC-AUC and average precision on classification tags
(truth binarised at 0.5, tags with one class skipped), RMSE on regression tags, macro means.

Usage: recipe_torch.py DATA_DIR SEED   (DATA_DIR holds meta.json and the split arrays)
"""
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score

EPS = 1e-3
MOMENTUM = 0.01


def tf_same(k):
    return ((k - 1) // 2, k - 1 - (k - 1) // 2)


class ConvBn(nn.Module):
    """conv -> ReLU -> BN (TF epsilon and momentum), explicit time padding."""

    def __init__(self, conv, bn, pad=None):
        super().__init__()
        self.conv, self.bn, self.pad = conv, bn, pad

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return self.bn(F.relu(self.conv(x)))


def conv1d(cin, cout, k, stride=1, pad=None):
    return ConvBn(nn.Conv1d(cin, cout, k, stride=stride), nn.BatchNorm1d(cout, eps=EPS, momentum=MOMENTUM), pad)


class SpectrogramFront(nn.Module):
    def __init__(self, n_mels, nf):
        super().__init__()
        self.timbral = nn.ModuleList()
        for share in (0.9, 0.4):
            kf = max(int(share * n_mels), 1)
            for kt, filters in ((7, nf), (3, 2 * nf), (1, 4 * nf)):
                pad = (kt - 1) // 2
                self.timbral.append(ConvBn(
                    nn.Conv2d(1, filters, (kt, kf)),
                    nn.BatchNorm2d(filters, eps=EPS, momentum=MOMENTUM),
                    (0, 0, pad, pad),
                ))
        self.temporal = nn.ModuleList(
            conv1d(1, f, k, pad=tf_same(k)) for k, f in ((165, nf), (128, 2 * nf), (64, 4 * nf), (32, 8 * nf))
        )
        self.channels = 29 * nf

    def forward(self, x):  # [B, T, F]
        image = x.unsqueeze(1)
        maps = [b(image).max(dim=3).values for b in self.timbral]
        envelope = x.mean(dim=2, keepdim=True).transpose(1, 2)
        maps += [b(envelope) for b in self.temporal]
        return torch.cat(maps, dim=1)  # [B, C, T]


class WaveformFront(nn.Module):
    def __init__(self, nf):
        super().__init__()
        widths = [max(w * nf // 16, 1) for w in (64, 64, 64, 128, 128, 128, 256)]
        self.stem = conv1d(1, widths[0], 3, stride=3)
        self.blocks = nn.ModuleList(conv1d(a, b, 3) for a, b in zip(widths, widths[1:]))
        self.channels = widths[-1]

    def forward(self, x):  # [B, N]
        x = self.stem(x.unsqueeze(1))
        for b in self.blocks:
            x = F.max_pool1d(b(x), 3, 3)
        return x


class Tagger(nn.Module):
    def __init__(self, front, n_tags, width, dense, dropout):
        super().__init__()
        self.front = front
        self.conv1 = conv1d(front.channels, width, 7)
        self.conv2 = conv1d(width, width, 7, pad=(3, 3))
        self.conv3 = conv1d(width, width, 7, pad=(3, 3))
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * width, dense)
        self.dense_bn = nn.BatchNorm1d(dense, eps=EPS, momentum=MOMENTUM)
        self.out = nn.Linear(dense, n_tags)

    def forward(self, x):
        x1 = self.conv1(self.front(x))
        x2 = self.conv2(x1) + x1
        pooled = F.max_pool1d(x2, 2, 2)
        x3 = self.conv3(pooled) + pooled
        summary = torch.cat([x3.max(dim=2).values, x3.mean(dim=2)], dim=1)
        hidden = self.dense_bn(F.relu(self.dense(self.drop(summary))))
        return torch.sigmoid(self.out(self.drop(hidden)))


def initialise(model, prior):
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    nn.init.normal_(model.out.weight, 0.0, 0.01)
    p = np.clip(prior, 1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.out.bias.copy_(torch.from_numpy(np.log(p / (1 - p)).astype(np.float32)))


def crop(track, length, rng):
    """A random patch, or the track tiled when it is not longer than a patch."""
    total = track.shape[0]
    if total <= length:
        return np.take(track, np.arange(length) % total, axis=0)
    start = rng.integers(0, total - length + 1)
    return track[start:start + length]


def precise_bn(model, tracks, length, batch, rng):
    """Population statistics of every BN layer's input over one patch per training track."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    sums = {id(n): [0.0, 0.0, 0] for n in norms}

    def hook(module, inputs):
        x = inputs[0].detach().double().transpose(0, 1).reshape(module.num_features, -1)
        s = sums[id(module)]
        s[0] = s[0] + x.sum(dim=1)
        s[1] = s[1] + (x * x).sum(dim=1)
        s[2] += x.shape[1]

    handles = [n.register_forward_pre_hook(hook) for n in norms]
    model.train()
    model.drop.p_saved, model.drop.p = model.drop.p, 0.0
    with torch.no_grad():
        for i in range(0, len(tracks), batch):
            x = np.stack([crop(t, length, rng) for t in tracks[i:i + batch]])
            model(torch.from_numpy(x))
    model.drop.p = model.drop.p_saved
    for h in handles:
        h.remove()
    for n in norms:
        total, squares, count = sums[id(n)]
        mean = total / count
        n.running_mean.copy_(mean.float())
        n.running_var.copy_((squares / count - mean * mean).clamp(min=0).float())


def song_predictions(model, tracks, length, hop, batch):
    model.eval()
    out = []
    with torch.no_grad():
        for track in tracks:
            total = track.shape[0]
            if total <= length:
                starts = [0]
            else:
                starts = list(range(0, total - length + 1, hop))
                if starts[-1] != total - length:
                    starts.append(total - length)
            windows = np.stack([crop(track[s:], length, None) if total <= length else track[s:s + length] for s in starts])
            probs = torch.cat([model(torch.from_numpy(windows[i:i + batch])) for i in range(0, len(windows), batch)])
            out.append(probs.double().mean(dim=0).numpy())
    return np.stack(out)


def figures(truth, pred, kinds):
    roc, pr, rmse = [], [], []
    for j, kind in enumerate(kinds):
        if kind == "classification":
            y = (truth[:, j] >= 0.5).astype(int)
            if 0 < y.sum() < len(y):
                roc.append(roc_auc_score(y, pred[:, j]))
                pr.append(average_precision_score(y, pred[:, j]))
        else:
            rmse.append(math.sqrt(np.mean((truth[:, j] - pred[:, j]) ** 2)))
    mean = lambda v: float(np.mean(v)) if v else None
    return {"roc_auc": mean(roc), "pr_auc": mean(pr), "rmse": mean(rmse)}


def main():
    data_dir, seed = sys.argv[1], int(sys.argv[2])
    meta = json.load(open(os.path.join(data_dir, "meta.json")))
    load = lambda name: np.load(os.path.join(data_dir, name + ".npy"))
    tracks = {s: [np.ascontiguousarray(t) for t in split_tracks(load(s + "_x"), load(s + "_rows"), meta["width"])] for s in ("train", "valid", "test")}
    labels = {s: load(s + "_y").astype(np.float64) for s in ("train", "valid", "test")}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if meta["architecture"] == "spectrogram":
        front = SpectrogramFront(meta["n_mels"], meta["nf"])
    else:
        front = WaveformFront(meta["nf"])
    n_tags = labels["train"].shape[1]
    model = Tagger(front, n_tags, meta["backend_width"], meta["dense_units"], meta["dropout"])
    initialise(model, labels["train"].mean(axis=0))
    optimiser = torch.optim.Adam(model.parameters(), lr=meta["lr"], eps=1e-5)
    length, batch, hop = meta["patch_len"], meta["batch_size"], meta["hop_len"]
    best = (math.inf, 0, None)
    step, evaluation, train_seconds, stopped_early = 0, 0, 0.0, False
    train_x, train_y = tracks["train"], torch.from_numpy(labels["train"].astype(np.float32))
    while step < meta["max_steps"] and not stopped_early:
        order = rng.permutation(len(train_x))
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            x = torch.from_numpy(np.stack([crop(train_x[r], length, rng) for r in rows]))
            start = time.perf_counter()
            model.train()
            optimiser.zero_grad()
            loss = F.mse_loss(model(x), train_y[rows])
            loss.backward()
            optimiser.step()
            train_seconds += time.perf_counter() - start
            step += 1
            if step % meta["eval_every"] and step < meta["max_steps"]:
                continue
            precise_bn(model, train_x[: meta["bn_patches"]], length, batch, rng)
            valid = song_predictions(model, tracks["valid"], length, hop, batch)
            valid_loss = float(np.mean((valid - labels["valid"]) ** 2))
            evaluation += 1
            if valid_loss < best[0]:
                best = (valid_loss, evaluation, copy.deepcopy(model.state_dict()))
            elif evaluation - best[1] >= meta["patience"]:
                stopped_early = True
                break
            if step >= meta["max_steps"]:
                break
    model.load_state_dict(best[2])
    test = figures(labels["test"], song_predictions(model, tracks["test"], length, hop, batch), meta["kinds"])
    print(json.dumps({
        "bench": "recipe",
        "library": f"PyTorch {torch.__version__}",
        "seed": seed,
        "threads": torch.get_num_threads(),
        "steps": step,
        "best_evaluation": best[1],
        "stopped_early": stopped_early,
        "seconds_per_step": train_seconds / max(step, 1),
        **{f"test_{k}": v for k, v in test.items()},
    }))


def split_tracks(flat, rows, width):
    """Tracks of `rows[i]` rows of `width` values each, concatenated in `flat`."""
    out, at = [], 0
    for n in rows.astype(int):
        track = flat[at:at + n * width]
        out.append(track.reshape(n, width) if width > 1 else track)
        at += n * width
    return out


if __name__ == "__main__":
    main()
