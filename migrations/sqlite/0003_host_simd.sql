-- The SIMD features of the run's CPU that change floating-point results (space-separated,
-- e.g. "sse4_2 avx avx2 fma"); empty for runs recorded before this column existed.
ALTER TABLE runs ADD COLUMN simd TEXT NOT NULL DEFAULT '';
