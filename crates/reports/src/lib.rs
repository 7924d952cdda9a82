//! # reports — Reports for tagscale
//!
//! Δ-tables (Markdown, LaTeX booktabs, CSV), learning curves and training curves (plotters, PNG + SVG with an embedded font), per-tag tables and qualitative examples, rendered from the run store alone (SPEC §10).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
