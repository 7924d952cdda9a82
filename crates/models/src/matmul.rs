//! The models' matrix products on flex: the same bits on every host, and outputs written
//! straight into buffers of their own.
//!
//! burn-flex's matmul allocates each output by zeroing a byte vector and then copying it into
//! a 16-byte-aligned one: two passes over the output on the calling thread, between parallel
//! GEMMs, ~5 % of a paper-width spectrogram step on two threads (models README, "Where the
//! time goes"). `matmul_2d` calls gemm as burn-flex does (same operands, strides and
//! parallelism, in the forward and in both gradients) into a plain zeroed buffer: one pass
//! fewer, and no copy.
//!
//! gemm sizes the blocks it sums a long inner dimension in from the CPU's L1 cache, so one
//! product gave different bits on an AMD EPYC and an Intel Xeon. `gemm_into`, which every
//! gemm call of the models goes through (`matmul_2d`, the fused convolutions of `conv_time`),
//! cuts the inner dimension itself into the blocks gemm uses on the EPYC, so results do not
//! depend on the cache. Where gemm does not cut, the values are burn-flex's matmul's to the
//! bit.
//!
//! gemm's AVX-512 kernels (its `x86-v4` feature) sum each output term by term in k order, as
//! its AVX2 kernels do, except on the two routes that sum in SIMD lanes (its horizontal and
//! row-major matrix-vector kernels: 16 lanes instead of 8; its column-major matrix-vector
//! kernel was not examined, see `summed_in_lanes`). `gemm_into` computes those products
//! itself in the AVX2 kernels' order, so an AVX-512 host gives an AVX2 host's bits.

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;

use crate::device::is_flex;
use crate::fused::flex_tensor;

#[backend_extension(Flex, Autodiff)]
pub trait MatmulOps: Backend {
    /// `lhs` `[m, k]` · `rhs` `[k, n]`: `[m, n]`.
    fn matmul_2d(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `lhs · rhs` of two matrices on any device: the op above on flex, Burn's matmul elsewhere
/// (the extension is implemented for flex only; another backend would panic in it).
pub fn matmul_2d(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    if !is_flex(&lhs.device()) {
        return lhs.matmul(rhs);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as MatmulOps>::matmul_2d(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// A matrix operand as gemm reads it: its storage, where it starts, and its strides.
struct Operand {
    tensor: FlexTensor,
    rows: usize,
    cols: usize,
    start: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Operand {
    /// Strided views (a transpose) are read in place, as burn-flex's matmul reads them;
    /// anything with a negative stride is made contiguous first.
    fn new(tensor: FlexTensor) -> Self {
        let tensor = if tensor.layout().strides().iter().all(|&s| s >= 0) {
            tensor
        } else {
            tensor.to_contiguous()
        };
        let (shape, strides) = (tensor.shape(), tensor.layout().strides());
        Self {
            rows: shape[0],
            cols: shape[1],
            start: tensor.layout().start_offset(),
            row_stride: strides[0] as usize,
            col_stride: strides[1] as usize,
            tensor,
        }
    }

    fn view(&self) -> View<'_> {
        View {
            values: &self.tensor.storage::<f32>()[self.start..],
            row_stride: self.row_stride,
            col_stride: self.col_stride,
        }
    }
}

/// burn-flex's own rule for when a product is worth gemm's threads (its `get_parallelism`):
/// the same rule, so that each product runs as burn-flex would run it.
pub(crate) fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;
    if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// `lhs · rhs` into a new row-major buffer, with burn-flex's gemm call.
fn product(lhs: &Operand, rhs: &Operand) -> FlexTensor {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul_2d: inner dimensions differ");
    // Zeroed, not left uninitialised for gemm to fill: a zeroed allocation is one pass (or
    // none, for fresh pages), and gemm's handling of a destination it is told not to read is
    // not something to rest memory safety on.
    let mut out = vec![0.0f32; m * n];
    gemm_into(
        [m, n, k],
        &mut out,
        n,
        false,
        lhs.view(),
        rhs.view(),
        parallelism(m, n, k),
    );
    flex_tensor(out, [m, n])
}

/// A strided f32 matrix as gemm reads it: the values from its first element on, and the
/// distance between rows and between columns.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub values: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View<'_> {
    /// Panics unless every element of a `rows × cols` matrix lies inside `values`.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        check_fits(
            self.values.len(),
            [rows, cols],
            [self.row_stride, self.col_stride],
            what,
        );
    }
}

/// Panics unless a `rows × cols` matrix (at least one element each way) with these strides
/// fits in `len` values: gemm reads and writes through raw pointers.
fn check_fits(
    len: usize,
    [rows, cols]: [usize; 2],
    [row_stride, col_stride]: [usize; 2],
    what: &str,
) {
    let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
    assert!(last < len, "gemm: {what} outside its storage");
}

/// The depth (inner dimension) of one gemm call that gemm never splits on any host.
///
/// gemm sums a product's k terms in blocks, and for products with m or n above 64 it sizes
/// the blocks from the L1 data cache it detects (`kernel_params`): with f32 and its FMA
/// kernels, at most 512 terms on a 32 KiB 8-way L1 (AMD EPYC), 1 024 on a 48 KiB 12-way one
/// (Intel Xeon). Each block's sum is rounded into the output before the next is added, so the
/// same product gave different bits on the two. Never below 512 on any host, so a call of at
/// most this depth is one block everywhere.
const DEPTH_BLOCK: usize = 512;

/// The depth blocks `gemm_into` sums `k` in: exactly those gemm itself picks on a 32 KiB
/// 8-way L1 (`ceil(k / ceil(k / 512))` terms each, the last the rest) where gemm sizes them
/// from the cache, and the whole of `k` where it does not. gemm (0.19) routes a product past
/// `kernel_params` when k ≤ 2, when m or n is 1 (matrix-vector kernels), and when m and n are
/// both at most 64 (blocks of 512, the last the rest); none of those depends on the host. (Its
/// horizontal kernels, the fourth route, never get here: [`summed_in_lanes`].)
fn depth_blocks([m, n, k]: [usize; 3]) -> impl Iterator<Item = Range<usize>> {
    let sized_by_cache = k > DEPTH_BLOCK && m > 1 && n > 1 && (m > 64 || n > 64);
    let block = if sized_by_cache {
        k.div_ceil(k.div_ceil(DEPTH_BLOCK))
    } else {
        k.max(1)
    };
    (0..k)
        .step_by(block)
        .map(move |start| start..(start + block).min(k))
}

/// `dst (m × n, rows `dst_row_stride` apart) = lhs (m × k) · rhs (k × n)`, or `+=` when
/// `accumulate`, summing over k in [`depth_blocks`], or in AVX2's lanes where gemm would sum
/// in lanes ([`summed_in_lanes`]): the same bits on every host. Every gemm call of the models
/// goes through here. With `k = 0`, `dst` is left as it is.
pub(crate) fn gemm_into(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    dst_row_stride: usize,
    accumulate: bool,
    lhs: View,
    rhs: View,
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    check_fits(dst.len(), [m, n], [dst_row_stride, 1], "dst");
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    if summed_in_lanes([m, n, k], &lhs, &rhs) {
        lane_sums_into([m, n, k], dst, dst_row_stride, accumulate, &lhs, &rhs);
        return;
    }
    for (i, depth) in depth_blocks([m, n, k]).enumerate() {
        // Each block after the first adds onto the output, as gemm does between its own
        // blocks (alpha 1, beta 1: one rounding per block).
        let read_dst = accumulate || i > 0;
        let lhs_block = &lhs.values[depth.start * lhs.col_stride..];
        let rhs_block = &rhs.values[depth.start * rhs.row_stride..];
        // SAFETY: the checks above keep every index of the m × k, k × n and m × n matrices
        // inside their slices (a block's are a subset), and `dst` is borrowed mutably, so it
        // aliases neither input.
        unsafe {
            gemm::gemm(
                m,
                n,
                depth.len(),
                dst.as_mut_ptr(),
                1,
                dst_row_stride as isize,
                read_dst,
                lhs_block.as_ptr(),
                lhs.col_stride as isize,
                lhs.row_stride as isize,
                rhs_block.as_ptr(),
                rhs.col_stride as isize,
                rhs.row_stride as isize,
                if read_dst { 1.0 } else { 0.0 },
                1.0f32,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// Whether gemm would sum each output in SIMD lanes, whose count is the host's vector width
/// (8 f32 with AVX2, 16 with AVX-512): both operands contiguous along k, and either m·n ≤ 256
/// (its "horizontal" kernels) or, beyond two terms, a matrix-vector product (its row-major
/// gemv). Its packed kernels sum each output term by term in k order on any vector width
/// (tested); its column-major gemv was not examined, but a gemm-common that ran every call
/// with both kernel sets found no other product of the main job that differed.
fn summed_in_lanes([m, n, k]: [usize; 3], lhs: &View, rhs: &View) -> bool {
    let along_k = lhs.col_stride == 1 && rhs.row_stride == 1;
    along_k && (m * n <= 256 || (k > 2 && (m <= 1 || n <= 1)))
}

/// The lanes of gemm's horizontal kernels with AVX2 (8 f32), whichever vector width the host
/// has, and the depth it sums in per block.
const LANES: usize = 8;
const LANE_DEPTH_BLOCK: usize = 1024;

/// The products of [`summed_in_lanes`], computed as gemm 0.19's horizontal kernels compute
/// them with AVX2 (tested against recorded bits): each output's terms in 8 lanes (term `t` in
/// lane `t mod 8`, fused multiply-adds), blocks of 1 024 terms each reduced as its
/// `reduce_sum` does and added onto the output. So AVX-512 hosts give the AVX2 hosts' bits.
fn lane_sums_into(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    dst_row_stride: usize,
    accumulate: bool,
    lhs: &View,
    rhs: &View,
) {
    let dot = lane_dot_for_this_cpu();
    for i in 0..m {
        let row = &lhs.values[i * lhs.row_stride..][..k];
        for j in 0..n {
            let column = &rhs.values[j * rhs.col_stride..][..k];
            let out = &mut dst[i * dst_row_stride + j];
            for (block, start) in (0..k).step_by(LANE_DEPTH_BLOCK).enumerate() {
                let end = (start + LANE_DEPTH_BLOCK).min(k);
                let sum = dot(&row[start..end], &column[start..end]);
                // gemm: `beta·sum` (beta 1) into a destination it does not read, else
                // `fma(beta, sum, dst)`, which is `sum + dst` with one rounding.
                *out = if accumulate || block > 0 {
                    sum + *out
                } else {
                    sum
                };
            }
        }
    }
}

/// [`lane_dot`] with `mul_add` as one instruction where the CPU has FMA (elsewhere it is a
/// libm call: the same value, slower).
fn lane_dot_for_this_cpu() -> fn(&[f32], &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "fma")]
        fn lane_dot_fma(a: &[f32], b: &[f32]) -> f32 {
            lane_dot(a, b)
        }
        // SAFETY: the CPU has FMA, checked just above.
        return |a, b| unsafe { lane_dot_fma(a, b) };
    }
    lane_dot
}

/// One block's dot product in gemm's AVX2 order: 8 lane sums from +0, the last partial step
/// with zeros in the missing lanes (as its masked load), then `reduce_sum`: the halves lane by
/// lane, then `(x0 + x2) + (x1 + x3)`.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (mut a_steps, mut b_steps) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (a, b) in (&mut a_steps).zip(&mut b_steps) {
        for (l, lane) in lanes.iter_mut().enumerate() {
            *lane = a[l].mul_add(b[l], *lane);
        }
    }
    let (a_rest, b_rest) = (a_steps.remainder(), b_steps.remainder());
    if !a_rest.is_empty() {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let (x, y) = (a_rest.get(l), b_rest.get(l));
            *lane = x.map_or(0.0, |&x| x).mul_add(y.map_or(0.0, |&y| y), *lane);
        }
    }
    let x: [f32; 4] = std::array::from_fn(|i| lanes[i] + lanes[i + 4]);
    (x[0] + x[2]) + (x[1] + x[3])
}

impl MatmulOps for Flex {
    fn matmul_2d(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        product(&Operand::new(lhs), &Operand::new(rhs))
    }
}

impl<B: Backend + MatmulOps, C: CheckpointStrategy> MatmulOps for Autodiff<B, C> {
    fn matmul_2d(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Matmul2dBackward;

        impl<B: Backend + MatmulOps> Backward<B, 2> for Matmul2dBackward {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_lhs, node_rhs] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (lhs, rhs) = ops.state;
                // As Burn's matmul backward: grad · rhsᵀ and lhsᵀ · grad, transposes as views.
                if let Some(node) = node_lhs {
                    let rhs_t = B::float_transpose(rhs);
                    grads.register::<B>(node.id, B::matmul_2d(grad.clone(), rhs_t));
                }
                if let Some(node) = node_rhs {
                    let lhs_t = B::float_transpose(lhs);
                    grads.register::<B>(node.id, B::matmul_2d(lhs_t, grad));
                }
            }
        }

        let nodes = [lhs.node(), rhs.node()];
        let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
        match Matmul2dBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::matmul_2d(lhs.clone(), rhs.clone());
                prep.finish((lhs, rhs), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::matmul_2d(lhs, rhs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn bits(t: Tensor<2>) -> Vec<u32> {
        let values = t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// `dst (+)= lhs · rhs` (row-major `lhs` m × k given by `lhs_at(i, t)`, row-major `rhs`
    /// k × n) as gemm's kernels compute it with depth blocks of `block`: per output, each
    /// block's terms fused-multiply-added in order starting from zero, then added to the
    /// output (one rounding per block).
    fn blocked_reference(
        [m, n, k]: [usize; 3],
        lhs_at: impl Fn(usize, usize) -> f32,
        rhs: &[f32],
        mut dst: Vec<f32>,
        accumulate: bool,
        block: usize,
    ) -> Vec<f32> {
        for i in 0..m {
            for j in 0..n {
                let out = &mut dst[i * n + j];
                for start in (0..k).step_by(block) {
                    let mut acc = 0.0f32;
                    for t in start..(start + block).min(k) {
                        acc = lhs_at(i, t).mul_add(rhs[t * n + j], acc);
                    }
                    *out = if accumulate || start > 0 {
                        *out + acc
                    } else {
                        acc
                    };
                }
            }
        }
        dst
    }

    fn random_values(len: usize, seed: u64) -> Vec<f32> {
        // A small LCG: any values do, as long as sums depend on their grouping.
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn to_bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn products_sum_in_the_same_depth_blocks_on_every_host() {
        // (m, k, n, lhs given transposed, accumulate, EPYC's blocks, a larger L1's blocks).
        // 70 × 1100 × 80: gemm would sum in blocks of 367 on a 32 KiB 8-way L1 and of 550 on a
        // 48 KiB 12-way one. 96 × 3200 × 80 with a transposed lhs, accumulating: the shape of
        // the timbral weight gradient (458 against 800). 20 × 1100 × 20: m and n ≤ 64, blocks
        // of 512 (the last the rest) on any host, which gemm_into leaves to gemm.
        let cases = [
            (70, 1100, 80, false, false, 367, Some(550)),
            (96, 3200, 80, true, true, 458, Some(800)),
            (20, 1100, 20, false, false, 512, None),
        ];
        for (m, k, n, transposed, accumulate, block, other_block) in cases {
            let lhs = random_values(m * k, 1);
            let rhs = random_values(k * n, 2);
            let start = random_values(m * n, 3);
            // A transposed lhs is stored k × m and read with its strides swapped.
            let (lhs_view, lhs_at): (View, Box<dyn Fn(usize, usize) -> f32>) = if transposed {
                let view = View {
                    values: &lhs,
                    row_stride: 1,
                    col_stride: m,
                };
                (view, Box::new(|i, t| lhs[t * m + i]))
            } else {
                let view = View {
                    values: &lhs,
                    row_stride: k,
                    col_stride: 1,
                };
                (view, Box::new(|i, t| lhs[i * k + t]))
            };
            let rhs_view = View {
                values: &rhs,
                row_stride: n,
                col_stride: 1,
            };
            let mut out = if accumulate {
                start.clone()
            } else {
                vec![0.0; m * n]
            };
            gemm_into(
                [m, n, k],
                &mut out,
                n,
                accumulate,
                lhs_view,
                rhs_view,
                parallelism(m, n, k),
            );
            let reference = |block| {
                blocked_reference([m, n, k], &lhs_at, &rhs, start.clone(), accumulate, block)
            };
            assert_eq!(
                to_bits(&out),
                to_bits(&reference(block)),
                "{m}x{k}x{n}: blocks of {block}"
            );
            if let Some(other) = other_block {
                // The case tells the hosts apart: other blocks give other bits.
                assert_ne!(to_bits(&reference(block)), to_bits(&reference(other)));
            }
        }
    }

    /// Lane-summed shapes, as `(m, k, n, accumulate)`: conv_time's back-end products of the main
    /// job (32 channels, a few steps, accumulating), the output layer's input gradient (27
    /// tags), a depth of two horizontal blocks with a partial last step, a 16 × 16 tile, and a
    /// matrix-vector product beyond 256 outputs.
    const LANE_CASES: [(usize, usize, usize, bool); 5] = [
        (32, 32, 5, true),
        (32, 27, 4, false),
        (3, 2053, 7, true),
        (16, 13, 16, false),
        (300, 40, 1, false),
    ];

    /// `gemm_into` of a lane-summed case: `lhs` m × k row-major, `rhs` k × n stored as n × k
    /// (both contiguous along k), `dst` row-major.
    fn lane_case(m: usize, k: usize, n: usize, accumulate: bool) -> Vec<f32> {
        let (lhs, rhs) = (random_values(m * k, 4), random_values(n * k, 5));
        let lhs = View {
            values: &lhs,
            row_stride: k,
            col_stride: 1,
        };
        let rhs = View {
            values: &rhs,
            row_stride: 1,
            col_stride: k,
        };
        assert!(summed_in_lanes([m, n, k], &lhs, &rhs));
        let mut out = random_values(m * n, 6);
        gemm_into(
            [m, n, k],
            &mut out,
            n,
            accumulate,
            lhs,
            rhs,
            gemm::Parallelism::None,
        );
        out
    }

    /// FNV-1a of the bits of `values`.
    fn bits_hash(values: &[f32]) -> u64 {
        to_bits(values)
            .iter()
            .fold(0xcbf29ce484222325, |hash, &bits| {
                (hash ^ u64::from(bits)).wrapping_mul(0x100000001b3)
            })
    }

    /// The horizontal cases' bits are gemm 0.19's own with its AVX2 kernels, recorded on an
    /// Intel Xeon (gemm built without AVX-512 kernels, so the same kernels an AVX2-only host
    /// runs); the matrix-vector case's are this order's (gemm's AVX2 gemv sums otherwise),
    /// recorded so that it cannot drift. A host that would sum in 16 lanes gives these bits too.
    #[test]
    fn lane_summed_products_have_gemms_avx2_bits_on_every_host() {
        let recorded = [
            0xa56979cc58942dc1,
            0xe16d0e8833ec8e36,
            0x35355421c22e658c,
            0x7b3f1034ce73798e,
            0x65bed8624f419f7a,
        ];
        for ((m, k, n, accumulate), recorded) in LANE_CASES.into_iter().zip(recorded) {
            let hash = bits_hash(&lane_case(m, k, n, accumulate));
            assert_eq!(hash, recorded, "{m}x{k}x{n}: {hash:#018x}");
        }
    }

    #[test]
    fn matmul_2d_is_burns_matmul_bit_for_bit_in_values_and_gradients() {
        let device = Device::flex().autodiff();
        let _rng = crate::seed_exclusively(&device, 13);
        // (m, k, n, lhs given transposed, lhs tracked): small (one thread in gemm), above
        // burn-flex's threshold for gemm's threads (m·n·k ≥ 192³), a strided (transposed) left
        // operand, an untracked left operand (the timbral windows), and a zero inner size.
        let cases = [
            (7, 5, 3, false, true),
            (300, 200, 150, false, true),
            (64, 48, 40, true, true),
            (256, 160, 200, false, false),
            (4, 0, 3, false, true),
        ];
        for (m, k, n, transposed, lhs_tracked) in cases {
            let random = |shape: [usize; 2]| {
                Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device)
            };
            let lhs = if transposed {
                random([k, m]).transpose()
            } else {
                random([m, k])
            };
            let lhs = if lhs_tracked { lhs.require_grad() } else { lhs };
            let rhs = random([k, n]).require_grad();
            let weights = random([m, n]);
            let ours = matmul_2d(lhs.clone(), rhs.clone());
            let theirs = lhs.clone().matmul(rhs.clone());
            assert_eq!(
                bits(ours.clone()),
                bits(theirs.clone()),
                "{m}x{k}x{n}: values"
            );
            let g_ours = (ours * weights.clone()).sum().backward();
            let g_theirs = (theirs * weights).sum().backward();
            let grad_rhs = |g| bits(rhs.grad(g).expect("rhs gradient").inner());
            assert_eq!(
                grad_rhs(&g_ours),
                grad_rhs(&g_theirs),
                "{m}x{k}x{n}: rhs gradient"
            );
            if lhs_tracked {
                let grad_lhs = |g| bits(lhs.grad(g).expect("lhs gradient").inner());
                assert_eq!(
                    grad_lhs(&g_ours),
                    grad_lhs(&g_theirs),
                    "{m}x{k}x{n}: lhs gradient"
                );
            } else {
                assert!(lhs.grad(&g_ours).is_none());
            }
        }
    }
}
