//! Channels-last 1-D convolution and max pooling over time as single operations on flex.
//!
//! The waveform front-end and the back-end run narrow convolutions (16–64 channels in the main
//! job) over thousands of time steps. Built from Burn's generic ops, a K-tap convolution was K
//! matmuls, K − 1 additions, a pad and a copy, and each matmul allocated, zeroed and copied its
//! output; pooling went through Burn's general 3-D pool with indices. At those widths that
//! bookkeeping cost more than the arithmetic. Here the convolution accumulates the K taps'
//! products straight into one output buffer (`gemm` on shifted rows, zero padding by clipping
//! the rows), the backward does the same for the input and weight gradients. Pooling is one
//! pass that, when a gradient will be needed, also records each window's winning step, so its
//! backward is a scatter rather than a second search.
//!
//! `unfold_time` lays each window of `kernel` consecutive steps side by side (im2col over time,
//! zero padding by clipping), so the spectrogram front-end's timbral convolutions are one GEMM
//! each; built from Burn's pad, narrows and `cat`, the copies went through a tiled transpose.
//!
//! Results do not depend on the thread count: work is split by batch entry, and the weight
//! gradient's per-group partial sums are added in a fixed order.
//!
//! Backend extensions for flex and autodiff over flex; other backends keep Burn's own ops
//! (see `layers::ConvBnTime`).

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use rayon::prelude::*;

use crate::fused::flex_tensor;
use crate::matmul::{View, gemm_into};

/// The operations, per backend.
#[backend_extension(Flex, Autodiff)]
pub trait ConvTimeOps: Backend {
    /// `x` `[batch, time, in]` convolved by `weight` `[out, in, kernel]` (Burn's `Conv1d`
    /// layout) plus `bias` `[out]`, stride 1, `time` zero-padded by `pad_before` /
    /// `pad_after`: `[batch, time + pad_before + pad_after − kernel + 1, out]`.
    fn conv_time(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self>;

    /// Gradients for `x`, `weight` and `bias` given the output's gradient.
    fn conv_time_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad_before: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Max over windows of `size` steps (stride `size`, a trailing partial window dropped) of
    /// `x` `[batch, time, channels]`: `[batch, time / size, channels]`.
    fn max_pool_time(x: FloatTensor<Self>, size: usize) -> FloatTensor<Self>;

    /// `max_pool_time`, and for each output the step of its window that won, as a float
    /// (`0..size`): what the backward needs, found while the window is read anyway.
    fn max_pool_time_argmax(
        x: FloatTensor<Self>,
        size: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The input's gradient `[batch, time, channels]`: each window's output gradient goes to
    /// the step `argmax` names (its first maximum), every other step gets zero.
    fn max_pool_time_backward(
        argmax: FloatTensor<Self>,
        size: usize,
        time: usize,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Each window of `kernel` consecutive steps of `x` `[batch, time, width]`, zero-padded by
    /// `pad_before` / `pad_after`, as one row: `[batch, frames, kernel · width]` with
    /// `frames = time + pad_before + pad_after − kernel + 1`, row `t` holding the padded
    /// steps `t..t + kernel` one after another (im2col over time).
    fn unfold_time(
        x: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self>;

    /// The input's gradient `[batch, time, width]`: each row's gradient added back onto the
    /// steps it copied.
    fn unfold_time_backward(
        output_grad: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        time: usize,
    ) -> FloatTensor<Self>;
}

/// `conv_time` on any device: the fused operation (see the module docs).
pub fn conv_time(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Tensor<1>,
    pad: (usize, usize),
) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as ConvTimeOps>::conv_time(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        pad.0,
        pad.1,
    ))
}

/// `max_pool_time` on any device: the fused operation (see the module docs).
pub fn max_pool_time(x: Tensor<3>, size: usize) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as ConvTimeOps>::max_pool_time(
        x.into_dispatch(),
        size,
    ))
}

/// `unfold_time` on any device: see [`ConvTimeOps::unfold_time`]; `pad` is (before, after).
pub fn unfold_time(x: Tensor<3>, kernel: usize, pad: (usize, usize)) -> Tensor<3> {
    if kernel == 1 && pad == (0, 0) {
        return x; // Each row is its own window.
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as ConvTimeOps>::unfold_time(
        x.into_dispatch(),
        kernel,
        pad.0,
        pad.1,
    ))
}

/// Whether `v` replaces `max` as a window's maximum: it is larger (so the first maximum
/// stays), or NaN (which propagates). `|`, not `||`: no branch in the pooling loops.
#[inline(always)]
fn takes_over(v: f32, max: f32) -> bool {
    (v > max) | v.is_nan()
}

/// Channels of a window scanned at once, their maxima (and winning steps) held in registers.
const POOL_LANES: usize = 8;

/// Max-pools `x` over time into `out` (`[batch, time / size, channels]`); with `TRACK`, also
/// writes each output's winning step (as f32) into `winner`, which is otherwise empty.
fn pool_series<const TRACK: bool>(x: &Series, size: usize, out: &mut [f32], winner: &mut [f32]) {
    let (steps, channels) = (x.time / size, x.channels);
    if steps == 0 || channels == 0 {
        return;
    }
    let entry_out = steps * channels;
    let pool = |out: &mut [f32], input: &[f32], winner: &mut [f32]| {
        for (w, window) in input.chunks_exact(size * channels).take(steps).enumerate() {
            let row = w * channels..(w + 1) * channels;
            let winner = winners::<TRACK>(winner, row.clone());
            pool_window::<TRACK>(window, channels, &mut out[row], winner);
        }
    };
    let entries = out
        .par_chunks_mut(entry_out)
        .zip(x.values().par_chunks(x.entry_len()));
    if TRACK {
        entries
            .zip(winner.par_chunks_mut(entry_out))
            .for_each(|((out, input), winner)| pool(out, input, winner));
    } else {
        entries.for_each(|(out, input)| pool(out, input, &mut []));
    }
}

/// One window `[size, channels]` → its per-channel maximum, `POOL_LANES` channels at a time
/// and the rest one by one.
#[inline(always)]
pub(crate) fn pool_window<const TRACK: bool>(
    window: &[f32],
    channels: usize,
    out: &mut [f32],
    winner: &mut [f32],
) {
    let blocked = channels - channels % POOL_LANES;
    for c in (0..blocked).step_by(POOL_LANES) {
        let lanes = c..c + POOL_LANES;
        let at = winners::<TRACK>(winner, lanes.clone());
        pool_lanes::<TRACK, POOL_LANES>(&window[c..], channels, &mut out[lanes], at);
    }
    for c in blocked..channels {
        let at = winners::<TRACK>(winner, c..c + 1);
        pool_lanes::<TRACK, 1>(&window[c..], channels, &mut out[c..=c], at);
    }
}

/// The winners' slice for `range` when tracking them; empty otherwise.
fn winners<const TRACK: bool>(winner: &mut [f32], range: Range<usize>) -> &mut [f32] {
    if TRACK { &mut winner[range] } else { &mut [] }
}

/// `L` adjacent channels of a window (`window` starts at the first of them). The running
/// maxima live in a local array, not in `out`: written through `out`, the compiler turns the
/// select into one conditional store per lane, whose branches mispredict on real activations.
#[inline(always)]
fn pool_lanes<const TRACK: bool, const L: usize>(
    window: &[f32],
    channels: usize,
    out: &mut [f32],
    winner: &mut [f32],
) {
    let mut best = [0.0f32; L];
    best.copy_from_slice(&window[..L]);
    let mut step_of = [0.0f32; L];
    for (step, values) in window.chunks(channels).enumerate().skip(1) {
        let (values, i) = (&values[..L], step as f32);
        for l in 0..L {
            let (v, take) = (values[l], takes_over(values[l], best[l]));
            best[l] = if take { v } else { best[l] };
            if TRACK {
                step_of[l] = if take { i } else { step_of[l] };
            }
        }
    }
    out.copy_from_slice(&best);
    if TRACK {
        winner.copy_from_slice(&step_of);
    }
}

/// Batch entries whose weight-gradient partial sums are accumulated together: fixed, so the
/// order of the additions (and the result) does not depend on the number of threads.
const WEIGHT_GRAD_GROUP: usize = 4;

/// A contiguous `[batch, time, channels]` f32 tensor.
struct Series {
    data: FlexTensor,
    batch: usize,
    time: usize,
    channels: usize,
}

impl Series {
    fn new(tensor: FlexTensor) -> Self {
        let data = tensor.to_contiguous();
        let shape = data.shape();
        Self {
            batch: shape[0],
            time: shape[1],
            channels: shape[2],
            data,
        }
    }

    fn values(&self) -> &[f32] {
        self.data.storage::<f32>()
    }

    fn entry_len(&self) -> usize {
        self.time * self.channels
    }
}

/// A kernel `[out, in, kernel]` (Burn's `Conv1d` layout) as taps `[kernel, in, out]`: each
/// tap a contiguous `in × out` matrix.
struct Taps {
    values: Vec<f32>,
    kernel: usize,
    channels_in: usize,
    channels_out: usize,
}

impl Taps {
    /// Output channels moved together, so that the taps side is written (or read) a cache
    /// line at a time. Rearranging runs between parallel GEMMs, where serial work idles the
    /// other threads: at the paper's back-end widths (millions of weights, once forward and
    /// twice backward) a division per index and scattered writes on one thread took ~7 % of
    /// a 3 s spectrogram step on two.
    const BLOCK: usize = 16;

    fn of(weight: FlexTensor) -> Self {
        let weight = weight.to_contiguous();
        let shape = weight.shape();
        let (cout, cin, kernel) = (shape[0], shape[1], shape[2]);
        let weight = weight.storage::<f32>();
        let mut values = vec![0.0f32; kernel * cin * cout];
        // One task per tap matrix `[in, out]`, which is contiguous.
        values
            .par_chunks_mut((cin * cout).max(1))
            .enumerate()
            .for_each(|(j, tap)| {
                for first in (0..cout).step_by(Self::BLOCK) {
                    let outs = first..(first + Self::BLOCK).min(cout);
                    for ci in 0..cin {
                        for co in outs.clone() {
                            tap[ci * cout + co] = weight[(co * cin + ci) * kernel + j];
                        }
                    }
                }
            });
        Self {
            values,
            kernel,
            channels_in: cin,
            channels_out: cout,
        }
    }

    /// Tap `j`'s matrix and everything after it (gemm reads one matrix from its start).
    fn starting_at_tap(&self, j: usize) -> &[f32] {
        &self.values[j * self.channels_in * self.channels_out..]
    }

    /// Values laid out as taps (a weight gradient), back in the weight's layout `[out, in,
    /// kernel]`: the inverse of [`Self::of`], one task per block of output channels, which
    /// is contiguous there.
    fn to_weight_layout(&self, taps: &[f32]) -> Vec<f32> {
        let (cout, cin, kernel) = (self.channels_out, self.channels_in, self.kernel);
        let mut weight = vec![0.0f32; taps.len()];
        weight
            .par_chunks_mut((Self::BLOCK * cin * kernel).max(1))
            .enumerate()
            .for_each(|(block, rows)| {
                let first = block * Self::BLOCK;
                for ci in 0..cin {
                    for j in 0..kernel {
                        for (i, row) in rows.chunks_exact_mut(cin * kernel).enumerate() {
                            row[ci * kernel + j] = taps[(j * cin + ci) * cout + first + i];
                        }
                    }
                }
            });
        weight
    }
}

/// Which input rows a stride-1 window reaches (a convolution's taps, an unfold's rows): `time`
/// input rows, zero-padded by `pad_before`, giving `steps` output rows.
struct Geometry {
    steps: usize,
    pad_before: usize,
    time: usize,
}

impl Geometry {
    /// `time` rows zero-padded by `pad_before` / `pad_after`, read by a stride-1 window of
    /// `kernel` rows: `time + pad_before + pad_after − kernel + 1` output rows (none if fewer).
    fn padded(time: usize, (pad_before, pad_after): (usize, usize), kernel: usize) -> Self {
        Self {
            steps: (time + pad_before + pad_after + 1).saturating_sub(kernel),
            pad_before,
            time,
        }
    }

    /// For output row `row` of a `kernel`-row window: the input rows it reads (possibly none),
    /// and the window row the first of them lands on (the ones before are padding).
    fn window(&self, row: usize, kernel: usize) -> (usize, Range<usize>) {
        let lo = row.saturating_sub(self.pad_before).min(self.time);
        let hi = (row + kernel)
            .saturating_sub(self.pad_before)
            .min(self.time)
            .max(lo);
        (self.pad_before.saturating_sub(row), lo..hi)
    }

    /// For tap `j`: the output rows `s0..s1` whose input row `s + j − pad_before` lies inside
    /// `0..time`, and that input row for `s0`; `None` when the tap only sees padding.
    fn rows(&self, j: usize) -> Option<(usize, usize, usize)> {
        let s0 = self.pad_before.saturating_sub(j);
        let s1 = self
            .steps
            .min((self.time + self.pad_before).saturating_sub(j));
        (s0 < s1).then(|| (s0, s1, s0 + j - self.pad_before))
    }
}

/// `dst (m × n, row stride dst_rs) += lhs (m × k) · rhs (k × n)`, every operand given by its
/// column and row strides; single-threaded (callers split the work).
#[allow(clippy::too_many_arguments)]
fn gemm_add(
    shape: [usize; 3],
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    [lhs_cs, lhs_rs]: [usize; 2],
    rhs: &[f32],
    [rhs_cs, rhs_rs]: [usize; 2],
) {
    let view = |values, col_stride, row_stride| View {
        values,
        row_stride,
        col_stride,
    };
    gemm_into(
        shape,
        dst,
        dst_rs,
        true,
        view(lhs, lhs_cs, lhs_rs),
        view(rhs, rhs_cs, rhs_rs),
        gemm::Parallelism::None,
    );
}

impl ConvTimeOps for Flex {
    fn conv_time(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self> {
        let x = Series::new(x);
        let taps = Taps::of(weight);
        let (kernel, cin, cout) = (taps.kernel, taps.channels_in, taps.channels_out);
        let geometry = Geometry::padded(x.time, (pad_before, pad_after), kernel);
        let steps = geometry.steps;
        let bias = bias.to_contiguous();
        let bias = bias.storage::<f32>();
        // Every output row starts as the bias (written once, not zeroed first: at the main
        // job's sizes a zeroing pass costs as much as the copy), then the taps add in.
        let mut out = bias[..cout].repeat(x.batch * steps);
        if x.entry_len() > 0 && steps > 0 && cout > 0 {
            out.par_chunks_mut(steps * cout)
                .zip(x.values().par_chunks(x.entry_len()))
                .for_each(|(out, input)| {
                    for j in 0..kernel {
                        let Some((s0, s1, r0)) = geometry.rows(j) else {
                            continue;
                        };
                        gemm_add(
                            [s1 - s0, cout, cin],
                            &mut out[s0 * cout..],
                            cout,
                            &input[r0 * cin..],
                            [1, cin],
                            taps.starting_at_tap(j),
                            [1, cout],
                        );
                    }
                });
        }
        flex_tensor(out, [x.batch, steps, cout])
    }

    fn conv_time_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad_before: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let x = Series::new(x);
        let grad = Series::new(output_grad);
        let taps = Taps::of(weight);
        let (kernel, cin, cout) = (taps.kernel, taps.channels_in, taps.channels_out);
        let geometry = Geometry {
            steps: grad.time,
            pad_before,
            time: x.time,
        };
        let grad_len = grad.entry_len();
        // Input gradient, per batch entry: rows r0.. += grad rows s0..s1 · tap_jᵀ.
        let mut grad_x = vec![0.0f32; x.batch * x.entry_len()];
        if grad_len > 0 && x.entry_len() > 0 {
            grad_x
                .par_chunks_mut(x.entry_len())
                .zip(grad.values().par_chunks(grad_len))
                .for_each(|(gx, g)| {
                    for j in 0..kernel {
                        if let Some((s0, s1, r0)) = geometry.rows(j) {
                            gemm_add(
                                [s1 - s0, cin, cout],
                                &mut gx[r0 * cin..],
                                cin,
                                &g[s0 * cout..],
                                [1, cout],
                                taps.starting_at_tap(j),
                                [cout, 1],
                            );
                        }
                    }
                });
        }
        // Weight (as taps) and bias gradients: partial sums per group of batch entries.
        let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..x.batch)
            .collect::<Vec<_>>()
            .par_chunks(WEIGHT_GRAD_GROUP)
            .map(|entries| {
                let mut grad_taps = vec![0.0f32; kernel * cin * cout];
                let mut grad_bias = vec![0.0f32; cout];
                for &b in entries {
                    let input = &x.values()[b * x.entry_len()..][..x.entry_len()];
                    let g = &grad.values()[b * grad_len..][..grad_len];
                    for row in g.chunks_exact(cout) {
                        for (sum, v) in grad_bias.iter_mut().zip(row) {
                            *sum += v;
                        }
                    }
                    for j in 0..kernel {
                        if let Some((s0, s1, r0)) = geometry.rows(j) {
                            gemm_add(
                                [cin, cout, s1 - s0],
                                &mut grad_taps[j * cin * cout..],
                                cout,
                                &input[r0 * cin..],
                                [cin, 1],
                                &g[s0 * cout..],
                                [1, cout],
                            );
                        }
                    }
                }
                (grad_taps, grad_bias)
            })
            .collect();
        let mut grad_taps = vec![0.0f32; kernel * cin * cout];
        let mut grad_bias = vec![0.0f32; cout];
        for (part_taps, part_bias) in &partials {
            grad_taps
                .iter_mut()
                .zip(part_taps)
                .for_each(|(a, b)| *a += b);
            grad_bias
                .iter_mut()
                .zip(part_bias)
                .for_each(|(a, b)| *a += b);
        }
        let grad_weight = taps.to_weight_layout(&grad_taps);
        (
            flex_tensor(grad_x, [x.batch, x.time, cin]),
            flex_tensor(grad_weight, [cout, cin, kernel]),
            flex_tensor(grad_bias, [cout]),
        )
    }

    fn max_pool_time(x: FloatTensor<Self>, size: usize) -> FloatTensor<Self> {
        let x = Series::new(x);
        let shape = [x.batch, x.time / size, x.channels];
        let mut out = vec![0.0f32; shape.iter().product()];
        pool_series::<false>(&x, size, &mut out, &mut []);
        flex_tensor(out, shape)
    }

    fn max_pool_time_argmax(
        x: FloatTensor<Self>,
        size: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let x = Series::new(x);
        let shape = [x.batch, x.time / size, x.channels];
        let mut out = vec![0.0f32; shape.iter().product()];
        let mut argmax = vec![0.0f32; out.len()];
        pool_series::<true>(&x, size, &mut out, &mut argmax);
        (flex_tensor(out, shape), flex_tensor(argmax, shape))
    }

    fn max_pool_time_backward(
        argmax: FloatTensor<Self>,
        size: usize,
        time: usize,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let argmax = Series::new(argmax);
        let grad = Series::new(output_grad);
        let channels = grad.channels;
        let entry_len = time * channels;
        let mut grad_x = vec![0.0f32; grad.batch * entry_len];
        if grad.time > 0 && channels > 0 {
            grad_x
                .par_chunks_mut(entry_len)
                .zip(argmax.values().par_chunks(argmax.entry_len()))
                .zip(grad.values().par_chunks(grad.entry_len()))
                .for_each(|((gx, at), g)| {
                    let windows = gx
                        .chunks_exact_mut(size * channels)
                        .zip(at.chunks_exact(channels))
                        .zip(g.chunks_exact(channels));
                    for ((gx, at), g) in windows {
                        for (c, (&step, &g)) in at.iter().zip(g).enumerate() {
                            gx[step as usize * channels + c] = g;
                        }
                    }
                });
        }
        flex_tensor(grad_x, [grad.batch, time, channels])
    }

    fn unfold_time(
        x: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self> {
        let x = Series::new(x);
        let (width, entry_len) = (x.channels, x.entry_len());
        let geometry = Geometry::padded(x.time, (pad_before, pad_after), kernel);
        let (frames, row_len) = (geometry.steps, kernel * width);
        // Zeros are the padding; every in-range step is one contiguous copy per row.
        let mut out = vec![0.0f32; x.batch * frames * row_len];
        if frames > 0 && row_len > 0 {
            let values = x.values();
            out.par_chunks_mut(frames * row_len)
                .enumerate()
                .for_each(|(b, out)| {
                    let input = &values[b * entry_len..(b + 1) * entry_len];
                    for (t, row) in out.chunks_exact_mut(row_len).enumerate() {
                        let (first, steps) = geometry.window(t, kernel);
                        let source = &input[steps.start * width..steps.end * width];
                        row[first * width..][..source.len()].copy_from_slice(source);
                    }
                });
        }
        flex_tensor(out, [x.batch, frames, row_len])
    }

    fn unfold_time_backward(
        output_grad: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        time: usize,
    ) -> FloatTensor<Self> {
        let grad = Series::new(output_grad);
        let width = grad.channels / kernel.max(1);
        let entry_len = time * width;
        let geometry = Geometry {
            steps: grad.time,
            pad_before,
            time,
        };
        let mut grad_x = vec![0.0f32; grad.batch * entry_len];
        if entry_len > 0 {
            grad_x
                .par_chunks_mut(entry_len)
                .zip(grad.values().par_chunks(grad.entry_len().max(1)))
                .for_each(|(gx, g)| {
                    for (t, row) in g.chunks_exact(grad.channels).enumerate() {
                        let (first, steps) = geometry.window(t, kernel);
                        let targets = &mut gx[steps.start * width..steps.end * width];
                        for (x, &g) in targets.iter_mut().zip(&row[first * width..]) {
                            *x += g;
                        }
                    }
                });
        }
        flex_tensor(grad_x, [grad.batch, time, width])
    }
}

impl<B: Backend + ConvTimeOps, C: CheckpointStrategy> ConvTimeOps for Autodiff<B, C> {
    fn conv_time(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvTimeBackward;

        impl<B: Backend + ConvTimeOps> Backward<B, 3> for ConvTimeBackward {
            /// The input, the weight and the padding before.
            type State = (FloatTensor<B>, FloatTensor<B>, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, pad_before) = ops.state;
                let (grad_x, grad_weight, grad_bias) =
                    B::conv_time_backward(x, weight, pad_before, grad);
                for (node, grad) in [
                    (node_x, grad_x),
                    (node_weight, grad_weight),
                    (node_bias, grad_bias),
                ] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let output = B::conv_time(x.clone(), weight.clone(), bias, pad_before, pad_after);
        match ConvTimeBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, weight, pad_before), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }

    /// Untracked: the gradients of the inner backend, as constants.
    fn conv_time_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad_before: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (grad_x, grad_weight, grad_bias) = B::conv_time_backward(
            x.into_primitive(),
            weight.into_primitive(),
            pad_before,
            output_grad.into_primitive(),
        );
        (
            Self::from_inner(grad_x),
            Self::from_inner(grad_weight),
            Self::from_inner(grad_bias),
        )
    }

    fn max_pool_time(x: FloatTensor<Self>, size: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaxPoolTimeBackward;

        impl<B: Backend + ConvTimeOps> Backward<B, 1> for MaxPoolTimeBackward {
            /// Each output's winning step, the window and the input's length: not the input,
            /// so the backward scatters instead of searching every window again.
            type State = (FloatTensor<B>, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                to_input::<B, _>(ops, grads, |(argmax, size, time), grad| {
                    B::max_pool_time_backward(argmax, size, time, grad)
                });
            }
        }

        let nodes = [x.node()];
        let x = x.into_primitive();
        match MaxPoolTimeBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let time = x.shape()[1];
                let (output, argmax) = B::max_pool_time_argmax(x, size);
                prep.finish((argmax, size, time), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool_time(x, size)),
        }
    }

    /// Untracked: the inner backend's pooling and its winners, as constants.
    fn max_pool_time_argmax(
        x: FloatTensor<Self>,
        size: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (output, argmax) = B::max_pool_time_argmax(x.into_primitive(), size);
        (Self::from_inner(output), Self::from_inner(argmax))
    }

    /// Untracked: the gradient of the inner backend, as a constant.
    fn max_pool_time_backward(
        argmax: FloatTensor<Self>,
        size: usize,
        time: usize,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::max_pool_time_backward(
            argmax.into_primitive(),
            size,
            time,
            output_grad.into_primitive(),
        ))
    }

    fn unfold_time(
        x: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        pad_after: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct UnfoldTimeBackward;

        impl<B: Backend + ConvTimeOps> Backward<B, 1> for UnfoldTimeBackward {
            /// The kernel, the padding before and the input's length: the backward is linear
            /// and needs no values.
            type State = (usize, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                to_input::<B, _>(ops, grads, |(kernel, pad_before, time), grad| {
                    B::unfold_time_backward(grad, kernel, pad_before, time)
                });
            }
        }

        let nodes = [x.node()];
        let x = x.into_primitive();
        match UnfoldTimeBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let time = x.shape()[1];
                let output = B::unfold_time(x, kernel, pad_before, pad_after);
                prep.finish((kernel, pad_before, time), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::unfold_time(x, kernel, pad_before, pad_after))
            }
        }
    }

    /// Untracked: the gradient of the inner backend, as a constant.
    fn unfold_time_backward(
        output_grad: FloatTensor<Self>,
        kernel: usize,
        pad_before: usize,
        time: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::unfold_time_backward(
            output_grad.into_primitive(),
            kernel,
            pad_before,
            time,
        ))
    }
}

/// A one-input op's backward: the output's gradient, through `input_grad` with the op's
/// state, becomes the input's, when the input is tracked.
fn to_input<B: Backend, S>(
    ops: Ops<S, 1>,
    grads: &mut Gradients,
    input_grad: impl FnOnce(S, FloatTensor<B>) -> FloatTensor<B>,
) {
    let [node_x] = ops.parents;
    let grad = grads.consume::<B>(&ops.node);
    if let Some(node) = node_x {
        grads.register::<B>(node.id, input_grad(ops.state, grad));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::conv::Conv1dConfig;
    use burn::nn::pool::MaxPool1dConfig;
    use burn::tensor::Distribution;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32 tensor")
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Output, and the gradients of x, weight and bias under a random weighting of the output.
    fn conv_and_grads(
        x: &Tensor<3>,
        weight: &Param<Tensor<3>>,
        bias: &Param<Tensor<1>>,
        pad: (usize, usize),
    ) -> [Vec<f32>; 4] {
        let y = conv_time(x.clone(), weight.val(), bias.val(), pad);
        // A fixed, uneven weighting (not random: the caller holds the generator's turn).
        let n = y.dims().iter().product::<usize>();
        let weighting = Tensor::<1>::from_data(
            TensorData::new((0..n).map(|i| ((i * 37) % 11) as f32 - 5.0).collect(), [n]),
            &y.device(),
        )
        .reshape(y.dims());
        let grads = (y.clone() * weighting).sum().backward();
        [
            values(y),
            values(x.grad(&grads).expect("x grad")),
            values(weight.grad(&grads).expect("weight grad")),
            values(bias.grad(&grads).expect("bias grad")),
        ]
    }

    #[test]
    fn conv_time_matches_burns_conv1d_in_values_and_all_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 21);
        // (batch, time, in, out, kernel, padding): valid, "same", uneven padding, a series
        // shorter than the kernel, more outputs than one block of the tap layout (16) with a
        // partial block after it, and the main job's widths.
        let cases = [
            (3, 20, 3, 5, 3, (0, 0)),
            (2, 12, 5, 21, 4, (1, 2)),
            (2, 9, 2, 3, 7, (3, 3)),
            (1, 20, 1, 3, 8, (3, 4)),
            (2, 4, 3, 2, 7, (3, 3)),
            (5, 50, 16, 32, 3, (0, 0)),
        ];
        for (batch, time, cin, cout, kernel, pad) in cases {
            let conv = Conv1dConfig::new(cin, cout, kernel).init(&device);
            let bias = conv.bias.clone().expect("bias");
            let x =
                Tensor::<3>::random([batch, time, cin], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
            let y = conv_time(x.clone(), conv.weight.val(), bias.val(), pad);
            let padded = x.clone().swap_dims(1, 2).pad(
                [(0, 0), (0, 0), (pad.0, pad.1)],
                burn::tensor::ops::PadMode::Constant(0.0),
            );
            let reference = conv.forward(padded).swap_dims(1, 2);
            assert_eq!(y.dims(), reference.dims(), "{cin}->{cout} k{kernel}");
            let diff = max_abs_diff(y.clone(), reference.clone());
            assert!(
                diff < 1e-4,
                "{cin}->{cout} k{kernel}: outputs differ by {diff}"
            );

            let weighting = Tensor::<3>::random(y.dims(), Distribution::Default, &device);
            let ours = (y * weighting.clone()).sum().backward();
            let theirs = (reference * weighting).sum().backward();
            let dx = max_abs_diff(x.grad(&ours).unwrap(), x.grad(&theirs).unwrap());
            let dw = max_abs_diff(
                conv.weight.grad(&ours).unwrap(),
                conv.weight.grad(&theirs).unwrap(),
            );
            let db = max_abs_diff(bias.grad(&ours).unwrap(), bias.grad(&theirs).unwrap());
            assert!(
                dx < 1e-4,
                "{cin}->{cout} k{kernel}: input gradients differ by {dx}"
            );
            assert!(
                dw < 1e-3,
                "{cin}->{cout} k{kernel}: weight gradients differ by {dw}"
            );
            assert!(
                db < 1e-3,
                "{cin}->{cout} k{kernel}: bias gradients differ by {db}"
            );
        }
    }

    #[test]
    fn an_empty_series_padded_to_a_kernel_gives_the_bias_not_a_panic() {
        let device = Device::flex().autodiff();
        let conv = Conv1dConfig::new(3, 2, 3).init(&device);
        let bias = conv.bias.clone().expect("bias");
        let x = Tensor::<3>::zeros([2, 0, 3], &device).require_grad();
        let y = conv_time(x.clone(), conv.weight.val(), bias.val(), (3, 3));
        assert_eq!(y.dims(), [2, 4, 2]);
        let expected = bias.val().reshape([1, 1, 2]).expand([2, 4, 2]);
        assert_eq!(max_abs_diff(y.clone(), expected), 0.0);
        let grads = y.sum().backward();
        assert_eq!(
            values(bias.grad(&grads).expect("bias grad")),
            vec![8.0, 8.0]
        );
    }

    #[test]
    fn max_pool_time_matches_burns_max_pool1d_in_values_and_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 8);
        // 17 steps: a trailing partial window is dropped, as Burn's pool does. 4 channels run
        // one at a time, 19 as two register blocks of 8 and 3 single ones.
        for (size, time, channels) in [(3, 17, 4), (2, 10, 4), (3, 17, 19)] {
            let shape = [2, time, channels];
            let x =
                Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ours = max_pool_time(x.clone(), size);
            let theirs = MaxPool1dConfig::new(size)
                .with_stride(size)
                .init()
                .forward(x.clone().swap_dims(1, 2))
                .swap_dims(1, 2);
            assert_eq!(max_abs_diff(ours.clone(), theirs.clone()), 0.0);
            let weighting = Tensor::<3>::random(ours.dims(), Distribution::Default, &device);
            let g1 = (ours * weighting.clone()).sum().backward();
            let g2 = (theirs * weighting).sum().backward();
            let dx = max_abs_diff(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            assert_eq!(dx, 0.0, "window {size}: input gradients differ");
        }
    }

    /// Ties send the gradient to the window's first maximum, a NaN wins its window (and
    /// takes the gradient), and -0.0 / 0.0 ties keep the first — per channel, whatever the
    /// other channels of the step hold.
    #[test]
    fn max_pool_time_keeps_the_first_maximum_and_lets_nan_through() {
        // Once as 3 channels (one at a time), once repeated 3 times: 9 channels, a register
        // block of 8 and a single one.
        for copies in [1, 3] {
            first_maximum_and_nan_with(copies);
        }
    }

    fn first_maximum_and_nan_with(copies: usize) {
        let device = Device::flex().autodiff();
        // One entry, windows of 3 steps, 3 channels: [step][channel].
        let steps = [
            [1.0, f32::NAN, -0.0],
            [1.0, 5.0, 0.0],
            [0.5, 7.0, 0.0],
            [2.0, 1.0, 3.0],
            [2.0, f32::NAN, 3.0],
            [9.0, 2.0, 1.0],
        ];
        let repeat = |row: &[f32]| row.repeat(copies);
        let values: Vec<f32> = steps.iter().flat_map(|s| repeat(s)).collect();
        let channels = 3 * copies;
        let x = Tensor::<3>::from_data(TensorData::new(values, [1, 6, channels]), &device)
            .require_grad();
        let pooled = max_pool_time(x.clone(), 3);
        let out: Vec<f32> = pooled.clone().into_data().try_to_vec().unwrap();
        for (window, expected) in out
            .chunks(channels)
            .zip([[1.0f32, f32::NAN, -0.0], [9.0, f32::NAN, 3.0]])
        {
            for (got, want) in window.iter().zip(repeat(&expected)) {
                // Bits: NaN is NaN, and -0.0 (the first of a -0.0 / 0.0 tie) stays -0.0.
                assert_eq!(got.is_nan(), want.is_nan(), "{copies} copies: {window:?}");
                if !want.is_nan() {
                    assert_eq!(got.to_bits(), want.to_bits(), "{copies} copies: {window:?}");
                }
            }
        }
        let weights: Vec<f32> = [[10.0f32, 20.0, 30.0], [40.0, 50.0, 60.0]]
            .iter()
            .flat_map(|w| repeat(w))
            .collect();
        let weights = Tensor::<3>::from_data(TensorData::new(weights, [1, 2, channels]), &device);
        let grads = (pooled * weights).sum().backward();
        let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        #[rustfmt::skip]
        let expected = [
            [10.0, 20.0, 30.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 60.0],
            [0.0, 50.0, 0.0],
            [40.0, 0.0, 0.0],
        ];
        let expected: Vec<f32> = expected.iter().flat_map(|s| repeat(s)).collect();
        assert_eq!(dx, expected, "{copies} copies");
    }

    /// Burn's ops: pad, then the `kernel` shifted copies side by side.
    fn unfold_with_burn(x: Tensor<3>, kernel: usize, (before, after): (usize, usize)) -> Tensor<3> {
        let padded = x.pad(
            [(before, after), (0, 0)],
            burn::tensor::ops::PadMode::Constant(0.0),
        );
        let frames = padded.dims()[1] + 1 - kernel;
        let shifted = (0..kernel)
            .map(|j| padded.clone().narrow(1, j, frames))
            .collect();
        Tensor::cat(shifted, 2)
    }

    #[test]
    fn unfold_time_matches_burns_pad_and_shifted_copies_in_values_and_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 5);
        // (time, width, kernel, padding): the timbral branches' "same" padding, uneven and no
        // padding, a series shorter than the kernel, one step per window.
        let cases = [
            (20, 6, 7, (3, 3)),
            (20, 6, 3, (0, 2)),
            (9, 3, 4, (0, 0)),
            (3, 2, 7, (3, 3)),
            (5, 4, 1, (0, 0)),
            (5, 4, 1, (1, 2)),
        ];
        for (time, width, kernel, pad) in cases {
            let x = Tensor::<3>::random([2, time, width], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = unfold_time(x.clone(), kernel, pad);
            let theirs = unfold_with_burn(x.clone(), kernel, pad);
            assert_eq!(
                ours.dims(),
                theirs.dims(),
                "{time} {width} {kernel} {pad:?}"
            );
            assert_eq!(
                values(ours.clone()),
                values(theirs.clone()),
                "{kernel} {pad:?}"
            );
            let weighting = Tensor::<3>::random(ours.dims(), Distribution::Default, &device);
            let g1 = (ours * weighting.clone()).sum().backward();
            let g2 = (theirs * weighting).sum().backward();
            let dx = max_abs_diff(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            assert!(
                dx < 1e-6,
                "kernel {kernel} {pad:?}: input gradients differ by {dx}"
            );
        }
    }

    #[test]
    fn results_are_bit_identical_whatever_the_thread_count() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 4);
        // Nine batch entries: the weight gradient's groups of four split unevenly.
        let conv = Conv1dConfig::new(6, 5, 7).init(&device);
        let bias = conv.bias.clone().expect("bias");
        let x =
            Tensor::<3>::random([9, 40, 6], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| conv_and_grads(&x, &conv.weight, &bias, (3, 3)))
        };
        let one = on(1);
        assert_eq!(one, on(3));
        assert_eq!(one, on(2));
    }
}
