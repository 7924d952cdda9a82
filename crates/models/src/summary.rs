//! The layer table of `tagscale model info`: output shape and parameters of every layer,
//! derived from the configuration (tests check it against a real forward pass and Burn's own
//! parameter count).

use crate::config::{Architecture, ModelConfig, waveform_steps};
use crate::error::Result;
use crate::layers::{SpectrogramFrontEnd, WaveformFrontEnd};

/// One row of the table; shapes exclude the batch dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    pub name: String,
    pub output: Vec<usize>,
    pub params: usize,
}

/// Conv + bias + batch-norm scale and shift.
fn conv_bn_params(kernel_values: usize, filters: usize) -> usize {
    kernel_values * filters + filters + 2 * filters
}

/// The layer table for an input of `len` frames (spectrogram) or samples (waveform).
pub fn summary(config: &ModelConfig, len: usize) -> Result<Vec<LayerRow>> {
    config.validate()?;
    let steps = config.frontend_steps(len)?;
    let row = |name: String, output: Vec<usize>, params: usize| LayerRow {
        name,
        output,
        params,
    };
    let mut rows = Vec::new();
    let channels = match config.architecture {
        Architecture::Spectrogram => {
            let (f, nf) = (config.n_mels, config.nf);
            rows.push(row("input (frames x mels)".into(), vec![len, f], 0));
            for (kt, kf, filters) in SpectrogramFrontEnd::timbral_branches(f, nf) {
                let name = format!("timbral conv {kt}x{kf} + max over freq");
                rows.push(row(
                    name,
                    vec![filters, len],
                    conv_bn_params(kt * kf, filters),
                ));
            }
            for (k, filters) in SpectrogramFrontEnd::temporal_branches(nf) {
                rows.push(row(
                    format!("temporal conv {k} (same)"),
                    vec![filters, len],
                    conv_bn_params(k, filters),
                ));
            }
            rows.push(row("concat".into(), vec![29 * nf, len], 0));
            29 * nf
        }
        Architecture::Waveform => {
            rows.push(row("input (samples)".into(), vec![len], 0));
            let steps = waveform_steps(len);
            let widths = WaveformFrontEnd::widths(config.nf);
            rows.push(row(
                "conv 3 stride 3".into(),
                vec![widths[0], steps[0]],
                conv_bn_params(3, widths[0]),
            ));
            let mut c = widths[0];
            for (&w, &t) in widths[1..].iter().zip(&steps[1..]) {
                rows.push(row(
                    "conv 3 + max-pool 3".into(),
                    vec![w, t],
                    conv_bn_params(3 * c, w),
                ));
                c = w;
            }
            c
        }
    };
    let (w, d, n) = (config.backend_width, config.dense_units, config.n_tags);
    let t1 = steps - 6;
    rows.push(row(
        "back-end conv1 7 (valid)".into(),
        vec![w, t1],
        conv_bn_params(7 * channels, w),
    ));
    rows.push(row(
        "back-end conv2 7 + residual".into(),
        vec![w, t1],
        conv_bn_params(7 * w, w),
    ));
    rows.push(row("max-pool 2".into(), vec![w, t1 / 2], 0));
    rows.push(row(
        "back-end conv3 7 + residual".into(),
        vec![w, t1 / 2],
        conv_bn_params(7 * w, w),
    ));
    rows.push(row("global max || mean".into(), vec![2 * w], 0));
    rows.push(row(
        "dropout + dense + ReLU + BN".into(),
        vec![d],
        2 * w * d + d + 2 * d,
    ));
    rows.push(row("dropout + dense + sigmoid".into(), vec![n], d * n + n));
    Ok(rows)
}

/// Floating-point operations of one example's forward pass for an input of `len` frames
/// (spectrogram) or samples (waveform): two per multiply-add of every convolution and dense
/// layer, at every position the layer computes (before pooling). Bias, ReLU, batch norm and
/// pooling are left out (a few per cent). A training step costs about three times this per
/// example: the forward, then the gradients for the inputs and for the weights.
pub fn forward_flops(config: &ModelConfig, len: usize) -> Result<u64> {
    config.validate()?;
    let steps = config.frontend_steps(len)?;
    let mut macs = 0usize;
    let channels = match config.architecture {
        Architecture::Spectrogram => {
            let (f, nf) = (config.n_mels, config.nf);
            for (kt, kf, filters) in SpectrogramFrontEnd::timbral_branches(f, nf) {
                macs += len * (f - kf + 1) * filters * kt * kf;
            }
            for (k, filters) in SpectrogramFrontEnd::temporal_branches(nf) {
                macs += len * filters * k;
            }
            29 * nf
        }
        Architecture::Waveform => {
            let steps = waveform_steps(len);
            let widths = WaveformFrontEnd::widths(config.nf);
            macs += steps[0] * widths[0] * 3;
            for i in 1..7 {
                // A valid 3-wide convolution over the previous output, then pooling by 3.
                macs += (steps[i - 1] - 2) * widths[i] * 3 * widths[i - 1];
            }
            widths[6]
        }
    };
    let (w, d, n) = (config.backend_width, config.dense_units, config.n_tags);
    let t1 = steps - 6;
    macs += t1 * w * 7 * channels + t1 * w * 7 * w + t1 / 2 * w * 7 * w;
    macs += 2 * w * d + d * n;
    Ok(2 * macs as u64)
}

/// The table as text, ending with `parameters: N`.
pub fn format_table(rows: &[LayerRow]) -> String {
    let shape = |s: &[usize]| {
        format!(
            "[{}]",
            s.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<width$}  {:>14}  {:>10}\n", "layer", "output", "params");
    for r in rows {
        out.push_str(&format!(
            "{:<width$}  {:>14}  {:>10}\n",
            r.name,
            shape(&r.output),
            r.params
        ));
    }
    out.push_str(&format!(
        "parameters: {}",
        rows.iter().map(|r| r.params).sum::<usize>()
    ));
    out
}
