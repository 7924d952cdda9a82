//! # models — Models for tagscale
//!
//! Burn 0.22 modules of the paper: the musically motivated spectrogram front-end, the sample-level waveform front-end, the shared back-end, song-level inference over moving windows, checkpoints, and backend selection (flex, libtorch, cuda) (SPEC §5, §6).
//!
//! Not built yet: the crate holds its place in the workspace (SPEC §2) until its issue lands.
