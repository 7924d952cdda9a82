#!/usr/bin/env python3
"""Make the README's dashboard screenshots (docs/dashboard-*.png) with Debian's headless Chromium.

Usage: python3 tools/dashboard_screenshot.py [TAGSCALE_BINARY]

Runs `experiments/smoke.toml` with a third training-set size (so the learning curves get their
fits) in a scratch directory, serves it with `tagscale ui` on loopback, waits until the sweep's
analysis is computed, and has `chromium --headless --screenshot` take the sweep page, a run's
page and the Listen page. Needs `apt-get install chromium`; the binary defaults to
target/release/tagscale (`cargo build --release`).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs")
# (path, file, window height): the page, where the picture goes, how much of it to show.
PAGES = [
    ("/sweeps/1", "dashboard-sweep.png", 1900),
    ("/runs/{run}", "dashboard-run.png", 1500),
    ("/sweeps/1/listen", "dashboard-listen.png", 1100),
]


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def main():
    tagscale = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                               else os.path.join(ROOT, "target", "release", "tagscale"))
    chromium = shutil.which("chromium") or sys.exit("needs Debian's chromium (apt-get install chromium)")
    work = tempfile.mkdtemp(prefix="tagscale-screenshot-")
    grid = os.path.join(work, "smoke.toml")
    with open(os.path.join(ROOT, "experiments", "smoke.toml")) as f:
        text = f.read()
    sizes = "train_size = [24, 48]"
    if sizes not in text:
        sys.exit(f"experiments/smoke.toml no longer says `{sizes}`: update this script")
    with open(grid, "w") as f:
        f.write(text.replace(sizes, "train_size = [16, 32, 48]"))
    env = dict(os.environ, TAGSCALE_DB=os.path.join(work, "tagscale.db"),
               TAGSCALE_DATA=os.path.join(work, "data"), TAGSCALE_RUNS=os.path.join(work, "runs"))
    subprocess.run([tagscale, "--quiet", "sweep", grid, "--no-report"], env=env, cwd=work,
                   check=True)
    runs = json.loads(subprocess.run([tagscale, "runs", "list", "--json"], env=env, cwd=work,
                                     check=True, stdout=subprocess.PIPE, text=True).stdout)
    run = max((r for r in runs if r["model"] == "spectrogram"), key=lambda r: r["train_size"])["id"]
    ui = subprocess.Popen([tagscale, "ui", "--bind", "127.0.0.1:0", "--quiet"], env=env,
                          cwd=work, stdout=subprocess.PIPE, text=True)
    try:
        base = ui.stdout.readline().strip().removeprefix("dashboard: ").rstrip("/")
        deadline = time.time() + 300
        while 'class="muted updating"' in fetch(f"{base}/sweeps/1/analysis"):
            if time.time() > deadline:
                sys.exit("the sweep's analysis was not computed in 5 minutes")
            time.sleep(0.2)
        os.makedirs(OUT, exist_ok=True)
        for path, name, height in PAGES:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                            f"--user-data-dir={os.path.join(work, 'chromium')}",
                            f"--window-size=1400,{height}", "--virtual-time-budget=5000",
                            f"--screenshot={os.path.join(OUT, name)}", base + path.format(run=run)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"wrote docs/{name}")
    finally:
        ui.kill()
        ui.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
