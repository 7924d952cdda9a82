//! The paper's building blocks (SPEC §5): every convolution is conv → ReLU → batch norm with
//! TensorFlow's batch-norm defaults (eps 1e-3, momentum 0.99 = 0.01 in Burn's convention), He
//! (fan-in) initialisation of the weights and zero biases (TensorFlow's convention).

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::config::ModelConfig;
use crate::conv_time::{self, conv_time};
use crate::device::is_flex;
use crate::fused::relu_batch_norm;
use crate::fused_pool;
use crate::matmul;
use crate::temporal;

/// He / variance-scaling initialisation on fan-in: N(0, 2 / fan_in).
fn he() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

/// Burn's layer configs initialise biases with the weights' initializer: with He init a
/// 3-tap stem's biases get a std of ~0.8 against a signal of ~0.1, and channels whose bias is
/// negative never fire through the ReLU. TensorFlow, the paper's framework, starts biases at 0.
fn zero_bias(bias: Option<Param<Tensor<1>>>, device: &Device) -> Option<Param<Tensor<1>>> {
    bias.map(|b| Initializer::Zeros.init(b.shape(), device))
}

fn batch_norm(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features)
        .with_epsilon(1e-3)
        .with_momentum(0.01)
        .init(device)
}

/// TensorFlow's "same" padding for an unstrided kernel: `(k - 1) / 2` before, the rest after.
pub fn tf_same_padding(kernel: usize) -> (usize, usize) {
    let total = kernel - 1;
    (total / 2, total - total / 2)
}

/// Zero-pad the time axis of channels-last `[batch, time, channels]`.
fn pad_time(x: Tensor<3>, (before, after): (usize, usize)) -> Tensor<3> {
    if before == 0 && after == 0 {
        x
    } else {
        let pad = [(before, after), (0, 0)];
        x.pad(pad, burn::tensor::ops::PadMode::Constant(0.0))
    }
}

/// Conv1d → ReLU → BN on channels-last `[batch, time, channels]`, with explicit (possibly
/// asymmetric) zero padding of time.
///
/// Burn's conv1d on flex transposes its input to channels-last, builds im2col tiles and
/// computes the weight gradient as a convolution whose output is only `kernel` wide, which
/// runs on narrow GEMM kernels. Kept channels-last, the convolution is one fused op
/// ([`conv_time()`]) that accumulates each tap's product of shifted rows into one output, with
/// a handwritten backward. A stride equal to the kernel (the waveform stem) is one matmul of
/// reshaped rows. One input channel at stride 1 (the temporal branches) keeps Burn's conv1d,
/// with the weight gradient of [`temporal`]. The weights stay in Burn's `Conv1d` layout.
#[derive(Module, Debug)]
pub struct ConvBnTime {
    conv: Conv1d,
    bn: BatchNorm,
    pad_before: usize,
    pad_after: usize,
}

impl ConvBnTime {
    /// `stride` must be 1 or equal to `kernel`.
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        pad: (usize, usize),
        device: &Device,
    ) -> Self {
        debug_assert!(stride == 1 || stride == kernel);
        let mut conv = Conv1dConfig::new(channels[0], channels[1], kernel)
            .with_stride(stride)
            .with_initializer(he())
            .init(device);
        conv.bias = zero_bias(conv.bias, device);
        Self {
            conv,
            bn: batch_norm(channels[1], device),
            pad_before: pad.0,
            pad_after: pad.1,
        }
    }

    /// `[batch, time, in]` → `[batch, steps, out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if !is_flex(&x.device()) {
            self.forward_burn(x)
        } else if self.runs_as_matmul() {
            self.forward_matmul(x)
        } else if self.conv.stride == 1 {
            self.forward_one_channel(x)
        } else {
            self.forward_burn(x)
        }
    }

    /// Flex, one input channel, stride 1: Burn's conv1d with its weight gradient summed in
    /// the same blocks on every host ([`temporal`]).
    fn forward_one_channel(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_channels_first(x, |x| {
            temporal::temporal_conv(x, self.conv.weight.val(), self.bias())
        })
    }

    /// Burn's conv1d, channels-first: faster where convolutions are native (libtorch).
    fn forward_burn(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_channels_first(x, |x| self.conv.forward(x))
    }

    /// Pad, go channels-first for `conv` (`[batch, in, time]` → `[batch, out, steps]`), ReLU
    /// → BN, and back to channels-last.
    fn forward_channels_first(
        &self,
        x: Tensor<3>,
        conv: impl FnOnce(Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let x = pad_time(x, (self.pad_before, self.pad_after)).swap_dims(1, 2);
        relu_batch_norm(&self.bn, conv(x)).swap_dims(1, 2)
    }

    /// The convolution's bias, zeros if it has none.
    fn bias(&self) -> Tensor<1> {
        match &self.conv.bias {
            Some(bias) => bias.val(),
            None => {
                let weight = self.conv.weight.val();
                Tensor::zeros([weight.dims()[0]], &weight.device())
            }
        }
    }

    /// `max_pool_time(self.forward(x), size)`. On flex in training (autodiff, batch
    /// statistics) ReLU → BN → pooling is one op ([`fused_pool`]), with the same bits.
    pub fn forward_pooled(&self, x: Tensor<3>, size: usize) -> Tensor<3> {
        if fused_pool::applies(&self.bn, &x.device()) && self.runs_as_matmul() {
            fused_pool::relu_batch_norm_max_pool(&self.bn, self.conv_matmul(x), size)
        } else {
            max_pool_time(self.forward(x), size)
        }
    }

    /// Whether flex runs the convolution as matmuls ([`Self::conv_matmul`]). One input channel
    /// and a long kernel (the temporal branches) would be hundreds of one-wide matmuls;
    /// Burn's direct small-channel convolution suits those.
    fn runs_as_matmul(&self) -> bool {
        let [_, channels_in, kernel] = self.conv.weight.dims();
        channels_in > 1 || self.conv.stride == kernel
    }

    /// Flex: [`Self::conv_matmul`] → ReLU → BN on channels-last rows.
    fn forward_matmul(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self.conv_matmul(x);
        // Channels-last rows: BN's channel axis is the last, as it expects on a 2-D input.
        let [batch, steps, channels_out] = y.dims();
        relu_batch_norm(&self.bn, y.reshape([batch * steps, channels_out])).reshape([
            batch,
            steps,
            channels_out,
        ])
    }

    /// Flex: the strided stem as one matmul over non-overlapping windows; every other
    /// convolution as the fused channels-last op (padding included, see [`conv_time()`]).
    fn conv_matmul(&self, x: Tensor<3>) -> Tensor<3> {
        let [channels_out, channels_in, kernel] = self.conv.weight.dims();
        let weight = self.conv.weight.val();
        let bias = self.bias();
        if self.conv.stride == kernel && kernel > 1 {
            let [batch, time, _] = x.dims();
            let steps = (time + self.pad_before + self.pad_after) / kernel;
            // Rows of `kernel` consecutive samples × channels, ordered (tap, channel).
            let rows = pad_time(x, (self.pad_before, self.pad_after))
                .narrow(1, 0, steps * kernel)
                .reshape([batch * steps, kernel * channels_in]);
            let taps = weight
                .permute([2, 1, 0])
                .reshape([kernel * channels_in, channels_out]);
            let y = matmul::matmul_2d(rows, taps) + bias.unsqueeze_dim(0);
            y.reshape([batch, steps, channels_out])
        } else {
            conv_time(x, weight, bias, (self.pad_before, self.pad_after))
        }
    }
}

/// Max-pool channels-last `[batch, time, channels]` over time, window = stride = `size`
/// (a trailing partial window is dropped, as Burn's MaxPool1d does): the fused op on flex;
/// elsewhere, viewed as a one-channel image `[batch, 1, time, channels]`, a `size × 1` 2-D pool
/// needs no transpose.
fn max_pool_time(x: Tensor<3>, size: usize) -> Tensor<3> {
    if is_flex(&x.device()) {
        return conv_time::max_pool_time(x, size);
    }
    let image: Tensor<4> = x.unsqueeze_dim(1);
    let options = burn::tensor::ops::MaxPoolOptions::new([size, 1]);
    let pooled = burn::tensor::module::max_pool2d(image, options);
    pooled.squeeze_dim(1)
}

/// One timbral branch: Conv2d over [time, frequency] (time zero-padded to keep its length,
/// valid in frequency) → ReLU → BN → max over the remaining frequency.
///
/// The convolution has one input channel and spans most of the mel axis, which Burn's
/// conv2d runs as direct loops. It is computed instead as one matmul: frames unfolded over
/// the kernel's time extent times a banded (Toeplitz) matrix built from the kernel, so the
/// forward and the weight gradient are large GEMMs (3-8x faster on flex, same values up to
/// float rounding). The weights stay in Burn's `Conv2d` layout, so checkpoints are unchanged.
#[derive(Module, Debug)]
pub struct TimbralBranch {
    conv: Conv2d,
    bn: BatchNorm,
    pad_time: usize,
}

impl TimbralBranch {
    pub fn new(filters: usize, kernel_time: usize, kernel_freq: usize, device: &Device) -> Self {
        let mut conv = Conv2dConfig::new([1, filters], [kernel_time, kernel_freq])
            .with_initializer(he())
            .init(device);
        conv.bias = zero_bias(conv.bias, device);
        Self {
            conv,
            bn: batch_norm(filters, device),
            pad_time: (kernel_time - 1) / 2,
        }
    }

    /// `[batch, frames, freq]` → `[batch, frames, filters]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if is_flex(&x.device()) {
            self.forward_matmul(x)
        } else {
            self.forward_burn(x)
        }
    }

    /// Burn's conv2d: faster where convolutions are native (libtorch).
    fn forward_burn(&self, x: Tensor<3>) -> Tensor<3> {
        let image: Tensor<4> = pad_time(x, (self.pad_time, self.pad_time)).unsqueeze_dim(1);
        let y = relu_batch_norm(&self.bn, self.conv.forward(image));
        y.max_dim(3).squeeze_dim::<3>(3).swap_dims(1, 2)
    }

    fn forward_matmul(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, frames, freq] = x.dims();
        let [filters, _, kernel_time, kernel_freq] = self.conv.weight.dims();
        let freq_out = freq - kernel_freq + 1;
        let pad = (self.pad_time, self.pad_time);
        let windows = conv_time::unfold_time(x, kernel_time, pad)
            .reshape([batch * frames, kernel_time * freq]);
        let bands = toeplitz(self.conv.weight.val(), freq);
        let mut y = matmul::matmul_2d(windows, bands).reshape([batch * frames, filters, freq_out]);
        if let Some(bias) = &self.conv.bias {
            y = y + bias.val().reshape([1, filters, 1]);
        }
        // [batch·frames, filters, freq_out] has the channels on axis 1, as BN expects, and BN's
        // statistics over (batch·frames, freq_out) are those over (batch, frames, freq_out).
        // In training (autodiff, batch statistics) ReLU → BN → max is one op, same bits.
        if fused_pool::applies(&self.bn, &y.device()) {
            let y = fused_pool::relu_batch_norm_max_inner(&self.bn, y);
            return y.reshape([batch, frames, filters]);
        }
        let y = relu_batch_norm(&self.bn, y).max_dim(2);
        y.reshape([batch, frames, filters])
    }
}

/// The banded matrix `[kernel_time·freq, filters·freq_out]` whose product with time-unfolded
/// frames is the valid-in-frequency convolution by `weight` (`[filters, 1, kernel_time,
/// kernel_freq]`): entry `((j, f'), (c, f))` is `weight[c, 0, j, f' − f]` when
/// `0 ≤ f' − f < kernel_freq`, else 0. Each kernel row, zero-padded to `freq + 1` and tiled,
/// read `freq` at a time, shifts by one per output bin; all ops are differentiable.
fn toeplitz(weight: Tensor<4>, freq: usize) -> Tensor<2> {
    let [filters, _, kernel_time, kernel_freq] = weight.dims();
    let freq_out = freq - kernel_freq + 1;
    let period = freq + 1;
    weight
        .reshape([filters, kernel_time, kernel_freq])
        .pad(
            [(0, period - kernel_freq)],
            burn::tensor::ops::PadMode::Constant(0.0),
        )
        .repeat_dim(2, freq_out)
        .narrow(2, 0, freq_out * freq)
        .reshape([filters, kernel_time, freq_out, freq])
        .permute([1, 3, 0, 2])
        .reshape([kernel_time * freq, filters * freq_out])
}

/// Std of the output layer's initial weights.
pub const OUTPUT_WEIGHT_STD: f64 = 0.01;

/// The musically motivated front-end: 6 timbral + 4 temporal branches, concatenated.
#[derive(Module, Debug)]
pub struct SpectrogramFrontEnd {
    timbral: Vec<TimbralBranch>,
    temporal: Vec<ConvBnTime>,
}

impl SpectrogramFrontEnd {
    /// The six timbral branches as (time kernel, frequency kernel, filters): kernels spanning
    /// 90 % and 40 % of the mel axis, each 7, 3 and 1 frames wide with nf, 2·nf and 4·nf
    /// filters. The model, `model info`'s table and the FLOP count all read this.
    pub fn timbral_branches(n_mels: usize, nf: usize) -> Vec<(usize, usize, usize)> {
        let mut branches = Vec::new();
        for share in [0.9, 0.4] {
            let kf = ((share * n_mels as f64) as usize).max(1);
            for (kt, filters) in [(7, nf), (3, 2 * nf), (1, 4 * nf)] {
                branches.push((kt, kf, filters));
            }
        }
        branches
    }

    /// The four temporal branches on the energy envelope as (kernel, filters).
    pub fn temporal_branches(nf: usize) -> [(usize, usize); 4] {
        [(165, nf), (128, 2 * nf), (64, 4 * nf), (32, 8 * nf)]
    }

    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let timbral = Self::timbral_branches(config.n_mels, config.nf)
            .into_iter()
            .map(|(kt, kf, filters)| TimbralBranch::new(filters, kt, kf, device))
            .collect();
        let temporal = Self::temporal_branches(config.nf)
            .into_iter()
            .map(|(k, filters)| ConvBnTime::new([1, filters], k, 1, tf_same_padding(k), device))
            .collect();
        Self { timbral, temporal }
    }

    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let timbral = self.timbral.iter_mut().map(|b| &mut b.bn);
        timbral
            .chain(self.temporal.iter_mut().map(|b| &mut b.bn))
            .collect()
    }

    /// Channels handed to the back-end: 14·nf (timbral) + 15·nf (temporal) = 29·nf (464).
    pub fn output_channels(nf: usize) -> usize {
        29 * nf
    }

    /// `[batch, frames, n_mels]` → channels-last `[batch, frames, 29·nf]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        // The energy envelope: mean over all mel bands, as a 1-channel sequence.
        let envelope: Tensor<3> = x.clone().mean_dim(2);
        let timbral = self.timbral.iter().map(|b| b.forward(x.clone())).collect();
        let mut maps = vec![Tensor::cat(timbral, 2)];
        maps.extend(self.temporal.iter().map(|b| b.forward(envelope.clone())));
        Tensor::cat(maps, 2)
    }
}

/// The sample-level front-end (Lee et al. 2017): a strided conv, then six conv + max-pool ×3,
/// computed channels-last (see [`ConvBnTime`]).
#[derive(Module, Debug)]
pub struct WaveformFrontEnd {
    /// The strided stem first, then the six pooled blocks.
    convs: Vec<ConvBnTime>,
}

impl WaveformFrontEnd {
    /// The paper's widths (nf = 16): the stem, then the six pooled blocks.
    pub const PAPER_WIDTHS: [usize; 7] = [64, 64, 64, 128, 128, 128, 256];

    /// Widths for `nf`: the paper's scaled by `nf / 16` (at least 1), so the same knob that
    /// narrows the spectrogram front-end narrows this one (the paper's widths at nf = 16).
    pub fn widths(nf: usize) -> [usize; 7] {
        Self::PAPER_WIDTHS.map(|w| (w * nf / 16).max(1))
    }

    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        self.convs.iter_mut().map(|c| &mut c.bn).collect()
    }

    /// Channels handed to the back-end (256 at nf = 16).
    pub fn output_channels(nf: usize) -> usize {
        Self::widths(nf)[6]
    }

    pub fn new(nf: usize, device: &Device) -> Self {
        let widths = Self::widths(nf);
        let mut convs = vec![ConvBnTime::new([1, widths[0]], 3, 3, (0, 0), device)];
        for pair in widths.windows(2) {
            convs.push(ConvBnTime::new([pair[0], pair[1]], 3, 1, (0, 0), device));
        }
        Self { convs }
    }

    /// `[batch, 1, samples]` → channels-last `[batch, steps, widths[6]]` (15 s → 108 steps).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, _, samples] = x.dims();
        let (stem, blocks) = self.convs.split_at(1);
        let mut x = stem[0].forward(x.reshape([batch, samples, 1]));
        for block in blocks {
            x = block.forward_pooled(x, 3);
        }
        x
    }
}

/// `layer` applied to `[batch, in]` rows. On flex its product is `matmul::matmul_2d`, the
/// same gemm calls as Burn's linear but summed in the same depth blocks on every host (the
/// paper's dense layer sums 1 024 inputs); elsewhere Burn's own layer.
fn dense(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    if !is_flex(&x.device()) {
        return layer.forward(x);
    }
    let y = matmul::matmul_2d(x, layer.weight.val());
    match &layer.bias {
        Some(bias) => y + bias.val().unsqueeze_dim(0),
        None => y,
    }
}

/// The shared back-end: three 7-wide convolutions with residuals and a ×2 time pooling,
/// global max ‖ mean over time, then dropout → dense → ReLU → BN → dropout → dense → sigmoid.
#[derive(Module, Debug)]
pub struct BackEnd {
    conv1: ConvBnTime,
    conv2: ConvBnTime,
    conv3: ConvBnTime,
    dropout: Dropout,
    dense: Linear,
    dense_bn: BatchNorm,
    output: Linear,
}

impl BackEnd {
    pub fn new(channels_in: usize, config: &ModelConfig, device: &Device) -> Self {
        let w = config.backend_width;
        let linear = |i, o, initializer| {
            let mut layer = LinearConfig::new(i, o)
                .with_initializer(initializer)
                .init(device);
            layer.bias = zero_bias(layer.bias, device);
            layer
        };
        Self {
            conv1: ConvBnTime::new([channels_in, w], 7, 1, (0, 0), device),
            conv2: ConvBnTime::new([w, w], 7, 1, (3, 3), device),
            conv3: ConvBnTime::new([w, w], 7, 1, (3, 3), device),
            dropout: DropoutConfig::new(config.dropout).init(),
            dense: linear(2 * w, config.dense_units, he()),
            dense_bn: batch_norm(config.dense_units, device),
            // Its input is batch-normalised (unit variance), so He weights would start the
            // logits with a std of ~1.4 and every output far from the labels; small weights
            // start each output at its bias (see `TaggingModel::with_output_prior`).
            output: linear(
                config.dense_units,
                config.n_tags,
                Initializer::Normal {
                    mean: 0.0,
                    std: OUTPUT_WEIGHT_STD,
                },
            ),
        }
    }

    /// Start every output at `prior` (per tag, in (0, 1)): the output bias becomes its logit.
    pub fn set_output_prior(&mut self, prior: &[f32]) {
        let device = self.output.weight.val().device();
        let logits: Vec<f32> = prior
            .iter()
            .map(|&p| {
                let p = p.clamp(1e-3, 1.0 - 1e-3);
                (p / (1.0 - p)).ln()
            })
            .collect();
        let n = logits.len();
        self.output.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(logits, [n]),
            &device,
        )));
    }

    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let mut norms = Vec::new();
        for conv in [&mut self.conv1, &mut self.conv2, &mut self.conv3] {
            norms.push(&mut conv.bn);
        }
        norms.push(&mut self.dense_bn);
        norms
    }

    pub fn dropout_mut(&mut self) -> &mut Dropout {
        &mut self.dropout
    }

    /// Channels-last `[batch, time, channels]` → tag probabilities `[batch, n_tags]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let hidden = self.dense_features(self.pooled_features(x));
        sigmoid(dense(&self.output, self.dropout.forward(hidden)))
    }

    /// The global max ‖ mean over time of the last convolution: `[batch, 2 · width]`.
    pub fn pooled_features(&self, x: Tensor<3>) -> Tensor<2> {
        let x1 = self.conv1.forward(x);
        let x2 = self.conv2.forward(x1.clone()) + x1;
        let pooled = max_pool_time(x2, 2);
        let x3 = self.conv3.forward(pooled.clone()) + pooled;
        Tensor::cat(
            vec![
                x3.clone().max_dim(1).squeeze_dim(1),
                x3.mean_dim(1).squeeze_dim(1),
            ],
            1,
        )
    }

    /// The dense layer after ReLU and batch norm: `[batch, dense_units]`.
    pub fn dense_features(&self, pooled: Tensor<2>) -> Tensor<2> {
        relu_batch_norm(
            &self.dense_bn,
            dense(&self.dense, self.dropout.forward(pooled)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool1dConfig;
    use burn::tensor::Distribution;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn timbral_matmul_matches_burns_conv2d_in_values_and_weight_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 3);
        for (kernel_time, kernel_freq) in [(7, 21), (3, 9), (1, 24), (5, 5)] {
            let branch = TimbralBranch::new(4, kernel_time, kernel_freq, &device);
            let x = Tensor::<3>::random([3, 11, 24], Distribution::Normal(0.0, 1.0), &device);
            let ours = branch.forward_matmul(x.clone());
            let theirs = branch.forward_burn(x);
            assert_eq!(ours.dims(), [3, 11, 4]);
            let diff = max_abs_diff(ours.clone(), theirs.clone());
            assert!(
                diff < 1e-4,
                "{kernel_time}x{kernel_freq}: outputs differ by {diff}"
            );

            // Weigh the outputs so every element's gradient matters.
            let weights = Tensor::<3>::random([3, 11, 4], Distribution::Default, &device);
            let grad_ours = (ours * weights.clone()).sum().backward();
            let grad_theirs = (theirs * weights).sum().backward();
            let w = &branch.conv.weight;
            let (g1, g2) = (w.grad(&grad_ours).unwrap(), w.grad(&grad_theirs).unwrap());
            let diff = max_abs_diff(g1, g2);
            assert!(
                diff < 1e-3,
                "{kernel_time}x{kernel_freq}: weight gradients differ by {diff}"
            );
        }
    }

    #[test]
    fn dense_is_burns_linear_bit_for_bit_in_values_and_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 17);
        let bits = |t: Tensor<2>| -> Vec<u32> {
            let values = t.into_data().try_to_vec::<f32>().expect("f32 tensor");
            values.iter().map(|v| v.to_bits()).collect()
        };
        // The main job's dense and output layers (64 → 32 → 8), and the paper's output layer
        // (500 → 50) with more rows than a batch (song-level windows). Depths ≤ 512: gemm sums
        // those in one block on any host, so Burn's layer is the reference.
        for (rows, inputs, outputs) in [(16, 64, 32), (16, 32, 8), (300, 500, 50)] {
            let layer = LinearConfig::new(inputs, outputs).init(&device);
            let x = Tensor::<2>::random([rows, inputs], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let (ours, theirs) = (dense(&layer, x.clone()), layer.forward(x.clone()));
            assert_eq!(
                bits(ours.clone()),
                bits(theirs.clone()),
                "{inputs}→{outputs}: values"
            );
            let weights = Tensor::<2>::random([rows, outputs], Distribution::Default, &device);
            let g_ours = (ours * weights.clone()).sum().backward();
            let g_theirs = (theirs * weights).sum().backward();
            let grad = |g, param: &Param<Tensor<2>>| bits(param.grad(g).expect("gradient"));
            assert_eq!(
                grad(&g_ours, &layer.weight),
                grad(&g_theirs, &layer.weight),
                "{inputs}→{outputs}: weight gradient"
            );
            let bias = layer.bias.as_ref().expect("bias");
            let bias_grad = |g| bits(bias.grad(g).expect("bias gradient").unsqueeze_dim(0));
            assert_eq!(
                bias_grad(&g_ours),
                bias_grad(&g_theirs),
                "{inputs}→{outputs}: bias gradient"
            );
            let x_grad = |g| bits(x.grad(g).expect("input gradient"));
            assert_eq!(
                x_grad(&g_ours),
                x_grad(&g_theirs),
                "{inputs}→{outputs}: input gradient"
            );
        }
    }

    #[test]
    fn channels_last_conv_matches_burns_conv1d_in_values_and_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 5);
        let cases = [
            ([3, 5], 3, 1, (0, 0), 20),
            ([1, 4], 3, 3, (0, 0), 31),
            ([2, 3], 7, 1, (3, 3), 9),
            ([1, 3], 8, 1, (3, 4), 20),
        ];
        for (channels, kernel, stride, pad, time) in cases {
            let layer = ConvBnTime::new(channels, kernel, stride, pad, &device);
            let x = Tensor::<3>::random(
                [3, time, channels[0]],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            let (ours, theirs) = (
                layer.forward_matmul(x.clone()),
                layer.forward_burn(x.clone()),
            );
            assert_eq!(ours.dims(), theirs.dims());
            let diff = max_abs_diff(ours.clone(), theirs.clone());
            assert!(
                diff < 1e-4,
                "{channels:?} k{kernel}: outputs differ by {diff}"
            );

            let weights = Tensor::<3>::random(ours.dims(), Distribution::Default, &device);
            let g1 = (ours * weights.clone()).sum().backward();
            let g2 = (theirs * weights).sum().backward();
            let dx = max_abs_diff(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            assert!(
                dx < 1e-4,
                "{channels:?} k{kernel}: input gradients differ by {dx}"
            );
            let w = &layer.conv.weight;
            let dw = max_abs_diff(w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
            assert!(
                dw < 1e-3,
                "{channels:?} k{kernel}: weight gradients differ by {dw}"
            );
        }
    }

    #[test]
    fn channels_last_max_pool_matches_burns_max_pool1d() {
        let device = Device::flex();
        let _rng = crate::seed_exclusively(&device, 7);
        let x = Tensor::<3>::random([2, 3, 17], Distribution::Normal(0.0, 1.0), &device);
        let theirs = MaxPool1dConfig::new(3)
            .with_stride(3)
            .init()
            .forward(x.clone());
        let ours = max_pool_time(x.swap_dims(1, 2), 3).swap_dims(1, 2);
        assert_eq!(max_abs_diff(ours, theirs), 0.0);
    }
}
