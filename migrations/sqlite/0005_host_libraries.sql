-- The numerical libraries the run's process had loaded whose version changes results
-- (e.g. "libtorch 2.9.0+cu128 (CUDA 12.8)"); empty for pure-Rust (flex) runs and for runs
-- recorded before this column existed.
ALTER TABLE runs ADD COLUMN libraries TEXT NOT NULL DEFAULT '';
