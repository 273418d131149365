//! Parameters under HuggingFace names and in PyTorch layout, both ways: the machinery the name
//! maps of each architecture (`bert_names`, `modernbert::names`) share. Linear weights are stored
//! `[in, out]` by burn and `[out, in]` by PyTorch; embedding tables and LayerNorms have the same
//! layout in both.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use burn::module::Param;
use burn::nn::Linear;

use crate::model::layer_norm::LayerNorm;
use burn::prelude::*;

/// A tensor in row-major order under its HuggingFace name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Where a named tensor lives in the model.
pub enum Slot<'a> {
    Vector(&'a mut Param<Tensor<1>>),
    /// Same layout on both sides (embedding tables).
    Table(&'a mut Param<Tensor<2>>),
    /// A linear layer's weight: transposed between the two.
    Linear(&'a mut Param<Tensor<2>>),
}

/// Every parameter of a model with its HuggingFace name.
pub type Slots<'a> = Vec<(String, Slot<'a>)>;

/// A linear layer's weight and, if it has one, its bias under `name`.
pub fn linear<'a>(slots: &mut Slots<'a>, name: &str, layer: &'a mut Linear) {
    slots.push((format!("{name}.weight"), Slot::Linear(&mut layer.weight)));
    if let Some(bias) = layer.bias.as_mut() {
        slots.push((format!("{name}.bias"), Slot::Vector(bias)));
    }
}

/// A LayerNorm's weight and, if it has one, its bias under `name`.
pub fn layer_norm<'a>(slots: &mut Slots<'a>, name: &str, norm: &'a mut LayerNorm) {
    slots.push((format!("{name}.weight"), Slot::Vector(&mut norm.gamma)));
    if let Some(beta) = norm.beta.as_mut() {
        slots.push((format!("{name}.bias"), Slot::Vector(beta)));
    }
}

pub fn values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read a tensor: {e:?}"))
}

fn named<const D: usize>(tensor: Tensor<D>) -> Result<NamedTensor> {
    Ok(NamedTensor {
        shape: tensor.dims().to_vec(),
        values: values(tensor)?,
    })
}

/// The slots' tensors in PyTorch layout.
pub fn read_slots(slots: Slots) -> Result<BTreeMap<String, NamedTensor>> {
    let mut out = BTreeMap::new();
    for (name, slot) in slots {
        let tensor = match slot {
            Slot::Vector(p) => named(p.val())?,
            Slot::Table(p) => named(p.val())?,
            Slot::Linear(p) => named(p.val().transpose())?,
        };
        out.insert(name, tensor);
    }
    Ok(out)
}

/// Replaces every slot's parameter by the tensor of the same name. A missing tensor or a shape
/// that differs is an error naming it; the names of tensors no slot took are returned.
pub fn write_slots(
    slots: Slots,
    tensors: &BTreeMap<String, NamedTensor>,
    device: &Device,
) -> Result<Vec<String>> {
    let mut used = BTreeSet::new();
    for (name, slot) in slots {
        let tensor = tensors
            .get(&name)
            .with_context(|| format!("the checkpoint has no tensor '{name}'"))?;
        used.insert(name.clone());
        let check = |expected: Vec<usize>| {
            if tensor.shape != expected {
                bail!(
                    "tensor '{name}' has shape {:?}, the configuration gives {:?}",
                    tensor.shape,
                    expected
                );
            }
            Ok(())
        };
        let data = |shape: &[usize]| TensorData::new(tensor.values.clone(), shape.to_vec());
        match slot {
            Slot::Vector(p) => {
                let dims = p.val().dims();
                check(dims.to_vec())?;
                *p = Param::from_tensor(Tensor::from_data(data(&dims), device));
            }
            Slot::Table(p) => {
                let dims = p.val().dims();
                check(dims.to_vec())?;
                *p = Param::from_tensor(Tensor::from_data(data(&dims), device));
            }
            Slot::Linear(p) => {
                let [d_in, d_out] = p.val().dims();
                check(vec![d_out, d_in])?;
                let t: Tensor<2> = Tensor::from_data(data(&[d_out, d_in]), device);
                *p = Param::from_tensor(t.transpose());
            }
        }
    }
    Ok(tensors
        .keys()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect())
}
