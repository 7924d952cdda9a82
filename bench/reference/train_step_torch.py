#!/usr/bin/env python3
"""Reference timing: one training step of the paper's models in PyTorch (CPU), same
architecture as crates/models (SPEC §5): conv -> ReLU -> BN everywhere, TF "same" padding,
50 tags, batch 16, MSE on sigmoid outputs, Adam 1e-3.

Usage: train_step_torch.py {spectrogram,waveform} PATCH_SECONDS [STEPS]   (prints one JSON line)
"""
import json
import sys
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
    def __init__(self):
        super().__init__()
        self.stem = conv_bn1d(1, 64, 3, stride=3)
        widths = [64, 64, 128, 128, 128, 256]
        self.blocks = nn.ModuleList()
        c = 64
        for w in widths:
            self.blocks.append(conv_bn1d(c, w, 3))
            c = w
        self.channels = 256

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


def main():
    kind, seconds = sys.argv[1], float(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    torch.manual_seed(1)
    batch = 16
    if kind == "spectrogram":
        model = Model(Spectrogram())
        x = torch.rand(batch, int(seconds * 16000 / 256) + 1, 96) - 0.5
    else:
        model = Model(Waveform())
        x = torch.rand(batch, 1, int(round(seconds * 16000))) - 0.5
    y = (torch.arange(batch * 50).reshape(batch, 50) % 3 == 0).float()
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
    }))


if __name__ == "__main__":
    main()
