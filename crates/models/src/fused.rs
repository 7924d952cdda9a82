//! ReLU → batch norm in training mode as one operation on flex.
//!
//! Every convolution of the paper is followed by ReLU and batch norm. Burn's default
//! `batch_norm_train` and its backward are built from generic tensor ops: two transposes per
//! direction and about twenty single-threaded passes over the activation. On the
//! spectrogram model's timbral maps (tens of MB per branch) that cost more than the
//! convolutions. Here ReLU, the statistics and the normalisation are one parallel pass
//! each way (statistics, then output; gradient sums, then input gradient), with the exact
//! training-mode gradient through the batch statistics. The per-element loops run compiled
//! for AVX2 where the CPU has it (`with_avx2`), with the portable build's bits.
//!
//! It is a Burn backend extension implemented for flex, for libtorch (behind `tch`: its native
//! batch norm, where Burn's generic one is ~10 passes and two layout copies) and for autodiff
//! over either; other backends keep Burn's own ops (see [`relu_batch_norm`]).
// burn marks its LibTorch backend deprecated; implementing for it is deliberate.
#![cfg_attr(feature = "tch", allow(deprecated))]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;
use rayon::prelude::*;

/// The fused operation, per backend.
#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait ReluBatchNormOps: Backend {
    /// `batch_norm_train(relu(x))` over `[batch, channels, ...]`: the output, and the batch
    /// mean and biased variance of `relu(x)` per channel (what the running statistics take).
    fn relu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `batch_norm(relu(x))` with given statistics (inference). The default is Burn's ops.
    fn relu_batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        Self::batch_norm(Self::relu(x), gamma, beta, mean, variance, epsilon)
    }

    /// Gradients for `x`, `gamma` and `beta` given the output's gradient. The default is
    /// Burn's unfused batch-norm backward, masked by the ReLU.
    fn relu_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let activated = Self::relu(x);
        let grads = Self::batch_norm_train_backward(
            activated.clone(),
            gamma,
            mean,
            variance,
            epsilon,
            output_grad,
        );
        (
            Self::relu_backward(activated, grads.x_grad),
            grads.gamma_grad,
            grads.beta_grad,
        )
    }
}

/// `bn(relu(x))`, fused on flex: in training with autodiff (batch statistics, one pass each
/// way), and at inference without autodiff (one pass instead of Burn's five, the same bits);
/// on libtorch, its native batch norm, in training and at inference; Burn's ops everywhere
/// else, which give the same values.
pub fn relu_batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let fused = crate::device::is_flex(&device) || crate::device::is_libtorch(&device);
    if fused && !device.is_autodiff() {
        let statistics = |state: &burn::module::RunningState<Tensor<1>>| {
            state.value().to_device(&device).into_dispatch()
        };
        return Tensor::from_dispatch(
            <burn::backend::Dispatch as ReluBatchNormOps>::relu_batch_norm_eval(
                x.into_dispatch(),
                bn.gamma.val().into_dispatch(),
                bn.beta.val().into_dispatch(),
                statistics(&bn.running_mean),
                statistics(&bn.running_var),
                bn.epsilon,
            ),
        );
    }
    if !(fused && bn.training.is_enabled()) {
        return bn.forward(relu(x));
    }
    let (output, mean, variance) =
        <burn::backend::Dispatch as ReluBatchNormOps>::relu_batch_norm_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
        );
    update_running_statistics(bn, mean, variance, &device);
    Tensor::from_dispatch(output)
}

/// `bn`'s running statistics moved towards a batch's `mean` and `variance` (as dispatch
/// tensors), exactly as `BatchNorm::forward` moves them.
pub(crate) fn update_running_statistics(
    bn: &BatchNorm,
    mean: FloatTensor<burn::backend::Dispatch>,
    variance: FloatTensor<burn::backend::Dispatch>,
    device: &Device,
) {
    let momentum = bn.momentum;
    let running = |state: &burn::module::RunningState<Tensor<1>>, batch| {
        let batch = Tensor::<1>::from_dispatch(batch);
        let value = state
            .value_sync()
            .to_device(device)
            .mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum));
        state.update(value.detach());
    };
    running(&bn.running_mean, mean);
    running(&bn.running_var, variance);
}

/// A contiguous f32 tensor viewed as `[rows, channels, inner]`.
pub(crate) struct Planes {
    data: FlexTensor,
    shape: burn::tensor::Shape,
    channels: usize,
    inner: usize,
}

impl Planes {
    pub(crate) fn new(tensor: FlexTensor) -> Self {
        let data = tensor.to_contiguous();
        let shape = data.shape();
        let channels = shape[1];
        let inner = shape.iter().skip(2).product::<usize>();
        Self {
            data,
            shape,
            channels,
            inner,
        }
    }

    /// A contiguous `[..., channels]` tensor as channels-last rows (`inner` = 1).
    pub(crate) fn channels_last(tensor: FlexTensor) -> Self {
        let data = tensor.to_contiguous();
        let shape = data.shape();
        let channels = shape[shape.num_dims() - 1];
        Self {
            data,
            shape,
            channels,
            inner: 1,
        }
    }

    pub(crate) fn shape(&self) -> &burn::tensor::Shape {
        &self.shape
    }

    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    pub(crate) fn inner(&self) -> usize {
        self.inner
    }

    pub(crate) fn values(&self) -> &[f32] {
        self.data.storage::<f32>()
    }

    fn row_len(&self) -> usize {
        self.channels * self.inner
    }

    /// Each channel's first value (0 for an empty tensor).
    fn first_values(&self) -> impl Iterator<Item = f32> + '_ {
        let values = self.values();
        (0..self.channels).map(move |c| values.get(c * self.inner).copied().unwrap_or(0.0))
    }

    /// Elements per channel.
    pub(crate) fn count(&self) -> f64 {
        (self.shape.num_elements() / self.channels) as f64
    }
}

pub(crate) fn vector(tensor: FlexTensor) -> Vec<f32> {
    tensor.to_contiguous().storage::<f32>().to_vec()
}

/// An f32 flex tensor of `shape` from its values in row-major order.
pub(crate) fn flex_tensor(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// Channels-last rows summed in f32 before their sum joins the f64 total: few enough that
/// the f32 sum stays exact to a few units in the last place.
const ROWS_PER_F32_SUM: usize = 16;

/// Rows per parallel task: enough work to amortise the per-channel partial sums.
fn rows_per_task(row_len: usize) -> usize {
    (16_384 / row_len.max(1)).max(1)
}

/// `f` compiled for AVX2 where the CPU has it, when it is an `#[inline(always)]` closure over
/// `#[inline(always)]` code: eight f32 lanes instead of baseline x86-64's four in its loops.
/// The same operations in the same order (Rust fuses no multiply-adds unasked, and every loop
/// here keeps its per-lane order whatever the vector width), so the same bits on every CPU.
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(test)]
    if portable::requested() {
        return f();
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2(f) };
    }
    f()
}

/// Tests' switch to the portable code of [`with_avx2`], to hold it to the AVX2 code's bits.
#[cfg(test)]
pub(crate) mod portable {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static HOLDERS: AtomicUsize = AtomicUsize::new(0);

    /// While one is held, [`super::with_avx2`] runs the portable code on every thread (tests
    /// running meanwhile do too, which the claim under test makes harmless).
    pub(crate) struct Only(());

    impl Only {
        pub(crate) fn new() -> Self {
            HOLDERS.fetch_add(1, Ordering::SeqCst);
            Self(())
        }
    }

    impl Drop for Only {
        fn drop(&mut self) {
            HOLDERS.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(super) fn requested() -> bool {
        HOLDERS.load(Ordering::SeqCst) > 0
    }
}

/// Writes the elements of a full-size operand from the given one on into a task's buffer.
pub(crate) type Expand<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// The second operand `y` of a per-element pass: a buffer of the values' shape, or values
/// expanded per task from something smaller (a pooled gradient).
enum Paired<'a> {
    Values(&'a [f32]),
    Expanded(Expand<'a>),
}

impl Paired<'_> {
    /// The values of the task whose elements start at `offset` (`len` of them), an expansion
    /// written into `buffer`.
    fn for_task<'b>(&'b self, offset: usize, len: usize, buffer: &'b mut Vec<f32>) -> &'b [f32] {
        match self {
            Paired::Values(values) => &values[offset..offset + len],
            Paired::Expanded(expand) => {
                buffer.resize(len, 0.0);
                expand(offset, buffer);
                buffer
            }
        }
    }
}

/// Per channel, the sums of the two terms `f(x, y, k)` returns for each element (`y` from
/// `other`, or `x` itself without one; `k` the channel's entry of `center`), in f64, in
/// parallel over rows.
fn channel_sums<F>(
    planes: &Planes,
    other: Option<Paired<'_>>,
    center: &[f32],
    f: F,
) -> (Vec<f64>, Vec<f64>)
where
    F: Fn(f32, f32, f32) -> (f32, f32) + Sync,
{
    let (channels, inner, row_len) = (planes.channels, planes.inner, planes.row_len());
    let center = &center[..channels];
    let values = planes.values();
    let chunk = rows_per_task(row_len) * row_len;
    let zeros = || (vec![0.0f64; channels], vec![0.0f64; channels]);
    values
        .par_chunks(chunk)
        .enumerate()
        .map(|(task, rows)| {
            let mut expanded = Vec::new();
            let others = other.as_ref().map_or(rows, |other| {
                other.for_task(task * chunk, rows.len(), &mut expanded)
            });
            let task = TaskSums {
                rows,
                others,
                shape: [channels, inner],
                center,
            };
            with_avx2(
                #[inline(always)]
                || task.sums(&f),
            )
        })
        // Partial sums combined in chunk order, not in the order threads finish, so a rerun
        // gives bit-identical statistics whatever the thread count.
        .collect::<Vec<_>>()
        .into_iter()
        .fold(zeros(), |mut a, b| {
            for c in 0..channels {
                a.0[c] += b.0[c];
                a.1[c] += b.1[c];
            }
            a
        })
}

/// One task's rows of [`channel_sums`] and their second operand.
struct TaskSums<'a> {
    rows: &'a [f32],
    others: &'a [f32],
    shape: [usize; 2],
    center: &'a [f32],
}

impl TaskSums<'_> {
    #[inline(always)]
    fn sums<F: Fn(f32, f32, f32) -> (f32, f32)>(&self, f: &F) -> (Vec<f64>, Vec<f64>) {
        let [channels, inner] = self.shape;
        let row_len = channels * inner;
        let (rows, other, center) = (self.rows, self.others, self.center);
        let mut sums = (vec![0.0f64; channels], vec![0.0f64; channels]);
        if inner == 1 {
            // Channels-last rows, vectorised over channels: blocks of `ROWS_PER_F32_SUM`
            // rows summed in f32, the blocks in f64 (a task's thousand rows summed in f32
            // cost the waveform front-end ~3e-4 of its gradients' accuracy).
            let (mut a, mut b) = (vec![0.0f32; channels], vec![0.0f32; channels]);
            let block = ROWS_PER_F32_SUM * row_len;
            for (rows, others) in rows.chunks(block).zip(other.chunks(block)) {
                a.fill(0.0);
                b.fill(0.0);
                let pairs = rows.chunks_exact(row_len).zip(others.chunks_exact(row_len));
                for (row, ys) in pairs {
                    // Zipped slices, not indices: no bounds checks, so the loop vectorises.
                    let lanes = a.iter_mut().zip(b.iter_mut()).zip(row).zip(ys).zip(center);
                    for ((((a, b), &x), &y), &k) in lanes {
                        let (p, q) = f(x, y, k);
                        *a += p;
                        *b += q;
                    }
                }
                for (sum, &v) in sums.0.iter_mut().zip(&a) {
                    *sum += f64::from(v);
                }
                for (sum, &v) in sums.1.iter_mut().zip(&b) {
                    *sum += f64::from(v);
                }
            }
            return sums;
        }
        let pairs = rows.chunks_exact(row_len).zip(other.chunks_exact(row_len));
        for (row, other_row) in pairs {
            for (c, &k) in center.iter().enumerate() {
                let segment = c * inner..(c + 1) * inner;
                let f = |x, y| f(x, y, k);
                let (a, b) = lane_sums(&row[segment.clone()], &other_row[segment], &f);
                sums.0[c] += f64::from(a);
                sums.1[c] += f64::from(b);
            }
        }
        sums
    }
}

/// Sums of `f(x, y)` over paired slices, in eight independent lanes so it vectorises.
#[inline(always)]
fn lane_sums<F: Fn(f32, f32) -> (f32, f32)>(xs: &[f32], ys: &[f32], f: &F) -> (f32, f32) {
    let mut a = [0.0f32; 8];
    let mut b = [0.0f32; 8];
    let (xc, yc) = (xs.chunks_exact(8), ys.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x8, y8) in xc.zip(yc) {
        for i in 0..8 {
            let (p, q) = f(x8[i], y8[i]);
            a[i] += p;
            b[i] += q;
        }
    }
    for (i, (&x, &y)) in xr.iter().zip(yr).enumerate() {
        let (p, q) = f(x, y);
        a[i] += p;
        b[i] += q;
    }
    (a.iter().sum(), b.iter().sum())
}

/// `out[i] = g(out[i], y[i], k)` over all elements of `[rows, channels, inner]` (the shape
/// given), in parallel over rows, where `y` comes from `other` and `k` holds the element's channel's entry of each of the three `coefficients`.
/// `out` is both an operand and the result, so a gradient, or the input it belongs to, can be
/// turned into the input's gradient in its own buffer.
fn map_channels_into<G>(
    out: &mut [f32],
    [channels, inner]: [usize; 2],
    other: Paired<'_>,
    coefficients: [&[f32]; 3],
    g: G,
) where
    G: Fn(f32, f32, [f32; 3]) -> f32 + Sync,
{
    let chunk = rows_per_task(channels * inner) * channels * inner;
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(task, out_rows)| {
            let mut expanded = Vec::new();
            let others = other.for_task(task * chunk, out_rows.len(), &mut expanded);
            with_avx2(
                #[inline(always)]
                || map_rows(out_rows, others, [channels, inner], coefficients, &g),
            )
        });
}

/// One task's rows of [`map_channels_into`], `others` their second operand.
#[inline(always)]
fn map_rows<G: Fn(f32, f32, [f32; 3]) -> f32>(
    out: &mut [f32],
    others: &[f32],
    [channels, inner]: [usize; 2],
    [k0, k1, k2]: [&[f32]; 3],
    g: &G,
) {
    let row_len = channels * inner;
    for (out_row, ys) in out
        .chunks_exact_mut(row_len)
        .zip(others.chunks_exact(row_len))
    {
        if inner == 1 {
            // Channels-last rows: zipped slices (no indexing), so the loop vectorises.
            let lanes = out_row.iter_mut().zip(k0).zip(k1).zip(k2).zip(ys);
            for ((((o, &a), &b), &c), &y) in lanes {
                *o = g(*o, y, [a, b, c]);
            }
            continue;
        }
        let segments = out_row.chunks_exact_mut(inner).zip(ys.chunks_exact(inner));
        for (c, (o, ys)) in segments.enumerate() {
            let k = [k0[c], k1[c], k2[c]];
            for (o, &y) in o.iter_mut().zip(ys) {
                *o = g(*o, y, k);
            }
        }
    }
}

/// `tensor` contiguous over its whole buffer, so that `storage_mut` can overwrite it: in place
/// when no one else holds the buffer (a gradient the backward consumes), copied otherwise.
fn writable(tensor: FlexTensor) -> FlexTensor {
    let whole = tensor
        .as_slice::<f32>()
        .is_some_and(|view| view.len() == tensor.storage::<f32>().len());
    if whole {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

impl ReluBatchNormOps for Flex {
    /// Burn's `((relu(x) − mean) / sqrt(var + ε)) · γ + β`, each step the same f32 operation
    /// in the same order (so the same bits), in one pass.
    fn relu_batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let planes = Planes::new(x);
        let (gamma, beta, mean) = (vector(gamma), vector(beta), vector(mean));
        let std: Vec<f32> = vector(variance)
            .iter()
            .map(|v| (v + epsilon as f32).sqrt())
            .collect();
        let (inner, row_len) = (planes.inner, planes.row_len());
        let values = planes.values();
        let mut out = vec![0.0f32; values.len()];
        let chunk = rows_per_task(row_len) * row_len;
        // As flex's relu: NaN propagates.
        let relu = |x: f32| if x.is_nan() || x > 0.0 { x } else { 0.0 };
        out.par_chunks_mut(chunk)
            .zip(values.par_chunks(chunk))
            .for_each(|(out_rows, rows)| {
                with_avx2(
                    #[inline(always)]
                    || {
                        let pairs = out_rows
                            .chunks_exact_mut(row_len)
                            .zip(rows.chunks_exact(row_len));
                        for (out_row, row) in pairs {
                            if inner == 1 {
                                // Channels-last rows: zipped slices, so the loop vectorises.
                                let lanes = out_row.iter_mut().zip(row).zip(&mean).zip(&std);
                                for ((((o, &x), &m), &s), (&g, &b)) in
                                    lanes.zip(gamma.iter().zip(&beta))
                                {
                                    *o = (relu(x) - m) / s * g + b;
                                }
                                continue;
                            }
                            let segments =
                                out_row.chunks_exact_mut(inner).zip(row.chunks_exact(inner));
                            for (c, (o, xs)) in segments.enumerate() {
                                let (m, s, g, b) = (mean[c], std[c], gamma[c], beta[c]);
                                for (o, &x) in o.iter_mut().zip(xs) {
                                    *o = (relu(x) - m) / s * g + b;
                                }
                            }
                        }
                    },
                )
            });
        flex_tensor(out, planes.shape)
    }

    fn relu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let planes = Planes::new(x);
        let norm = BatchNormalisation::of(&planes, gamma, beta, epsilon);
        let mut out = vec![0.0f32; planes.values().len()];
        map_channels_into(
            &mut out,
            [planes.channels, planes.inner],
            Paired::Values(planes.values()),
            [&norm.mean_f32, &norm.scale, &norm.beta],
            |_, x, [m, a, b]| BatchNormalisation::apply(x, m, a, b),
        );
        let (mean, variance) = norm.statistics();
        (flex_tensor(out, planes.shape.clone()), mean, variance)
    }

    fn relu_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let statistics = [gamma, mean, variance].map(vector);
        backward(
            Planes::new(x),
            &statistics,
            epsilon,
            OutputGradient::Whole(output_grad),
        )
    }
}

/// A batch's statistics of relu(x) per channel, and the normalisation they give:
/// `(relu(x) − mean)·scale + β`.
pub(crate) struct BatchNormalisation {
    mean: Vec<f64>,
    variance: Vec<f64>,
    pub(crate) mean_f32: Vec<f32>,
    pub(crate) scale: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}

impl BatchNormalisation {
    pub(crate) fn of(planes: &Planes, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> Self {
        let count = planes.count();
        // Sums of relu(x) − k for a k near each channel's mean (its first value): summing
        // relu(x) and relu(x)² and subtracting mean² cancels when the mean dwarfs the spread.
        let shift = planes
            .first_values()
            .map(|x| x.max(0.0))
            .collect::<Vec<_>>();
        let (sum, sum_sq) = channel_sums(planes, None, &shift, |x, _, k| {
            let d = x.max(0.0) - k;
            (d, d * d)
        });
        let offset: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let mean: Vec<f64> = offset
            .iter()
            .zip(&shift)
            .map(|(o, &k)| f64::from(k) + o)
            .collect();
        let variance: Vec<f64> = sum_sq
            .iter()
            .zip(&offset)
            .map(|(s, o)| (s / count - o * o).max(0.0))
            .collect();
        let gamma = vector(gamma);
        let scale: Vec<f32> = (0..planes.channels)
            .map(|c| (f64::from(gamma[c]) / (variance[c] + epsilon).sqrt()) as f32)
            .collect();
        let mean_f32 = mean.iter().map(|&m| m as f32).collect();
        Self {
            mean,
            variance,
            mean_f32,
            scale,
            beta: vector(beta),
        }
    }

    /// One output value. The mean is subtracted first: folded into one shift
    /// (β − mean·scale), a channel whose mean is large against its spread lost digits.
    #[inline(always)]
    pub(crate) fn apply(x: f32, mean: f32, scale: f32, beta: f32) -> f32 {
        (x.max(0.0) - mean) * scale + beta
    }

    /// The batch mean and biased variance as f32 tensors `[channels]`.
    pub(crate) fn statistics(self) -> (FlexTensor, FlexTensor) {
        let as_tensor = |v: Vec<f64>| {
            let channels = v.len();
            flex_tensor(v.into_iter().map(|m| m as f32).collect(), [channels])
        };
        (as_tensor(self.mean), as_tensor(self.variance))
    }
}

/// The gradient of `bn(relu(x))`'s output, as [`backward`] reads it.
pub(crate) enum OutputGradient<'a> {
    /// A tensor of the input's shape: it becomes the input's gradient in its own buffer.
    Whole(FlexTensor),
    /// Written out full-size a task at a time by `expand` (see [`Paired::Expanded`]), from
    /// something smaller (the maxima's gradient): the input's gradient takes the input's
    /// buffer, read and overwritten element by element.
    Expanded(Expand<'a>),
}

/// The training-mode backward of `bn(relu(x))`, through the batch statistics: the gradients
/// of x, γ and β. `statistics` are γ, the batch mean and the batch variance.
pub(crate) fn backward(
    planes: Planes,
    [gamma, mean, variance]: &[Vec<f32>; 3],
    epsilon: f64,
    output_grad: OutputGradient<'_>,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let count = planes.count();
    let shape = [planes.channels, planes.inner];
    let output_grad = match output_grad {
        OutputGradient::Whole(grad) => OutputGradient::Whole(writable(grad)),
        expanded => expanded,
    };
    let paired = match &output_grad {
        OutputGradient::Whole(grad) => Paired::Values(grad.storage::<f32>()),
        OutputGradient::Expanded(expand) => Paired::Expanded(*expand),
    };
    // Σ g and Σ g·(relu(x) − mean) per channel (the mean subtracted before the product,
    // not Σ g·relu(x) − mean·Σ g, which cancels).
    let (sum_g, sum_g_centered) = channel_sums(&planes, Some(paired), mean, |x, g, m| {
        (g, g * (x.max(0.0) - m))
    });
    let channels = planes.channels;
    let mut grad_gamma = vec![0.0f32; channels];
    let mut grad_beta = vec![0.0f32; channels];
    // grad_x = [x > 0] · (k_g·g + k_r·relu(x) + k_0) per channel; see the module docs of
    // Burn's batch_norm_train_backward for the unfused form.
    let mut k_g = vec![0.0f32; channels];
    let mut k_r = vec![0.0f32; channels];
    let mut k_0 = vec![0.0f32; channels];
    for c in 0..channels {
        let inv_std = 1.0 / (f64::from(variance[c]) + epsilon).sqrt();
        let m = f64::from(mean[c]);
        // Σ g·x̂ with x̂ = (relu(x) − mean)·inv_std.
        let sum_g_xhat = inv_std * sum_g_centered[c];
        grad_beta[c] = sum_g[c] as f32;
        grad_gamma[c] = sum_g_xhat as f32;
        let a = f64::from(gamma[c]) * inv_std;
        let (mean_g, mean_g_xhat) = (sum_g[c] / count, sum_g_xhat / count);
        k_g[c] = a as f32;
        k_r[c] = (-a * mean_g_xhat * inv_std) as f32;
        k_0[c] = (-a * mean_g + a * mean_g_xhat * inv_std * m) as f32;
    }
    let coefficients = [&k_g[..], &k_r, &k_0];
    let input_grad = |x: f32, g: f32, [a, b, c]: [f32; 3]| {
        if x > 0.0 { a * g + b * x + c } else { 0.0 }
    };
    let grad_x = match output_grad {
        OutputGradient::Whole(mut grad) => {
            let x = Paired::Values(planes.values());
            let into = grad.storage_mut::<f32>();
            map_channels_into(into, shape, x, coefficients, |g, x, k| input_grad(x, g, k));
            grad
        }
        OutputGradient::Expanded(expand) => {
            let mut x = writable(planes.data);
            let into = x.storage_mut::<f32>();
            let grad = Paired::Expanded(expand);
            map_channels_into(into, shape, grad, coefficients, input_grad);
            x
        }
    };
    (
        grad_x,
        flex_tensor(grad_gamma, [channels]),
        flex_tensor(grad_beta, [channels]),
    )
}

impl<B: Backend + ReluBatchNormOps, C: CheckpointStrategy> ReluBatchNormOps for Autodiff<B, C> {
    fn relu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct ReluBatchNormBackward;

        impl<B: Backend + ReluBatchNormOps> Backward<B, 3> for ReluBatchNormBackward {
            /// The input, gamma, the batch statistics and epsilon.
            type State = (
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                f64,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, mean, variance, epsilon) = ops.state;
                let (grad_x, grad_gamma, grad_beta) =
                    B::relu_batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, grad_x);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, grad_gamma);
                }
                if let Some(node) = node_beta {
                    grads.register::<B>(node.id, grad_beta);
                }
            }
        }

        let nodes = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (output, mean, variance) =
            B::relu_batch_norm_train(x.clone(), gamma.clone(), beta, epsilon);
        let output = match ReluBatchNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish((x, gamma, mean.clone(), variance.clone(), epsilon), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        (output, Self::from_inner(mean), Self::from_inner(variance))
    }
}

/// LibTorch: in training the statistics and the normalisation are libtorch's native batch
/// norm (one op instead of the ~10 passes and two layout copies Burn's generic
/// `batch_norm_train` runs there) and the backward eleven whole-tensor ops instead of ~16; at
/// inference, libtorch's batch norm with the running statistics.
#[cfg(feature = "tch")]
impl ReluBatchNormOps for burn::backend::LibTorch {
    fn relu_batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let output = x.tensor.relu().batch_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            Some(&mean.tensor),
            Some(&variance.tensor),
            false,
            0.0,
            epsilon,
            false,
        );
        burn::backend::libtorch::TchTensor::new(output)
    }

    fn relu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use burn::backend::libtorch::TchTensor;
        let activated = x.tensor.relu();
        let (output, mean, inv_std) = activated.native_batch_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            None::<&tch::Tensor>,
            None::<&tch::Tensor>,
            true,
            0.0,
            epsilon,
        );
        // The biased variance back from 1/√(var + ε): only ever used as var + ε again.
        let variance = inv_std.square().reciprocal() - epsilon;
        (
            TchTensor::new(output),
            TchTensor::new(mean),
            TchTensor::new(variance),
        )
    }

    fn relu_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use burn::backend::libtorch::TchTensor;
        let (x, g) = (&x.tensor, &output_grad.tensor);
        let rank = x.dim();
        let channels = x.size()[1];
        // Per-channel values broadcast over `[batch, channels, ...]`.
        let mut per_channel = vec![1i64; rank];
        per_channel[1] = channels;
        let broadcast = |v: &tch::Tensor| v.reshape(per_channel.as_slice());
        // Every axis but the channels'.
        let axes: Vec<i64> = (0..rank as i64).filter(|&d| d != 1).collect();
        let count = (x.numel() / channels.max(1) as usize) as f64;
        let inv_std = (&variance.tensor + epsilon).rsqrt();
        let normalized = (x.relu() - broadcast(&mean.tensor)) * broadcast(&inv_std);
        let sum_g = g.sum_dim_intlist(axes.as_slice(), false, None::<tch::Kind>);
        let sum_g_normalized =
            (g * &normalized).sum_dim_intlist(axes.as_slice(), false, None::<tch::Kind>);
        let scale = &gamma.tensor * &inv_std;
        let grad = (g
            - broadcast(&(&sum_g / count))
            - normalized * broadcast(&(&sum_g_normalized / count)))
            * broadcast(&scale);
        // Zero where the ReLU was: the gradient passes only where x > 0.
        let grad_x = x.threshold_backward(&grad, 0.0);
        (
            TchTensor::new(grad_x),
            TchTensor::new(sum_g_normalized),
            TchTensor::new(sum_g),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn check<const D: usize>(device: &Device, shape: [usize; D]) {
        let device = device.clone().autodiff();
        let _rng = crate::seed_exclusively(&device, 11);
        let channels = shape[1];
        let mut bn = BatchNormConfig::new(channels)
            .with_epsilon(1e-3)
            .with_momentum(0.01)
            .init(&device);
        // Gammas of both signs and non-zero betas, so every term of the gradient matters.
        bn.gamma = Param::from_tensor(Tensor::random(
            [channels],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        bn.beta = Param::from_tensor(Tensor::random(
            [channels],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let x = Tensor::<D>::random(shape, Distribution::Normal(0.3, 1.0), &device).require_grad();
        let weights = Tensor::<D>::random(shape, Distribution::Default, &device);

        let fused = relu_batch_norm(&bn, x.clone());
        let fused_stats = (bn.running_mean.value_sync(), bn.running_var.value_sync());
        let reference = bn.forward(relu(x.clone()));
        assert!(
            max_diff(fused.clone(), reference.clone()) < 1e-4,
            "{shape:?}: outputs differ"
        );

        let g_fused = (fused * weights.clone()).sum().backward();
        let g_ref = (reference * weights).sum().backward();
        let grad = |t: &Tensor<D>, g| t.grad(g).expect("x has a gradient");
        let dx = max_diff(grad(&x, &g_fused), grad(&x, &g_ref));
        assert!(dx < 1e-4, "{shape:?}: input gradients differ by {dx}");
        for (param, name) in [(&bn.gamma, "gamma"), (&bn.beta, "beta")] {
            let d = max_diff(param.grad(&g_fused).unwrap(), param.grad(&g_ref).unwrap());
            assert!(d < 1e-3, "{shape:?}: {name} gradients differ by {d}");
        }
        // One step from (0, 1) with momentum 0.01 towards the batch statistics of relu(x).
        let flat = relu(x.detach())
            .swap_dims(0, 1)
            .reshape([channels as i64, -1]);
        let (batch_var, batch_mean) = flat.var_mean_bias(1);
        let expect_mean = batch_mean.reshape([channels]) * 0.01;
        let expect_var = batch_var.reshape([channels]) * 0.01 + 0.99;
        assert!(
            max_diff(fused_stats.0, expect_mean) < 1e-5,
            "{shape:?}: running mean"
        );
        assert!(
            max_diff(fused_stats.1, expect_var) < 1e-5,
            "{shape:?}: running variance"
        );
    }

    /// A batch norm with random parameters and running statistics, and an input of `shape`
    /// with a NaN and a −0 in it, on `device`.
    fn inference_case(device: &Device, shape: [usize; 3]) -> (BatchNorm, Tensor<3>) {
        let channels = shape[1];
        let mut bn = BatchNormConfig::new(channels)
            .with_epsilon(1e-5)
            .init(device);
        let random =
            |mean, std| Tensor::random([channels], Distribution::Normal(mean, std), device);
        bn.gamma = Param::from_tensor(random(0.0, 1.0));
        bn.beta = Param::from_tensor(random(0.0, 1.0));
        bn.running_mean.update(random(0.5, 0.3));
        bn.running_var.update(random(0.0, 1.0).abs() + 0.01);
        let mut input = values(Tensor::<3>::random(
            shape,
            Distribution::Normal(0.2, 1.0),
            device,
        ));
        input[7] = f32::NAN;
        input[8] = -0.0;
        (bn, Tensor::from_data(TensorData::new(input, shape), device))
    }

    /// Shapes of both layouts the models use: `[rows, channels, 1]` is the channels-last
    /// rows' path (one value per channel), the others `[batch, channels, ...]`.
    const INFERENCE_SHAPES: [[usize; 3]; 3] = [[64, 24, 1], [4, 3, 37], [3, 5, 1000]];

    /// At inference on flex the fused op gives Burn's bits exactly, NaN included.
    #[test]
    fn fused_relu_batch_norm_at_inference_is_bit_identical_to_burns_ops() {
        let device = Device::flex();
        let _rng = crate::seed_exclusively(&device, 5);
        for shape in INFERENCE_SHAPES {
            let (bn, x) = inference_case(&device, shape);
            let bits =
                |t: Tensor<3>| -> Vec<u32> { values(t).iter().map(|v| v.to_bits()).collect() };
            let fused = bits(relu_batch_norm(&bn, x.clone()));
            let reference = bits(bn.forward(relu(x.clone())));
            assert_eq!(fused, reference, "{shape:?}");
            // The loops compiled for baseline x86-64 give the AVX2 build's bits.
            let _portable = portable::Only::new();
            assert_eq!(bits(relu_batch_norm(&bn, x)), fused, "{shape:?}, portable");
        }
    }

    /// At inference on libtorch the fused op is libtorch's native batch norm: Burn's values
    /// to float rounding, NaN where Burn's is NaN (`just test-tch`).
    #[cfg(feature = "tch")]
    #[test]
    fn on_libtorch_at_inference_it_matches_burns_ops() {
        let device = Device::libtorch();
        let _rng = crate::seed_exclusively(&device, 5);
        for shape in INFERENCE_SHAPES {
            let (bn, x) = inference_case(&device, shape);
            let fused = values(relu_batch_norm(&bn, x.clone()));
            let reference = values(bn.forward(relu(x)));
            for (i, (a, b)) in fused.iter().zip(&reference).enumerate() {
                let close = (a - b).abs() <= 1e-5 * b.abs().max(1.0);
                assert!(
                    a.is_nan() == b.is_nan() && (a.is_nan() || close),
                    "{shape:?}: value {i} is {a}, Burn's {b}"
                );
            }
        }
    }

    /// `relu(x) → batch norm` and its gradients under the loss `Σ w·out`, in f64 from the same
    /// f32 values: `(out, grad_x, grad_gamma, grad_beta)`, channels-last `[rows, channels]`.
    fn reference_f64(
        x: &[f32],
        w: &[f32],
        gamma: &[f32],
        beta: &[f32],
        epsilon: f64,
    ) -> [Vec<f64>; 4] {
        let channels = gamma.len();
        let rows = x.len() / channels;
        let (mut out, mut grad_x) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let (mut grad_gamma, mut grad_beta) = (vec![0.0; channels], vec![0.0; channels]);
        for c in 0..channels {
            let r: Vec<f64> = (0..rows)
                .map(|i| f64::from(x[i * channels + c].max(0.0)))
                .collect();
            let g: Vec<f64> = (0..rows).map(|i| f64::from(w[i * channels + c])).collect();
            let mean = r.iter().sum::<f64>() / rows as f64;
            let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / rows as f64;
            let inv_std = 1.0 / (var + epsilon).sqrt();
            let xhat: Vec<f64> = r.iter().map(|v| (v - mean) * inv_std).collect();
            grad_beta[c] = g.iter().sum();
            grad_gamma[c] = g.iter().zip(&xhat).map(|(g, h)| g * h).sum();
            let (mean_g, mean_gh) = (grad_beta[c] / rows as f64, grad_gamma[c] / rows as f64);
            let gm = f64::from(gamma[c]);
            for i in 0..rows {
                out[i * channels + c] = xhat[i] * gm + f64::from(beta[c]);
                if x[i * channels + c] > 0.0 {
                    grad_x[i * channels + c] = gm * inv_std * (g[i] - mean_g - xhat[i] * mean_gh);
                }
            }
        }
        [out, grad_x, grad_gamma, grad_beta]
    }

    /// The fused op against [`reference_f64`] on `x`: the largest relative error (as a norm)
    /// of the output and of each gradient.
    /// Burn's generator must be seeded (and held) by the caller.
    fn error_against_f64(x: Vec<f32>, channels: usize) -> f64 {
        let device = Device::flex().autodiff();
        let rows = x.len() / channels;
        let mut bn = BatchNormConfig::new(channels)
            .with_epsilon(1e-3)
            .init(&device);
        let normal = Distribution::Normal(0.0, 1.0);
        bn.gamma = Param::from_tensor(Tensor::random([channels], normal, &device));
        bn.beta = Param::from_tensor(Tensor::random([channels], normal, &device));
        let w = Tensor::<2>::random([rows, channels], normal, &device);
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, channels]), &device)
            .require_grad();
        let out = relu_batch_norm(&bn, input.clone());
        let grads = (out.clone() * w.clone()).sum().backward();
        let ours = [
            values(out),
            values(input.grad(&grads).unwrap()),
            values(bn.gamma.grad(&grads).unwrap()),
            values(bn.beta.grad(&grads).unwrap()),
        ];
        let (gamma, beta) = (values(bn.gamma.val()), values(bn.beta.val()));
        let exact = reference_f64(&x, &values(w), &gamma, &beta, 1e-3);
        ours.iter()
            .zip(&exact)
            .map(|(ours, exact)| {
                let diff: f64 = ours
                    .iter()
                    .zip(exact)
                    .map(|(a, b)| (f64::from(*a) - b).powi(2))
                    .sum();
                let norm: f64 = exact.iter().map(|b| b * b).sum();
                (diff / norm).sqrt()
            })
            .fold(0.0, f64::max)
    }

    /// Channels-last statistics over many rows are summed in f64 (in f32 a task's thousand
    /// rows cost the waveform model's gradients ~3e-4), and a channel whose mean dwarfs its spread keeps its
    /// digits (the mean is subtracted before squaring or multiplying).
    #[test]
    fn fused_relu_batch_norm_is_accurate_over_long_series_and_large_means() {
        let device = Device::flex();
        let _rng = crate::seed_exclusively(&device, 3);
        let normal = |shape: [usize; 2], mean, std| {
            values(Tensor::<2>::random(
                shape,
                Distribution::Normal(mean, std),
                &device,
            ))
        };
        let long = error_against_f64(normal([60_000, 4], 0.3, 1.0), 4);
        // Summed in f32 per task: 2.5e-6; in f64: 5e-8.
        assert!(long < 5e-7, "60 000 rows: relative error {long:e}");
        let offset = error_against_f64(normal([16, 8], 50.0, 0.05), 8);
        // Mean subtracted after squaring: 7e-2; before: 2e-5.
        assert!(
            offset < 2e-4,
            "mean 50, spread 0.05: relative error {offset:e}"
        );
    }

    #[test]
    fn fused_relu_batch_norm_matches_burns_ops_in_values_gradients_and_running_stats() {
        check_shapes(&Device::flex());
    }

    /// libtorch's native batch norm and the backward built on it (`just test-tch`).
    #[cfg(feature = "tch")]
    #[test]
    fn on_libtorch_it_matches_burns_ops_in_values_gradients_and_running_stats() {
        check_shapes(&Device::libtorch());
    }

    fn check_shapes(device: &Device) {
        check(device, [16, 5]);
        check(device, [4, 3, 37]);
        check(device, [3, 2, 4, 5]);
        check(device, [40, 7, 1]);
    }
}
