//! # metrics — Evaluation metrics for tagscale
//!
//! ROC-AUC and PR-AUC with scikit-learn's exact semantics, RMSE, macro averages with skipped-tag reporting, seeded bootstrap confidence intervals, mean ± std over seeds, and Δ between systems (SPEC §7).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
