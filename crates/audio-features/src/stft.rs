//! Short-time power spectra with librosa's framing (periodic Hann window, centred frames
//! zero-padded at the ends).
//!
//! A real FFT of `n_fft` samples is a complex FFT of `n_fft / 2` (even samples as real parts,
//! odd as imaginary) followed by an unpacking pass; this is realfft's `RealToComplexEven` with
//! the unpacking fused into the power computation and run across four frames at
//! once in vector lanes, for the log-mel loop (realfft's own pass is scalar, and with the
//! transposition into lanes it took as long as the complex FFT). The same FFT plan and the
//! same operations in the same order: realfft's bits (tested).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::matrix::Matrix;

/// Frames per block of the log-mel loop: one AVX2 register of f64.
pub(crate) const FRAME_LANES: usize = 4;

/// Short-time power spectrum of `n_fft`-sample frames every `hop` samples.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f64>,
    half_fft: Arc<dyn Fft<f64>>,
    /// realfft's unpacking twiddles: `½·e^{-2πik/n_fft}` for k in `1..n_fft / 4`.
    twiddles: Vec<Complex<f64>>,
}

/// How [`Stft::unpack_power`] runs: the portable loop, or AVX2 with the lanes transposed in
/// registers (the portable loop gathers them one value at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unpack {
    Portable,
    /// Only where the CPU is known to have AVX2: [`Stft::unpack_power`] relies on it.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Stft {
    /// `n_fft` must be a power of two of at least 16, as [`crate::MelConfig::validate`]
    /// checks: the unpacking pairs bins around `n_fft / 4`.
    pub fn new(n_fft: usize, hop: usize) -> Self {
        assert!(
            n_fft >= 16 && n_fft.is_power_of_two() && hop > 0,
            "Stft::new({n_fft}, {hop}): n_fft must be a power of two >= 16 and hop > 0"
        );
        let window = (0..n_fft)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos())
            .collect();
        let twiddles = (1..n_fft / 4)
            .map(|k| {
                let angle = -2.0 * std::f64::consts::PI / n_fft as f64 * k as f64;
                Complex::new(angle.cos(), angle.sin()) * 0.5
            })
            .collect();
        Self {
            n_fft,
            hop,
            window,
            half_fft: FftPlanner::<f64>::new().plan_fft_forward(n_fft / 2),
            twiddles,
        }
    }

    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Number of frames of `samples` input samples.
    fn frames_for(&self, samples: usize) -> usize {
        centred_frames(samples, self.hop)
    }

    /// Call `visit(frame_index, power_bins)` for every frame of `y`.
    pub fn for_each_power_frame(&self, y: &[f32], mut visit: impl FnMut(usize, &[f64])) {
        let mut buffers = self.frame_buffers::<1>();
        let mut power = vec![[0.0f64; 1]; self.bins()];
        for t in 0..self.frames_for(y.len()) {
            self.half_spectrum(y, t, &mut buffers, 0);
            self.unpack_power_portable(&buffers.spectra, &mut power);
            visit(t, power.as_flattened());
        }
    }

    /// The whole power spectrogram as a `[frames, bins]` matrix.
    pub fn power(&self, y: &[f32]) -> Matrix {
        let mut out = Matrix::zeros(self.frames_for(y.len()), self.bins());
        self.for_each_power_frame(y, |t, p| out.row_mut(t).copy_from_slice(p));
        out
    }

    pub(crate) fn frame_buffers<const LANES: usize>(&self) -> FrameBuffers<LANES> {
        let half = self.n_fft / 2;
        FrameBuffers {
            input: vec![Complex::default(); half],
            spectra: std::array::from_fn(|_| vec![Complex::default(); half]),
            scratch: vec![Complex::default(); self.half_fft.get_outofplace_scratch_len()],
        }
    }

    /// The half-length complex FFT of frame `t` of `y`, in `buffers.spectra[lane]`.
    #[inline(always)]
    pub(crate) fn half_spectrum<const LANES: usize>(
        &self,
        y: &[f32],
        t: usize,
        buffers: &mut FrameBuffers<LANES>,
        lane: usize,
    ) {
        let FrameBuffers {
            input,
            spectra,
            scratch,
        } = buffers;
        // Even samples are the real parts, odd samples the imaginary ones.
        let packed = as_interleaved(input);
        let start = (t * self.hop) as isize - (self.n_fft / 2) as isize;
        match usize::try_from(start) {
            // Interior frames (all but a few at each end): a straight windowed copy.
            Ok(s) if s + self.n_fft <= y.len() => {
                for ((slot, &v), w) in packed
                    .iter_mut()
                    .zip(&y[s..s + self.n_fft])
                    .zip(&self.window)
                {
                    *slot = f64::from(v) * w;
                }
            }
            // Edge frames reach into the zero padding of center=True.
            _ => {
                for (i, (slot, w)) in packed.iter_mut().zip(&self.window).enumerate() {
                    let sample = usize::try_from(start + i as isize)
                        .ok()
                        .and_then(|j| y.get(j))
                        .map_or(0.0, |&v| f64::from(v));
                    *slot = sample * w;
                }
            }
        }
        self.half_fft
            .process_outofplace_with_scratch(input, &mut spectra[lane], scratch);
    }

    /// Each lane's power spectrum `power[bin][lane]` from its half-length FFT.
    #[inline(always)]
    pub(crate) fn unpack_power(
        &self,
        how: Unpack,
        spectra: &[Vec<Complex<f64>>; FRAME_LANES],
        power: &mut [[f64; FRAME_LANES]],
    ) {
        match how {
            Unpack::Portable => self.unpack_power_portable(spectra, power),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Unpack::Avx2` is only chosen once the CPU is known to have AVX2.
            Unpack::Avx2 => unsafe { self.unpack_power_avx2(spectra, power) },
        }
    }

    /// realfft's unpacking (the same operations in the same order) followed by `norm_sqr`,
    /// lane by lane.
    #[inline(always)]
    fn unpack_power_portable<const LANES: usize>(
        &self,
        z: &[Vec<Complex<f64>>; LANES],
        power: &mut [[f64; LANES]],
    ) {
        let half = self.n_fft / 2;
        self.unpack_edges(z, power);
        for (k, tw) in (1..self.n_fft / 4).zip(&self.twiddles) {
            let (mut low, mut high) = ([0.0f64; LANES], [0.0f64; LANES]);
            for l in 0..LANES {
                (low[l], high[l]) = unpack_pair(z[l][k], z[l][half - k], *tw);
            }
            power[k] = low;
            power[half - k] = high;
        }
    }

    /// The bins without a twiddle: 0, `n_fft / 2`, and `n_fft / 4`, whose unpacking only
    /// negates its imaginary part, which leaves its power.
    #[inline(always)]
    fn unpack_edges<const LANES: usize>(
        &self,
        z: &[Vec<Complex<f64>>; LANES],
        power: &mut [[f64; LANES]],
    ) {
        let (half, quarter) = (self.n_fft / 2, self.n_fft / 4);
        let real = |re: f64| Complex::new(re, 0.0).norm_sqr();
        power[0] = std::array::from_fn(|l| real(z[l][0].re + z[l][0].im));
        power[half] = std::array::from_fn(|l| real(z[l][0].re - z[l][0].im));
        power[quarter] = std::array::from_fn(|l| z[l][quarter].norm_sqr());
    }

    /// [`Self::unpack_power_portable`] with two bins of four lanes per step: each lane's two
    /// adjacent complex values are one 256-bit load, and four such loads transpose into the
    /// bins' real and imaginary parts across lanes. The arithmetic is `unpack_pair`'s, op for
    /// op (no fused multiply-adds), so the bits are the portable loop's (tested).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn unpack_power_avx2(
        &self,
        z: &[Vec<Complex<f64>>; FRAME_LANES],
        power: &mut [[f64; FRAME_LANES]],
    ) {
        use std::arch::x86_64::*;

        /// Re and im of bins `k` and `k + 1` across the four lanes, from `&z[lane][k]`.
        #[target_feature(enable = "avx2")]
        fn load_two_bins(z: &[Vec<Complex<f64>>; FRAME_LANES], k: usize) -> [__m256d; 4] {
            let pair = |l: usize| {
                let values: &[Complex<f64>; 2] =
                    z[l][k..k + 2].try_into().expect("a slice of two bins");
                // SAFETY: `values` is two `Complex<f64>` (`repr(C)`): four contiguous f64.
                unsafe { _mm256_loadu_pd(values.as_ptr().cast()) }
            };
            let (a0, a1, a2, a3) = (pair(0), pair(1), pair(2), pair(3));
            let (re01, im01) = (_mm256_unpacklo_pd(a0, a1), _mm256_unpackhi_pd(a0, a1));
            let (re23, im23) = (_mm256_unpacklo_pd(a2, a3), _mm256_unpackhi_pd(a2, a3));
            [
                _mm256_permute2f128_pd(re01, re23, 0x20),
                _mm256_permute2f128_pd(im01, im23, 0x20),
                _mm256_permute2f128_pd(re01, re23, 0x31),
                _mm256_permute2f128_pd(im01, im23, 0x31),
            ]
        }

        #[target_feature(enable = "avx2")]
        fn pair_power(
            (out_re, out_im): (__m256d, __m256d),
            (rev_re, rev_im): (__m256d, __m256d),
            tw: Complex<f64>,
        ) -> ([f64; FRAME_LANES], [f64; FRAME_LANES]) {
            let (tw_re, tw_im, half) = (
                _mm256_set1_pd(tw.re),
                _mm256_set1_pd(tw.im),
                _mm256_set1_pd(0.5),
            );
            let (sum_re, sum_im) = (_mm256_add_pd(out_re, rev_re), _mm256_add_pd(out_im, rev_im));
            let (diff_re, diff_im) = (_mm256_sub_pd(out_re, rev_re), _mm256_sub_pd(out_im, rev_im));
            let twiddled_re =
                _mm256_add_pd(_mm256_mul_pd(sum_im, tw_re), _mm256_mul_pd(diff_re, tw_im));
            let twiddled_im =
                _mm256_sub_pd(_mm256_mul_pd(sum_im, tw_im), _mm256_mul_pd(diff_re, tw_re));
            let half_sum_re = _mm256_mul_pd(half, sum_re);
            let half_diff_im = _mm256_mul_pd(half, diff_im);
            let norm_sqr = |re: __m256d, im: __m256d| {
                let mut lanes = [0.0f64; FRAME_LANES];
                let value = _mm256_add_pd(_mm256_mul_pd(re, re), _mm256_mul_pd(im, im));
                // SAFETY: `lanes` is four f64.
                unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), value) };
                lanes
            };
            (
                norm_sqr(
                    _mm256_add_pd(half_sum_re, twiddled_re),
                    _mm256_add_pd(half_diff_im, twiddled_im),
                ),
                norm_sqr(
                    _mm256_sub_pd(half_sum_re, twiddled_re),
                    _mm256_sub_pd(twiddled_im, half_diff_im),
                ),
            )
        }

        let (half, quarter) = (self.n_fft / 2, self.n_fft / 4);
        self.unpack_edges(z, power);
        // Bins k and k + 1 pair with half − k and half − k − 1, loaded from half − k − 1.
        let mut k = 1;
        while k + 1 < quarter {
            let [re_k, im_k, re_k1, im_k1] = load_two_bins(z, k);
            let [rev_re_k1, rev_im_k1, rev_re_k, rev_im_k] = load_two_bins(z, half - k - 1);
            let (tw_k, tw_k1) = (self.twiddles[k - 1], self.twiddles[k]);
            (power[k], power[half - k]) = pair_power((re_k, im_k), (rev_re_k, rev_im_k), tw_k);
            (power[k + 1], power[half - k - 1]) =
                pair_power((re_k1, im_k1), (rev_re_k1, rev_im_k1), tw_k1);
            k += 2;
        }
        // An odd number of twiddled bins leaves one.
        if k < quarter {
            for (l, lane) in z.iter().enumerate() {
                (power[k][l], power[half - k][l]) =
                    unpack_pair(lane[k], lane[half - k], self.twiddles[k - 1]);
            }
        }
    }
}

/// Frames of `samples` samples every `hop` with librosa's `center=True`: one per hop
/// position from the first sample on, the ends zero-padded.
pub fn centred_frames(samples: usize, hop: usize) -> usize {
    1 + samples / hop
}

/// Complex values as their interleaved real and imaginary parts.
fn as_interleaved(values: &mut [Complex<f64>]) -> &mut [f64] {
    // SAFETY: `Complex<f64>` is `repr(C)` with fields `re, im` (num-complex guarantees its
    // layout is `[f64; 2]`), so `n` complex values are `2n` contiguous, aligned f64.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<f64>(), 2 * values.len()) }
}

/// realfft's unpacking of bins `k` and `n_fft / 2 − k` from the half-length FFT's values
/// there, `out` and `out_rev`, and the bin's twiddle; returns their powers.
#[inline(always)]
fn unpack_pair(out: Complex<f64>, out_rev: Complex<f64>, tw: Complex<f64>) -> (f64, f64) {
    let sum = out + out_rev;
    let diff = out - out_rev;
    let twiddled_re = sum.im * tw.re + diff.re * tw.im;
    let twiddled_im = sum.im * tw.im - diff.re * tw.re;
    let half_sum_re = 0.5 * sum.re;
    let half_diff_im = 0.5 * diff.im;
    (
        Complex::new(half_sum_re + twiddled_re, half_diff_im + twiddled_im).norm_sqr(),
        Complex::new(half_sum_re - twiddled_re, twiddled_im - half_diff_im).norm_sqr(),
    )
}

/// The FFT input, scratch, and each lane's half-length spectrum, reused from frame to frame.
pub(crate) struct FrameBuffers<const LANES: usize> {
    input: Vec<Complex<f64>>,
    pub(crate) spectra: [Vec<Complex<f64>>; LANES],
    scratch: Vec<Complex<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.37).sin() * 0.6 + (i as f32 * 0.011).cos() * 0.3)
            .collect()
    }

    #[test]
    fn power_spectra_are_realfft_bits() {
        use realfft::RealFftPlanner;
        for n_fft in [16, 64, 512, 2048] {
            let hop = n_fft / 4;
            let stft = Stft::new(n_fft, hop);
            let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
            let y = signal(n_fft * 5 + 7);
            let ours = stft.power(&y);
            for t in 0..ours.rows() {
                let mut input: Vec<f64> = (0..n_fft)
                    .map(|i| {
                        let j = (t * hop + i) as isize - (n_fft / 2) as isize;
                        let v = usize::try_from(j).ok().and_then(|j| y.get(j));
                        v.map_or(0.0, |&v| f64::from(v)) * stft.window[i]
                    })
                    .collect();
                let mut spectrum = fft.make_output_vec();
                fft.process(&mut input, &mut spectrum)
                    .expect("plan lengths");
                let reference: Vec<u64> = spectrum.iter().map(|c| c.norm_sqr().to_bits()).collect();
                let ours: Vec<u64> = ours.row(t).iter().map(|p| p.to_bits()).collect();
                assert_eq!(ours, reference, "n_fft {n_fft}, frame {t}");
            }
        }
    }

    /// Both unpackings of four frames against the frame-at-a-time power, bit for bit. A power
    /// of two always leaves an odd number of twiddled bins (`n_fft / 4 − 1`): the AVX2 loop's
    /// pairs and its last bin both run.
    #[test]
    fn lane_unpacking_gives_the_frame_at_a_time_bits() {
        for n_fft in [16, 32, 64, 512] {
            let stft = Stft::new(n_fft, n_fft / 2);
            let y = signal(n_fft * 3);
            let frame_at_a_time = stft.power(&y);
            let mut buffers = stft.frame_buffers::<FRAME_LANES>();
            for lane in 0..FRAME_LANES {
                stft.half_spectrum(&y, lane + 1, &mut buffers, lane);
            }
            let mut ways = vec![Unpack::Portable];
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                ways.push(Unpack::Avx2);
            }
            for how in ways {
                let mut power = vec![[0.0f64; FRAME_LANES]; stft.bins()];
                stft.unpack_power(how, &buffers.spectra, &mut power);
                for lane in 0..FRAME_LANES {
                    let ours: Vec<u64> = power.iter().map(|p| p[lane].to_bits()).collect();
                    let reference: Vec<u64> = frame_at_a_time
                        .row(lane + 1)
                        .iter()
                        .map(|p| p.to_bits())
                        .collect();
                    assert_eq!(ours, reference, "{how:?}, n_fft {n_fft}, lane {lane}");
                }
            }
        }
    }
}
