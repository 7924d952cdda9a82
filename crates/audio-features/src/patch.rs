//! Patch geometry: how long a patch is, where training crops it, where prediction slides it.
//!
//! Works on any row-major `[rows, width]` buffer, so the same code cuts waveforms (width 1)
//! and spectrograms (width `n_mels`). Tracks shorter than a patch are repeat-padded: the
//! track is tiled until the patch is full.

use rand::RngExt;

/// Spectrogram frames in a patch of `seconds`: `floor(seconds * sr / hop) + 1` (3 s -> 188).
pub fn frames_per_patch(seconds: f64, sample_rate: u32, hop: usize) -> usize {
    (seconds * f64::from(sample_rate) / hop as f64).floor() as usize + 1
}

/// Waveform samples in a patch of `seconds`.
pub fn samples_per_patch(seconds: f64, sample_rate: u32) -> usize {
    (seconds * f64::from(sample_rate)).round() as usize
}

/// A uniformly random patch start for training (0 when the track is not longer than a patch).
pub fn random_start<R: rand::Rng + ?Sized>(total: usize, patch: usize, rng: &mut R) -> usize {
    if total <= patch {
        0
    } else {
        rng.random_range(0..=total - patch)
    }
}

/// Starts of the moving windows that cover a whole track for song-level prediction: every
/// `hop` rows, plus one window flush with the end when the last regular one stops short.
pub fn window_starts(total: usize, patch: usize, hop: usize) -> Vec<usize> {
    if total <= patch {
        return vec![0];
    }
    let hop = hop.max(1);
    let last = total - patch;
    let mut starts: Vec<usize> = (0..=last).step_by(hop).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

/// Copy `len` rows of `width` values from row `start`, tiling the track when it is too short.
pub fn take_rows<T: Copy>(data: &[T], width: usize, start: usize, len: usize) -> Vec<T> {
    let rows = data.len() / width.max(1);
    if rows == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(len * width);
    // Runs of consecutive rows, one copy each: a waveform's rows are single samples, so a
    // copy per row was a call per sample.
    let (mut row, mut left) = (start % rows, len);
    while left > 0 {
        let run = left.min(rows - row);
        out.extend_from_slice(&data[row * width..(row + run) * width]);
        (row, left) = (0, left - run);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn patch_lengths_follow_the_spec() {
        assert_eq!(frames_per_patch(3.0, 16_000, 256), 188);
        assert_eq!(frames_per_patch(15.0, 16_000, 256), 938);
        assert_eq!(samples_per_patch(15.0, 16_000), 240_000);
    }

    #[test]
    fn random_starts_are_seeded_and_in_range() {
        let draw = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..100)
                .map(|_| random_start(1000, 188, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        assert!(draw(3).iter().all(|&s| s <= 1000 - 188));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(random_start(100, 188, &mut rng), 0);
    }

    #[test]
    fn windows_cover_the_whole_track() {
        assert_eq!(window_starts(10, 4, 2), vec![0, 2, 4, 6]);
        assert_eq!(window_starts(11, 4, 2), vec![0, 2, 4, 6, 7]);
        assert_eq!(window_starts(3, 4, 2), vec![0]);
        assert_eq!(window_starts(4, 4, 2), vec![0]);
    }

    #[test]
    fn short_tracks_are_repeat_padded() {
        let data = [1, 10, 2, 20, 3, 30]; // 3 rows of width 2
        assert_eq!(
            take_rows(&data, 2, 0, 5),
            vec![1, 10, 2, 20, 3, 30, 1, 10, 2, 20]
        );
        assert_eq!(take_rows(&data, 2, 1, 2), vec![2, 20, 3, 30]);
        assert!(take_rows::<i32>(&[], 2, 0, 3).is_empty());
        // Against row-by-row tiling, for starts past the end and several wraps.
        let row_by_row = |width: usize, start: usize, len: usize| -> Vec<i32> {
            let rows = data.len() / width;
            (start..start + len)
                .flat_map(|r| data[r % rows * width..][..width].to_vec())
                .collect()
        };
        for (width, start, len) in [(2, 2, 7), (2, 4, 1), (1, 5, 13), (3, 1, 4), (2, 0, 0)] {
            assert_eq!(
                take_rows(&data, width, start, len),
                row_by_row(width, start, len),
                "width {width}, start {start}, len {len}"
            );
        }
    }
}
