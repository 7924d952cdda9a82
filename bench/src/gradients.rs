//! Gradient accuracy (the bench's `gradients` rows): one batch's loss gradients on flex,
//! written with everything needed to recompute them — weights, input, targets — for
//! `reference/gradients_torch.py`, which does so in float64 and float32 PyTorch.

use std::path::Path;

use anyhow::{Context, Result};
use audio_features::npy;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, Gradients};
use models::{ModelConfig, TaggingModel};

/// Writes `x.npy`, `targets.npy`, `output.npy`, `param-NNN.npy` / `grad-NNN.npy` per trainable
/// tensor (in the model's order; batch-norm running statistics left out) and `meta.json`.
pub fn run(config: &ModelConfig, len: usize, batch: usize, seed: u64, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config = ModelConfig {
        dropout: 0.0,
        ..*config
    };
    let device = Device::flex().autodiff();
    let _rng = models::seed_exclusively(&device, seed);
    let model = TaggingModel::new(&config, &device)?;
    let width = models::input_width(&config);
    let x = Tensor::<2>::random(
        [batch, len * width],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let x_values = values(x.clone())?;
    let targets = Tensor::<2>::random([batch, config.n_tags], Distribution::Default, &device);
    let input = models::input_tensor(&config, x_values.clone(), batch, len, &device)?;
    let output = model.forward(input);
    let loss = (output.clone() - targets.clone()).powi_scalar(2).mean();
    let grads = loss.backward();

    npy::write_f32(&out.join("x.npy"), &[batch, len * width], &x_values)?;
    npy::write_f32(
        &out.join("targets.npy"),
        &[batch, config.n_tags],
        &values(targets)?,
    )?;
    npy::write_f32(
        &out.join("output.npy"),
        &[batch, config.n_tags],
        &values(output)?,
    )?;
    let mut visitor = Trainable {
        grads: &grads,
        path: Vec::new(),
        tensors: Vec::new(),
    };
    model.visit(&mut visitor);
    let mut names = Vec::new();
    for (i, tensor) in visitor.tensors.into_iter().enumerate() {
        let name = tensor.name;
        let value = tensor.value.with_context(|| format!("{name}'s values"))?;
        let grad = tensor
            .grad
            .with_context(|| format!("{name} has no gradient"))?
            .with_context(|| format!("{name}'s gradient"))?;
        npy::write_f32(
            &out.join(format!("param-{i:03}.npy")),
            &tensor.shape,
            &value,
        )?;
        npy::write_f32(&out.join(format!("grad-{i:03}.npy")), &tensor.shape, &grad)?;
        names.push(name);
    }
    let meta = serde_json::json!({
        "model": config.architecture.as_str(),
        "n_tags": config.n_tags,
        "n_mels": config.n_mels,
        "nf": config.nf,
        "backend_width": config.backend_width,
        "dense_units": config.dense_units,
        "batch": batch,
        "len": len,
        "tensors": names,
    });
    std::fs::write(out.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    println!(
        "{}",
        serde_json::json!({
            "bench": "gradients",
            "model": config.architecture.as_str(),
            "tensors": names.len(),
            "dir": out,
        })
    );
    Ok(())
}

fn values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a tensor: {e:?}"))
}

/// One trainable tensor: its path in the model, shape, values and gradient (each read
/// from the device, which can fail).
struct TrainableTensor {
    name: String,
    shape: Vec<usize>,
    value: Result<Vec<f32>>,
    grad: Option<Result<Vec<f32>>>,
}

/// Collects the trainable tensors (the batch-norm running statistics are buffers).
struct Trainable<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    tensors: Vec<TrainableTensor>,
}

impl ModuleVisitor for Trainable<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self
            .path
            .last()
            .is_some_and(|name| models::model::is_running_statistic(name))
        {
            return;
        }
        let value = param.val();
        self.tensors.push(TrainableTensor {
            name: self.path.join("."),
            shape: value.dims().to_vec(),
            value: values(value),
            grad: param.grad(self.grads).map(values),
        });
    }
}
