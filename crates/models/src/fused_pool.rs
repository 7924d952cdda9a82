//! ReLU → batch norm → a maximum, in training, as one operation on flex.
//!
//! Every block of the waveform front-end ends in ReLU → BN (batch statistics) → a max-pool of
//! 3 steps over channels-last `[batch, time, channels]`, and every timbral branch of the
//! spectrogram front-end in ReLU → BN → the maximum over frequency of `[rows, filters,
//! bins]`. As two operations the normalised activation was written whole and read again by
//! the maximum, and in the backward the maxima's gradient was scattered into a zeroed buffer
//! of the input's size (for the frequency maximum by Burn's serial `scatter_add`), which the
//! batch norm's backward then read twice. Here each window is normalised straight into its
//! maximum, and the backward expands the maxima's gradient into the input gradient's own
//! buffer a task at a time (`fused::Paired::Expanded`). Every value comes from the
//! same f32 operations in the same order as the two operations, the same winner included (the
//! pooling's rule over time, Burn's `max_dim` rule over frequency): the same bits (tested).
//!
//! A Burn backend extension for flex and autodiff over flex; elsewhere the layers compose
//! [`crate::fused::relu_batch_norm`] and the maximum (see `layers::ConvBnTime::forward_pooled`
//! and `layers::TimbralBranch`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use rayon::prelude::*;

use crate::conv_time::pool_window;
use crate::fused::{
    BatchNormalisation, Expand, OutputGradient, Planes, backward, flex_tensor,
    update_running_statistics, vector, with_avx2,
};

/// The fused operation, per backend.
#[backend_extension(Flex, Autodiff)]
pub trait ReluBatchNormPoolOps: Backend {
    /// `max_pool_time(batch_norm_train(relu(x)), size)` over channels-last
    /// `[batch, time, channels]` (windows of `size` steps, stride `size`, a trailing partial
    /// window dropped): the pooled output, the batch mean and biased variance of `relu(x)`
    /// per channel, and each output's winning step within its window (as f32).
    fn relu_batch_norm_max_pool_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        size: usize,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// Gradients for `x`, `gamma` and `beta` given the pooled output's gradient.
    #[allow(clippy::too_many_arguments)]
    fn relu_batch_norm_max_pool_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        size: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `max_dim(batch_norm_train(relu(x)), 2)` over `[rows, channels, inner]`, `inner` ≥ 1,
    /// with Burn's choice of maximum (the first NaN, else the first largest): the maxima
    /// `[rows, channels]`, the batch mean and biased variance of `relu(x)` per channel, and
    /// each maximum's index along `inner` (as f32).
    fn relu_batch_norm_max_inner_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// Gradients for `x`, `gamma` and `beta` given the maxima's gradient.
    fn relu_batch_norm_max_inner_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether the fused ops apply: flex with autodiff, and `bn` in training (batch statistics).
pub(crate) fn applies(bn: &BatchNorm, device: &Device) -> bool {
    crate::device::is_flex(device) && device.is_autodiff() && bn.training.is_enabled()
}

/// `max_pool_time(relu_batch_norm(bn, x), size)` on channels-last `x`, with batch statistics:
/// where [`applies`], which is where `layers` calls it.
pub(crate) fn relu_batch_norm_max_pool(bn: &BatchNorm, x: Tensor<3>, size: usize) -> Tensor<3> {
    let device = x.device();
    debug_assert!(applies(bn, &device));
    let (output, mean, variance, _winner) =
        <burn::backend::Dispatch as ReluBatchNormPoolOps>::relu_batch_norm_max_pool_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
            size,
        );
    update_running_statistics(bn, mean, variance, &device);
    Tensor::from_dispatch(output)
}

/// `relu_batch_norm(bn, x).max_dim(2)` on `[rows, channels, inner]` as `[rows, channels]`,
/// with batch statistics: where [`applies`], which is where `layers` calls it.
pub(crate) fn relu_batch_norm_max_inner(bn: &BatchNorm, x: Tensor<3>) -> Tensor<2> {
    let device = x.device();
    debug_assert!(applies(bn, &device));
    let (output, mean, variance, _winner) =
        <burn::backend::Dispatch as ReluBatchNormPoolOps>::relu_batch_norm_max_inner_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
        );
    update_running_statistics(bn, mean, variance, &device);
    Tensor::from_dispatch(output)
}

/// Burn's maximum of a row (`max_dim_with_indices` on flex): the first NaN, else the first
/// of the largest values, with its index.
#[inline(always)]
fn first_maximum(mut values: impl Iterator<Item = f32>) -> (f32, usize) {
    let Some(first) = values.next() else {
        return (f32::NEG_INFINITY, 0);
    };
    if first.is_nan() {
        return (first, 0);
    }
    let mut best = (first, 0);
    for (i, v) in values.enumerate() {
        if v.is_nan() {
            return (f32::NAN, i + 1);
        }
        if v > best.0 {
            best = (v, i + 1);
        }
    }
    best
}

/// Rows of `[rows, channels, inner]` per parallel task of the inner maximum.
const MAX_INNER_ROWS_PER_TASK: usize = 64;

/// The maxima's gradient of `[rows, channels]` as the full-size gradient it stands for
/// (`[rows, channels, inner]`: `0 + g` at each maximum, as Burn's backward adds it into
/// zeros, and zero elsewhere).
struct MaximaGradient<'a> {
    grad: &'a [f32],
    winner: &'a [f32],
    inner: usize,
}

impl MaximaGradient<'_> {
    /// Write the full-size gradient's elements from `first` on into `out` (whole rows).
    fn expand(&self, first: usize, out: &mut [f32]) {
        with_avx2(
            #[inline(always)]
            || self.write_expanded(first, out),
        )
    }

    #[inline(always)]
    fn write_expanded(&self, first: usize, out: &mut [f32]) {
        let segments = out.chunks_exact_mut(self.inner);
        let maxima = self.grad[first / self.inner..]
            .iter()
            .zip(&self.winner[first / self.inner..]);
        for (segment, (&g, &w)) in segments.zip(maxima) {
            for (i, o) in segment.iter_mut().enumerate() {
                *o = if i as f32 == w { 0.0 + g } else { 0.0 };
            }
        }
    }
}

/// The pooled gradient of `[batch, steps, channels]` as the full-size gradient it stands for
/// (`[batch, time, channels]`: each output's gradient at its winning step, zero elsewhere).
struct PooledGradient<'a> {
    grad: &'a [f32],
    winner: &'a [f32],
    size: usize,
    time: usize,
    channels: usize,
}

impl PooledGradient<'_> {
    /// Write the full-size gradient's elements from `first` on into `out` (whole rows).
    fn expand(&self, first: usize, out: &mut [f32]) {
        with_avx2(
            #[inline(always)]
            || self.write_expanded(first, out),
        )
    }

    #[inline(always)]
    fn write_expanded(&self, first: usize, out: &mut [f32]) {
        let (size, time, channels) = (self.size, self.time, self.channels);
        let steps = time / size;
        let (mut row, end) = (first / channels, (first + out.len()) / channels);
        let mut rows = out.chunks_exact_mut(channels);
        // A window at a time (a task may start or end inside one): its gradient and winners
        // sliced once for its rows.
        while row < end {
            let (entry, step) = (row / time, row % time);
            let (window, position) = (step / size, step % size);
            let entry_end = row - step + time;
            if window >= steps {
                // The trailing partial window.
                for out in rows.by_ref().take(entry_end.min(end) - row) {
                    out.fill(0.0);
                }
                row = entry_end;
                continue;
            }
            let pooled = (entry * steps + window) * channels;
            let grad = &self.grad[pooled..pooled + channels];
            let winner = &self.winner[pooled..pooled + channels];
            let window_end = (row - position + size).min(end);
            for (at, out) in (position..).zip(rows.by_ref().take(window_end - row)) {
                let at = at as f32;
                for ((o, &g), &w) in out.iter_mut().zip(grad).zip(winner) {
                    *o = if w == at { g } else { 0.0 };
                }
            }
            row = window_end;
        }
    }
}

impl ReluBatchNormPoolOps for Flex {
    fn relu_batch_norm_max_pool_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        size: usize,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let planes = Planes::channels_last(x);
        let norm = BatchNormalisation::of(&planes, gamma, beta, epsilon);
        let [batch, time, channels] = series_shape(&planes);
        let steps = time / size;
        let mut output = vec![0.0f32; batch * steps * channels];
        let mut winner = vec![0.0f32; output.len()];
        if steps > 0 && channels > 0 {
            let coefficients = norm.mean_f32.iter().zip(&norm.scale).zip(&norm.beta);
            output
                .par_chunks_mut(steps * channels)
                .zip(winner.par_chunks_mut(steps * channels))
                .zip(planes.values().par_chunks(time * channels))
                .for_each(|((output, winner), entry)| {
                    with_avx2(
                        #[inline(always)]
                        || {
                            // One window normalised at a time, where the pooling reads it from L1.
                            let mut normalised = vec![0.0f32; size * channels];
                            let windows = entry.chunks_exact(size * channels).take(steps);
                            for (w, window) in windows.enumerate() {
                                let rows = normalised.chunks_exact_mut(channels);
                                for (out, row) in rows.zip(window.chunks_exact(channels)) {
                                    let lanes = out.iter_mut().zip(row).zip(coefficients.clone());
                                    for ((o, &x), ((&m, &a), &b)) in lanes {
                                        *o = BatchNormalisation::apply(x, m, a, b);
                                    }
                                }
                                let at = w * channels..(w + 1) * channels;
                                let (output, winner) = (&mut output[at.clone()], &mut winner[at]);
                                pool_window::<true>(&normalised, channels, output, winner);
                            }
                        },
                    )
                });
        }
        let (mean, variance) = norm.statistics();
        let pooled = [batch, steps, channels];
        (
            flex_tensor(output, pooled),
            mean,
            variance,
            flex_tensor(winner, pooled),
        )
    }

    fn relu_batch_norm_max_pool_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        size: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let planes = Planes::channels_last(x);
        let [_, time, channels] = series_shape(&planes);
        let (grad, winner) = (output_grad.to_contiguous(), winner.to_contiguous());
        let pooled = PooledGradient {
            grad: grad.storage::<f32>(),
            winner: winner.storage::<f32>(),
            size,
            time,
            channels,
        };
        let expand = |first: usize, out: &mut [f32]| pooled.expand(first, out);
        backward_through_maxima(planes, [gamma, mean, variance], epsilon, &expand)
    }

    fn relu_batch_norm_max_inner_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let planes = Planes::new(x);
        let norm = BatchNormalisation::of(&planes, gamma, beta, epsilon);
        let (channels, inner) = (planes.channels(), planes.inner());
        let rows = planes.shape()[0];
        let mut output = vec![0.0f32; rows * channels];
        let mut winner = vec![0.0f32; output.len()];
        if channels > 0 && inner > 0 {
            let task = MAX_INNER_ROWS_PER_TASK * channels;
            output
                .par_chunks_mut(task)
                .zip(winner.par_chunks_mut(task))
                .zip(planes.values().par_chunks(task * inner))
                .for_each(|((output, winner), values)| {
                    with_avx2(
                        #[inline(always)]
                        || {
                            let maxima = output.iter_mut().zip(winner.iter_mut());
                            for (i, ((o, w), segment)) in
                                maxima.zip(values.chunks_exact(inner)).enumerate()
                            {
                                let c = i % channels;
                                let (m, a, b) = (norm.mean_f32[c], norm.scale[c], norm.beta[c]);
                                let normalised = segment
                                    .iter()
                                    .map(|&x| BatchNormalisation::apply(x, m, a, b));
                                let (best, at) = first_maximum(normalised);
                                (*o, *w) = (best, at as f32);
                            }
                        },
                    )
                });
        }
        let (mean, variance) = norm.statistics();
        (
            flex_tensor(output, [rows, channels]),
            mean,
            variance,
            flex_tensor(winner, [rows, channels]),
        )
    }

    fn relu_batch_norm_max_inner_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let planes = Planes::new(x);
        let (grad, winner) = (output_grad.to_contiguous(), winner.to_contiguous());
        let maxima = MaximaGradient {
            grad: grad.storage::<f32>(),
            winner: winner.storage::<f32>(),
            inner: planes.inner().max(1),
        };
        let expand = |first: usize, out: &mut [f32]| maxima.expand(first, out);
        backward_through_maxima(planes, [gamma, mean, variance], epsilon, &expand)
    }
}

/// The batch norm's backward from the maxima's gradient as `expand` writes it out full-size a
/// task at a time, into the input's own buffer; `statistics` are γ, the batch mean and the
/// batch variance. The gradients of x, γ and β.
fn backward_through_maxima(
    planes: Planes,
    statistics: [FlexTensor; 3],
    epsilon: f64,
    expand: Expand<'_>,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let statistics = statistics.map(vector);
    backward(
        planes,
        &statistics,
        epsilon,
        OutputGradient::Expanded(expand),
    )
}

/// `[batch, time, channels]` of a channels-last series.
fn series_shape(planes: &Planes) -> [usize; 3] {
    let shape = planes.shape();
    [shape[0], shape[1], shape[2]]
}

/// Which maximum follows the batch norm: windows of a size over time, or the inner axis.
#[derive(Debug, Clone, Copy)]
enum Maximum {
    PoolTime(usize),
    Inner,
}

/// The autodiff node of either fused op; its state is the input, gamma, the batch
/// statistics, epsilon and the maxima's winners.
#[derive(Debug)]
struct ReluBatchNormMaxBackward(Maximum);

impl<B: Backend + ReluBatchNormPoolOps> Backward<B, 3> for ReluBatchNormMaxBackward {
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
        FloatTensor<B>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, variance, epsilon, winner) = ops.state;
        let (grad_x, grad_gamma, grad_beta) = match self.0 {
            Maximum::PoolTime(size) => B::relu_batch_norm_max_pool_train_backward(
                x, gamma, mean, variance, epsilon, winner, size, grad,
            ),
            Maximum::Inner => B::relu_batch_norm_max_inner_train_backward(
                x, gamma, mean, variance, epsilon, winner, grad,
            ),
        };
        let gradients = [grad_x, grad_gamma, grad_beta];
        for (node, gradient) in ops.parents.into_iter().zip(gradients) {
            if let Some(node) = node {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

/// A fused op's results: the maxima, the batch mean, the batch variance and the winners.
type FusedOutputs<T> = (T, T, T, T);

/// Either fused op's forward on autodiff: the inner backend's, tracked.
fn tracked_forward<B: Backend + ReluBatchNormPoolOps, C: CheckpointStrategy>(
    maximum: Maximum,
    x: FloatTensor<Autodiff<B, C>>,
    gamma: FloatTensor<Autodiff<B, C>>,
    beta: FloatTensor<Autodiff<B, C>>,
    epsilon: f64,
) -> FusedOutputs<FloatTensor<Autodiff<B, C>>> {
    let nodes = [x.node(), gamma.node(), beta.node()];
    let (x, gamma, beta) = (
        x.into_primitive(),
        gamma.into_primitive(),
        beta.into_primitive(),
    );
    let (output, mean, variance, winner) = match maximum {
        Maximum::PoolTime(size) => {
            B::relu_batch_norm_max_pool_train(x.clone(), gamma.clone(), beta, epsilon, size)
        }
        Maximum::Inner => {
            B::relu_batch_norm_max_inner_train(x.clone(), gamma.clone(), beta, epsilon)
        }
    };
    let output = match ReluBatchNormMaxBackward(maximum)
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = (
                x,
                gamma,
                mean.clone(),
                variance.clone(),
                epsilon,
                winner.clone(),
            );
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    let from_inner = Autodiff::<B, C>::from_inner;
    (
        output,
        from_inner(mean),
        from_inner(variance),
        from_inner(winner),
    )
}

impl<B: Backend + ReluBatchNormPoolOps, C: CheckpointStrategy> ReluBatchNormPoolOps
    for Autodiff<B, C>
{
    fn relu_batch_norm_max_pool_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        size: usize,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        tracked_forward::<B, C>(Maximum::PoolTime(size), x, gamma, beta, epsilon)
    }

    /// Untracked: the gradients of the inner backend, as constants.
    fn relu_batch_norm_max_pool_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        size: usize,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (grad_x, grad_gamma, grad_beta) = B::relu_batch_norm_max_pool_train_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            epsilon,
            winner.into_primitive(),
            size,
            output_grad.into_primitive(),
        );
        (
            Self::from_inner(grad_x),
            Self::from_inner(grad_gamma),
            Self::from_inner(grad_beta),
        )
    }

    fn relu_batch_norm_max_inner_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        tracked_forward::<B, C>(Maximum::Inner, x, gamma, beta, epsilon)
    }

    /// Untracked: the gradients of the inner backend, as constants.
    fn relu_batch_norm_max_inner_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        winner: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (grad_x, grad_gamma, grad_beta) = B::relu_batch_norm_max_inner_train_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            epsilon,
            winner.into_primitive(),
            output_grad.into_primitive(),
        );
        (
            Self::from_inner(grad_x),
            Self::from_inner(grad_gamma),
            Self::from_inner(grad_beta),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        let values = t.into_data().try_to_vec::<f32>().expect("f32 values");
        values.into_iter().map(f32::to_bits).collect()
    }

    /// The two-op reference: ReLU → BN on channels-last rows, then the pooling.
    fn unfused(bn: &BatchNorm, x: Tensor<3>, size: usize) -> Tensor<3> {
        let [batch, time, channels] = x.dims();
        let rows = crate::fused::relu_batch_norm(bn, x.reshape([batch * time, channels]));
        crate::conv_time::max_pool_time(rows.reshape([batch, time, channels]), size)
    }

    /// Output, running statistics and the gradients of x, γ and β, as bits.
    type Figures = Vec<Vec<u32>>;

    /// A batch norm of `gamma` and `beta`, fresh running statistics (a clone of a module
    /// shares them).
    fn batch_norm(gamma: &Tensor<1>, beta: &Tensor<1>) -> BatchNorm {
        let mut bn = BatchNormConfig::new(gamma.dims()[0])
            .with_epsilon(1e-3)
            .with_momentum(0.01)
            .init(&gamma.device());
        bn.gamma = Param::from_tensor(gamma.clone());
        bn.beta = Param::from_tensor(beta.clone());
        bn
    }

    fn figures(
        [gamma, beta]: &[Tensor<1>; 2],
        x: &Tensor<3>,
        weights: &Tensor<3>,
        op: impl Fn(&BatchNorm, Tensor<3>) -> Tensor<3>,
    ) -> Figures {
        let bn = batch_norm(gamma, beta);
        let x = x.clone().require_grad();
        let output = op(&bn, x.clone());
        let grads = (output.clone() * weights.clone()).sum().backward();
        vec![
            bits(output),
            bits(bn.running_mean.value_sync()),
            bits(bn.running_var.value_sync()),
            bits(x.grad(&grads).expect("x has a gradient")),
            bits(bn.gamma.grad(&grads).expect("gamma has a gradient")),
            bits(bn.beta.grad(&grads).expect("beta has a gradient")),
        ]
    }

    /// Gammas of both signs (a negative one turns the maximum into the minimum of its input),
    /// non-zero betas, and an input where ReLU ties many values at zero; the fused op
    /// against the two ops on one to three threads.
    fn check(
        shape: [usize; 3],
        channels: usize,
        output_shape: [usize; 3],
        fused: impl Fn(&BatchNorm, Tensor<3>) -> Tensor<3> + Sync,
        unfused: impl Fn(&BatchNorm, Tensor<3>) -> Tensor<3>,
    ) {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 13);
        let random = || Tensor::random([channels], Distribution::Normal(0.0, 1.0), &device);
        let parameters = [random(), random()];
        let x = Tensor::<3>::random(shape, Distribution::Normal(0.2, 1.0), &device);
        let weights = Tensor::<3>::random(output_shape, Distribution::Normal(0.0, 1.0), &device);
        let expected = figures(&parameters, &x, &weights, &unfused);
        let names = [
            "output",
            "running mean",
            "running variance",
            "x",
            "gamma",
            "beta",
        ];
        let compare = |ours: Figures, what: &str| {
            for ((ours, expected), name) in ours.iter().zip(&expected).zip(names) {
                assert_eq!(ours, expected, "{shape:?}, {what}: {name}");
            }
        };
        for threads in [1, 2, 3] {
            let ours = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| figures(&parameters, &x, &weights, &fused));
            compare(ours, &format!("{threads} threads"));
        }
        // The per-element loops compiled for baseline x86-64 give the AVX2 build's bits
        // (on a CPU with AVX2; elsewhere both sides are the portable code).
        let _portable = crate::fused::portable::Only::new();
        compare(
            figures(&parameters, &x, &weights, &fused),
            "portable fused op",
        );
        compare(
            figures(&parameters, &x, &weights, unfused),
            "portable two ops",
        );
    }

    /// Pooling over time: channels-last `shape`, windows of `size`.
    fn check_pool(shape: [usize; 3], size: usize) {
        check(
            shape,
            shape[2],
            [shape[0], shape[1] / size, shape[2]],
            |bn, x| relu_batch_norm_max_pool(bn, x, size),
            |bn, x| unfused(bn, x, size),
        );
    }

    /// The maximum over the last axis of `[rows, channels, inner]`, against Burn's `max_dim`.
    fn check_max_inner(shape: [usize; 3]) {
        let [rows, channels, _] = shape;
        check(
            shape,
            channels,
            [rows, channels, 1],
            |bn, x| relu_batch_norm_max_inner(bn, x).reshape([rows, channels, 1]),
            |bn, x| crate::fused::relu_batch_norm(bn, x).max_dim(2),
        );
    }

    #[test]
    fn fused_relu_batch_norm_max_pool_gives_the_two_ops_bits_whatever_the_thread_count() {
        // A trailing partial window; channels beyond the pooling's 8 lanes; a window of 2.
        check_pool([3, 20, 11], 3);
        check_pool([2, 600, 16], 3);
        check_pool([4, 7, 8], 2);
        // Fewer steps than a window: an empty output, and gradients through the statistics.
        check_pool([2, 2, 5], 3);
    }

    #[test]
    fn fused_relu_batch_norm_max_over_frequency_gives_burns_bits_whatever_the_thread_count() {
        // The main job's timbral shapes (6 and 30 bins) over several tasks, a ragged last
        // task, and a single bin.
        check_max_inner([160, 4, 6]);
        check_max_inner([130, 16, 30]);
        check_max_inner([7, 3, 1]);
    }
}
