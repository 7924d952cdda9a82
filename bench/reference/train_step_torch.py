#!/usr/bin/env python3
"""Reference timing: one training step of the paper's models in PyTorch (CPU), same
architecture as crates/models (SPEC §5): conv -> ReLU -> BN everywhere, TF "same" padding,
50 tags, batch 16, MSE on sigmoid outputs, Adam 1e-3.

Usage: train_step_torch.py {spectrogram,waveform} PATCH_SECONDS [STEPS] [--nf 16]
    [--backend-width 512] [--dense-units 500] [--n-mels 96] [--tags 50] [--threads N]
(prints one JSON line; widths default to the paper's, threads to torch's default). The FLOPs
of one example's forward pass are counted by torch's own FlopCounterMode.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn1d(cin, cout, k, stride=1):
    return nn.ModuleDict({"conv": nn.Conv1d(cin, cout, k, stride=stride), "bn": nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01)})


def run1d(block, x, pad=(0, 0)):
    if pad != (0, 0):
        x = F.pad(x, pad)
    return block["bn"](F.relu(block["conv"](x)))


class Spectrogram(nn.Module):
    def __init__(self, n_mels=96, nf=16):
        super().__init__()
        self.timbral = nn.ModuleList()
        for share in (0.9, 0.4):
            kf = int(share * n_mels)
            for kt, filters in ((7, nf), (3, 2 * nf), (1, 4 * nf)):
                self.timbral.append(nn.ModuleDict({
                    "conv": nn.Conv2d(1, filters, (kt, kf)),
                    "bn": nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01),
                }))
        self.temporal = nn.ModuleList([conv_bn1d(1, f, k) for k, f in ((165, nf), (128, 2 * nf), (64, 4 * nf), (32, 8 * nf))])
        self.channels = 29 * nf

    def forward(self, x):  # [B, T, F]
        image = x.unsqueeze(1)
        maps = []
        for b in self.timbral:
            kt = b["conv"].kernel_size[0]
            y = F.pad(image, (0, 0, (kt - 1) // 2, (kt - 1) // 2))
            y = b["bn"](F.relu(b["conv"](y)))
            maps.append(y.max(dim=3).values)
        env = x.mean(dim=2).unsqueeze(1)
        for b in self.temporal:
            k = b["conv"].kernel_size[0]
            maps.append(run1d(b, env, ((k - 1) // 2, k - 1 - (k - 1) // 2)))
        return torch.cat(maps, dim=1)


class Waveform(nn.Module):
    def __init__(self, nf=16):
        super().__init__()
        # The paper's widths (nf = 16) scaled by nf / 16, at least 1 (SPEC §5).
        widths = [max(1, w * nf // 16) for w in (64, 64, 64, 128, 128, 128, 256)]
        self.stem = conv_bn1d(1, widths[0], 3, stride=3)
        self.blocks = nn.ModuleList()
        c = widths[0]
        for w in widths[1:]:
            self.blocks.append(conv_bn1d(c, w, 3))
            c = w
        self.channels = c

    def forward(self, x):  # [B, 1, N]
        x = run1d(self.stem, x)
        for b in self.blocks:
            x = F.max_pool1d(run1d(b, x), 3, 3)
        return x


class Model(nn.Module):
    def __init__(self, front, n_tags=50, width=512, dense=500):
        super().__init__()
        self.front = front
        self.conv1 = conv_bn1d(front.channels, width, 7)
        self.conv2 = conv_bn1d(width, width, 7)
        self.conv3 = conv_bn1d(width, width, 7)
        self.dense = nn.Linear(2 * width, dense)
        self.dense_bn = nn.BatchNorm1d(dense, eps=1e-3, momentum=0.01)
        self.out = nn.Linear(dense, n_tags)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = self.front(x)
        x1 = run1d(self.conv1, x)
        x2 = run1d(self.conv2, x1, (3, 3)) + x1
        p = F.max_pool1d(x2, 2, 2)
        x3 = run1d(self.conv3, p, (3, 3)) + p
        s = torch.cat([x3.max(dim=2).values, x3.mean(dim=2)], dim=1)
        h = self.dense_bn(F.relu(self.dense(self.drop(s))))
        return torch.sigmoid(self.out(self.drop(h)))


def forward_flops(model, x):
    """FLOPs of one example's forward pass, as torch counts them (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x[:1])
    model.train()
    return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["spectrogram", "waveform"])
    parser.add_argument("seconds", type=float)
    parser.add_argument("steps", type=int, nargs="?", default=5)
    parser.add_argument("--nf", type=int, default=16)
    parser.add_argument("--backend-width", type=int, default=512)
    parser.add_argument("--dense-units", type=int, default=500)
    parser.add_argument("--n-mels", type=int, default=96)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kind, seconds, steps, batch = args.kind, args.seconds, args.steps, args.batch
    torch.manual_seed(1)
    widths = dict(n_tags=args.tags, width=args.backend_width, dense=args.dense_units)
    if kind == "spectrogram":
        model = Model(Spectrogram(n_mels=args.n_mels, nf=args.nf), **widths)
        x = torch.rand(batch, int(seconds * 16000 / 256) + 1, args.n_mels) - 0.5
    else:
        model = Model(Waveform(nf=args.nf), **widths)
        x = torch.rand(batch, 1, int(round(seconds * 16000))) - 0.5
    y = (torch.arange(batch * args.tags).reshape(batch, args.tags) % 3 == 0).float()
    flops = forward_flops(model, x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step():
        start = time.perf_counter()
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    step()  # warm-up
    times = sorted(step() for _ in range(steps))
    per_step = times[len(times) // 2]
    print(json.dumps({
        "bench": "train_step",
        "library": f"PyTorch {torch.__version__}",
        "model": kind,
        "threads": torch.get_num_threads(),
        "patch_seconds": seconds,
        "seconds_per_step": per_step,
        "samples_per_second": batch / per_step,
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_flops": flops,
    }))


if __name__ == "__main__":
    main()
