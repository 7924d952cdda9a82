//! The spectrogram front-end's temporal convolutions on flex: Burn's conv1d, with a weight
//! gradient whose long sums are grouped the same way on every host.
//!
//! A temporal branch convolves the one-channel energy envelope with a long kernel (32–165
//! frames). Burn computes its weight gradient as a convolution of the input by the output
//! gradient, which burn-flex runs as one GEMM whose inner dimension is batch × output frames
//! (3 216 in the main job) and whose other side is the kernel (up to 165). gemm sums such a
//! product in blocks sized from the CPU's L1 cache (see [`crate::matmul`]), so the gradient,
//! and every figure trained from it, differed between an AMD EPYC and an Intel Xeon. Here the
//! forward, the input gradient and the bias gradient are Burn's own; the weight gradient is
//! the same GEMM, with the same operands in the same order, through `matmul::gemm_into`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;

use crate::device::is_flex;
use crate::fused::flex_tensor;
use crate::matmul::{View, gemm_into, parallelism};

/// The operations, per backend.
#[backend_extension(Flex, Autodiff)]
pub trait TemporalConvOps: Backend {
    /// `x` `[batch, 1, time]` convolved by `weight` `[filters, 1, kernel]` plus `bias`
    /// `[filters]`, stride 1, no padding: `[batch, filters, time − kernel + 1]`.
    fn temporal_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The gradient of `temporal_conv`'s output with respect to `weight`: `[filters, 1,
    /// kernel]`.
    fn temporal_conv_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `temporal_conv` on any device: see [`TemporalConvOps::temporal_conv`]; Burn's conv1d off
/// flex (the extension is implemented for flex only).
pub fn temporal_conv(x: Tensor<3>, weight: Tensor<3>, bias: Tensor<1>) -> Tensor<3> {
    if !is_flex(&x.device()) {
        return burn::tensor::module::conv1d(x, weight, Some(bias), valid());
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as TemporalConvOps>::temporal_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// Stride 1, no padding, no dilation, one group: Burn's `Conv1d` with valid padding.
fn valid() -> ConvOptions<1> {
    ConvOptions::new([1], [0], [1], 1)
}

/// Whether burn-flex runs the weight gradient's convolution (input channels = `batch`,
/// output channels = `filters`, kernel = `steps`, output length = `kernel`) as a GEMM, that
/// is, none of its special cases: a 1×1 kernel, at most 4 input and 16 output channels
/// (which covers depthwise), or the direct path (≥ 32 input channels, a kernel ≤ 8, ≤ 800
/// outputs).
fn gradient_runs_as_gemm(batch: usize, filters: usize, steps: usize, kernel: usize) -> bool {
    let one_by_one = steps == 1;
    let small_channel = batch <= 4 && filters <= 16;
    let direct = batch >= 32 && steps <= 8 && kernel <= 800;
    !(one_by_one || small_channel || direct)
}

/// Output positions per GEMM in burn-flex's convolution (its `TILE_SIZE`).
const TILE: usize = 512;

impl TemporalConvOps for Flex {
    fn temporal_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        <Flex as ModuleOps<Flex>>::conv1d(x, weight, Some(bias), valid())
    }

    fn temporal_conv_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (batch, time) = (x.shape()[0], x.shape()[2]);
        let (filters, kernel) = (weight.shape()[0], weight.shape()[2]);
        let steps = output_grad.shape()[2];
        if batch == 0 || filters == 0 || steps == 0 {
            // An empty sum.
            return flex_tensor(vec![0.0f32; filters * kernel], [filters, 1, kernel]);
        }
        if !gradient_runs_as_gemm(batch, filters, steps, kernel) || steps + kernel != time + 1 {
            return <Flex as ModuleOps<Flex>>::conv1d_weight_backward(
                x,
                weight,
                output_grad,
                valid(),
            );
        }
        let x = x.to_contiguous();
        let grad = output_grad.to_contiguous();
        let (x, grad) = (x.storage::<f32>(), grad.storage::<f32>());
        // burn-flex's operands: the input time-major (`[time, batch]`), and the output
        // gradient as `[filters, steps · batch]`, each row ordered (step, batch entry). So
        // the sum for tap p runs over steps, and within a step over the batch.
        let mut input = vec![0.0f32; time * batch];
        for (b, series) in x.chunks_exact(time).enumerate() {
            for (t, &v) in series.iter().enumerate() {
                input[t * batch + b] = v;
            }
        }
        let depth = steps * batch;
        let mut lhs = vec![0.0f32; filters * depth];
        for (b, entry) in grad.chunks_exact(filters * steps).enumerate() {
            for (o, series) in entry.chunks_exact(steps).enumerate() {
                for (t, &g) in series.iter().enumerate() {
                    lhs[o * depth + t * batch + b] = g;
                }
            }
        }
        // burn-flex copies the windows (im2col); read in place, column p of the right operand
        // starts at time p: element (t · batch + b, p) is input[(p + t) · batch + b].
        let mut out = vec![0.0f32; filters * kernel];
        for start in (0..kernel).step_by(TILE) {
            let tile = TILE.min(kernel - start);
            gemm_into(
                [filters, tile, depth],
                &mut out[start..],
                kernel,
                false,
                View {
                    values: &lhs,
                    row_stride: depth,
                    col_stride: 1,
                },
                View {
                    values: &input[start * batch..],
                    row_stride: 1,
                    col_stride: batch,
                },
                parallelism(filters, tile, depth),
            );
        }
        flex_tensor(out, [filters, 1, kernel])
    }
}

impl<B: Backend + TemporalConvOps, C: CheckpointStrategy> TemporalConvOps for Autodiff<B, C> {
    fn temporal_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct TemporalConvBackward;

        impl<B: Backend + TemporalConvOps> Backward<B, 3> for TemporalConvBackward {
            /// The input, the weight and the bias.
            type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, bias) = ops.state;
                // As Burn's conv1d backward, with the weight gradient of this module.
                if let Some(node) = node_x {
                    let grad_x =
                        B::conv1d_x_backward(x.clone(), weight.clone(), grad.clone(), valid());
                    grads.register::<B>(node.id, grad_x);
                }
                if let Some(node) = node_weight {
                    let grad_weight = B::temporal_conv_weight_grad(x.clone(), weight, grad.clone());
                    grads.register::<B>(node.id, grad_weight);
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::conv1d_bias_backward(x, bias, grad));
                }
            }
        }

        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let output = B::temporal_conv(x.clone(), weight.clone(), bias.clone());
        match TemporalConvBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, weight, bias), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }

    /// Untracked: the inner backend's gradient, as a constant.
    fn temporal_conv_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::temporal_conv_weight_grad(
            x.into_primitive(),
            weight.into_primitive(),
            output_grad.into_primitive(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv1d;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        let values = t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        values.iter().map(|v| v.to_bits()).collect()
    }

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    #[test]
    fn temporal_conv_is_burns_conv1d_bit_for_bit_where_gemm_sums_in_one_block() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 23);
        // (batch, filters, kernel, time): burn-flex's GEMM path with a depth of 8 · 8 = 64,
        // its small-channel path (≤ 4 clips, ≤ 16 filters) and its direct path (≥ 32 clips,
        // ≤ 8 output steps).
        for (batch, filters, kernel, time) in [(8, 8, 33, 40), (3, 4, 17, 30), (32, 4, 20, 27)] {
            let x = random([batch, 1, time], &device).require_grad();
            let weight = random([filters, 1, kernel], &device).require_grad();
            let bias = random([filters], &device).require_grad();
            let ours = temporal_conv(x.clone(), weight.clone(), bias.clone());
            let theirs = conv1d(x.clone(), weight.clone(), Some(bias.clone()), valid());
            let case = format!("{batch} clips, {filters} filters, kernel {kernel}");
            assert_eq!(bits(ours.clone()), bits(theirs.clone()), "{case}: values");
            let weights = random(ours.dims(), &device);
            let g_ours = (ours * weights.clone()).sum().backward();
            let g_theirs = (theirs * weights).sum().backward();
            let grad_x = |g| bits(x.grad(g).expect("input gradient"));
            assert_eq!(grad_x(&g_ours), grad_x(&g_theirs), "{case}: input gradient");
            let grad_w = |g| bits(weight.grad(g).expect("weight gradient"));
            assert_eq!(
                grad_w(&g_ours),
                grad_w(&g_theirs),
                "{case}: weight gradient"
            );
            let grad_b = |g| bits(bias.grad(g).expect("bias gradient"));
            assert_eq!(grad_b(&g_ours), grad_b(&g_theirs), "{case}: bias gradient");
        }
    }

    #[test]
    fn temporal_weight_gradient_is_summed_in_the_same_blocks_on_every_host() {
        // The main job's longest branch: 16 clips of 201 steps, kernel 165, 4 filters. The
        // gradient of tap p sums 3 216 terms, ordered (step, clip): gemm's blocks are 460 terms
        // on a 32 KiB 8-way L1 (AMD EPYC), 804 on a 48 KiB 12-way one (Intel Xeon).
        let device = Device::flex();
        let _rng = crate::seed_exclusively(&device, 29);
        let (batch, filters, kernel, steps) = (16, 4, 165, 201);
        let time = steps + kernel - 1;
        let x = random([batch, 1, time], &device);
        let weight = random([filters, 1, kernel], &device);
        let grad = random([batch, filters, steps], &device);
        let values = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        let (xs, gs) = (values(x.clone()), values(grad.clone()));
        let ours = Tensor::<3>::from_dispatch(
            <burn::backend::Dispatch as TemporalConvOps>::temporal_conv_weight_grad(
                x.into_dispatch(),
                weight.into_dispatch(),
                grad.into_dispatch(),
            ),
        );
        let reference = |block: usize| {
            let depth = steps * batch;
            let mut out = vec![0.0f32; filters * kernel];
            for o in 0..filters {
                for p in 0..kernel {
                    let mut sum = 0.0f32;
                    for start in (0..depth).step_by(block) {
                        let mut acc = 0.0f32;
                        for kk in start..(start + block).min(depth) {
                            let (t, b) = (kk / batch, kk % batch);
                            let g = gs[(b * filters + o) * steps + t];
                            acc = g.mul_add(xs[b * time + p + t], acc);
                        }
                        sum = if start == 0 { acc } else { sum + acc };
                    }
                    out[o * kernel + p] = sum;
                }
            }
            out.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
        };
        assert_eq!(bits(ours), reference(460));
        assert_ne!(
            reference(460),
            reference(804),
            "the case tells the hosts apart"
        );
    }
}
