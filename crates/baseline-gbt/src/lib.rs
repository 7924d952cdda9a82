//! # baseline-gbt — GBT baseline for tagscale
//!
//! The hand-crafted-features baseline: one gradient-boosted-trees model per tag (forust-ml) on the descriptor vectors of `audio-features`, with predictions in the same layout as the deep models (SPEC §3, §7).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
