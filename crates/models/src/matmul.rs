//! A 2-D matrix product whose output is written straight into a buffer of its own.
//!
//! burn-flex's matmul allocates each output by zeroing a byte vector and then copying it into
//! a 16-byte-aligned one: two passes over the output on the calling thread, between parallel
//! GEMMs, ~5 % of a paper-width spectrogram step on two threads (models README, "Where the
//! time goes"). This op calls gemm exactly as burn-flex does (same operands, strides and
//! parallelism, in the forward and in both gradients), so the values are the same bits, into
//! a plain zeroed buffer: one pass fewer, and no copy.

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
    row_stride: isize,
    col_stride: isize,
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
            row_stride: strides[0],
            col_stride: strides[1],
            tensor,
        }
    }

    /// The operand's values from its first element on; every element gemm reads is in it.
    fn values(&self) -> &[f32] {
        let values = &self.tensor.storage::<f32>()[self.start..];
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride as usize
                + (self.cols - 1) * self.col_stride as usize;
            assert!(
                last < values.len(),
                "matmul_2d: operand outside its storage"
            );
        }
        values
    }
}

/// burn-flex's own rule for when a product is worth gemm's threads (its `get_parallelism`):
/// the same rule, so that each product runs as burn-flex would run it.
fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
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
    let len = m * n;
    // Zeroed, not left uninitialised for gemm to fill: a zeroed allocation is one pass (or
    // none, for fresh pages), and gemm's handling of a destination it is told not to read is
    // not something to rest memory safety on.
    let mut out = vec![0.0f32; len];
    if len > 0 && k > 0 {
        let (lhs_values, rhs_values) = (lhs.values(), rhs.values());
        // SAFETY: `values` checks that every operand index gemm computes is inside its slice,
        // and `out` holds the m × n row-major output.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs_values.as_ptr(),
                lhs.col_stride,
                lhs.row_stride,
                rhs_values.as_ptr(),
                rhs.col_stride,
                rhs.row_stride,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism(m, n, k),
            );
        }
    }
    flex_tensor(out, [m, n])
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
