//! `model.safetensors` read into, and written from, named f32 tensors (the `safetensors` crate
//! does the format; this converts dtypes and reports errors with the file's name).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::model::named_tensors::NamedTensor;

/// Every tensor of a safetensors file, as f32 (F32, F16 and BF16 are read).
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, NamedTensor>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => bail!(
                "{}: tensor '{name}' is {other:?}; cloze reads F32, F16 and BF16 weights",
                path.display()
            ),
        };
        let shape = view.shape().to_vec();
        tensors.insert(name, NamedTensor { shape, values });
    }
    Ok(tensors)
}

/// Writes f32 tensors with the `{"format": "pt"}` metadata transformers expects.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, NamedTensor>) -> Result<()> {
    let bytes: Vec<(&String, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            (
                name,
                t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data)| {
            let view = TensorView::new(Dtype::F32, tensors[*name].shape.clone(), data)
                .map_err(|e| anyhow!("tensor '{name}': {e}"))?;
            Ok((name.as_str(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let serialized = safetensors::serialize(views, Some(metadata))
        .map_err(|e| anyhow!("cannot serialise the weights: {e}"))?;
    crate::fsutil::write_atomic(path, &serialized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_survive_a_round_trip_and_half_precision_reads_as_f32() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let tensors = BTreeMap::from([
            (
                "a.weight".to_owned(),
                NamedTensor {
                    shape: vec![2, 3],
                    values: vec![0.5, -1.0, 2.25, 3.0, -0.125, 7.0],
                },
            ),
            (
                "b.bias".to_owned(),
                NamedTensor {
                    shape: vec![1],
                    values: vec![1e-7],
                },
            ),
        ]);
        write_safetensors(&path, &tensors).unwrap();
        assert_eq!(read_safetensors(&path).unwrap(), tensors);

        let halves: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let view = TensorView::new(Dtype::F16, vec![2], &halves).unwrap();
        let bytes = safetensors::serialize([("h", view)], None).unwrap();
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_safetensors(&path).unwrap()["h"].values, [1.5, -2.0]);

        std::fs::write(&path, b"not a safetensors file").unwrap();
        let err = read_safetensors(&path).unwrap_err().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }
}
