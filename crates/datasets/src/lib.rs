//! # datasets — Datasets for tagscale
//!
//! Manifests, tag schema (classification / regression), fixed splits, nested training subsets, the built-in synthetic corpus `synth`, importers for MagnaTagATune, MTG-Jamendo and CSV/TSV manifests, and the sharded feature cache (SPEC §4).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
