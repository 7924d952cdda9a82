# tagscale tasks. `just --list` shows them.

# Run a grid: every cell not yet FINISHED (e.g. `just sweep experiments/scale.toml`).
sweep GRID *ARGS:
    cargo run --release -q -- sweep {{GRID}} {{ARGS}}

# Run one cell of a grid.
run GRID CELL:
    cargo run --release -q -- run {{GRID}} --cell {{CELL}}

# Write the report of the newest sweep (or: just report --sweep 3, just report GRID.toml).
report *ARGS:
    cargo run --release -q -- report {{ARGS}}

# Re-run a logged run by its ID and verify its metrics.
rerun ID:
    cargo run --release -q -- rerun {{ID}} --verify

# Run the whole test suite (the README's test command).
test:
    cargo test --workspace

# Format check and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Every benchmark beside its reference (librosa, ...); rewrites bench/RESULTS.md.
bench:
    python3 bench/run.py

# Regenerate the librosa parity fixtures of crates/audio-features (needs librosa + soundfile).
fixtures:
    python3 -m venv .venv-ref
    .venv-ref/bin/pip install -q librosa==0.11.0 soundfile
    .venv-ref/bin/python tools/reference/make_audio_fixtures.py

# Dump the log-mel of one audio file as .npy.
mel FILE OUT:
    cargo run --release -q -- features mel {{FILE}} --out {{OUT}}

# The models' tests on the libtorch backend (needs torch==2.9.0 in .venv-torch: see README).
test-tch:
    test -x .venv-torch/bin/python || (python3 -m venv .venv-torch && .venv-torch/bin/pip install -q torch==2.9.0)
    PATH="$PWD/.venv-torch/bin:$PATH" LIBTORCH_USE_PYTORCH=1 \
    LD_LIBRARY_PATH="$(.venv-torch/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib" \
    TAGSCALE_TEST_BACKEND=libtorch cargo test -p models --features tch
