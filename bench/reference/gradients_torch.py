#!/usr/bin/env python3
"""Gradient accuracy: recomputes the loss gradients `tagscale-bench gradients` wrote, with the
same weights, input and targets, in float64 and float32 PyTorch (the model of recipe_torch.py,
written from the SPEC and sharing no code with tagscale), and prints one JSON line: each
side's relative error against float64, per trainable tensor and summarised.

The relative error of a tensor is ||g - g64|| / ||g64||.

Usage: gradients_torch.py DIR
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recipe_torch as R  # noqa: E402


def load(d, name):
    return np.load(os.path.join(d, name))


def model_for(meta):
    if meta["model"] == "waveform":
        front = R.WaveformFront(meta["nf"])
    else:
        front = R.SpectrogramFront(meta["n_mels"], meta["nf"])
    return R.Tagger(front, meta["n_tags"], meta["backend_width"], meta["dense_units"], 0.0)


def gradients(d, meta, dtype):
    model = model_for(meta)
    params = list(model.parameters())
    if len(params) != len(meta["tensors"]):
        raise SystemExit(f"PyTorch's model has {len(params)} tensors, tagscale's {len(meta['tensors'])}")
    with torch.no_grad():
        for i, p in enumerate(params):
            v = load(d, f"param-{i:03}.npy")
            if p.dim() == 2:  # Linear: Burn stores [in, out], PyTorch [out, in]
                v = v.T
            if tuple(v.shape) != tuple(p.shape):
                raise SystemExit(f"{meta['tensors'][i]}: shape {v.shape} vs PyTorch's {tuple(p.shape)}")
            p.copy_(torch.from_numpy(np.ascontiguousarray(v)))
    model = model.to(dtype).train()
    x = torch.from_numpy(load(d, "x.npy")).to(dtype)
    if meta["model"] == "spectrogram":
        x = x.reshape(meta["batch"], meta["len"], meta["n_mels"])
    y = model(x)
    loss = ((y - torch.from_numpy(load(d, "targets.npy")).to(dtype)) ** 2).mean()
    loss.backward()
    grads = [(p.grad.T if p.dim() == 2 else p.grad).detach().double().numpy() for p in params]
    return y.detach().double().numpy(), grads


def rel(a, exact):
    return float(np.linalg.norm(a.astype(np.float64) - exact) / np.linalg.norm(exact))


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    y64, g64 = gradients(d, meta, torch.float64)
    y32, g32 = gradients(d, meta, torch.float32)
    ours = [rel(load(d, f"grad-{i:03}.npy"), g) for i, g in enumerate(g64)]
    theirs = [rel(g, e) for g, e in zip(g32, g64)]
    print(json.dumps({
        "bench": "gradients",
        "library": f"PyTorch {torch.__version__}",
        "model": meta["model"],
        "tensors": len(ours),
        "output": {"tagscale": rel(load(d, "output.npy"), y64), "torch_f32": rel(y32, y64)},
        "max": {"tagscale": max(ours), "torch_f32": max(theirs)},
        "median": {"tagscale": float(np.median(ours)), "torch_f32": float(np.median(theirs))},
        "per_tensor": {n: {"tagscale": o, "torch_f32": t} for n, o, t in zip(meta["tensors"], ours, theirs)},
    }))


if __name__ == "__main__":
    main()
