//! Rotary position embeddings (RoPE, Su et al. 2021): each query and key is rotated by an angle
//! proportional to its position, so that their dot product depends on the offset between the two
//! positions alone. A head can then find "the token before me" from the first steps, which is
//! what lets masked-LM pretraining leave the unigram plateau in a short budget; nothing is added
//! to the input.
//!
//! The rotation pairs dimension `i` with `i + d_head/2` (HuggingFace's `rotate_half`), not
//! neighbouring dimensions as burn-nn's `RotaryEncoding` does, so that weights move between cloze
//! and HuggingFace models unchanged. Written here for that reason, and because the tables are
//! plain tensors of the model's float type (burn-nn's builds an f32 sign tensor).

use burn::prelude::*;

use crate::model::precision::as_dtype_of;

#[derive(Module, Debug)]
pub struct Rope {
    /// `cos(pos * theta^(-2i/d_head))`, each frequency twice (both halves): `[max_len, d_head]`.
    cos: Tensor<2>,
    /// The same with `sin`.
    sin: Tensor<2>,
}

impl Rope {
    /// Tables for positions `0..max_len` of heads of `d_head` dimensions (even).
    pub fn new(d_head: usize, max_len: usize, theta: f64, device: &Device) -> Self {
        let half = d_head / 2;
        let mut cos = Vec::with_capacity(max_len * d_head);
        let mut sin = Vec::with_capacity(max_len * d_head);
        for pos in 0..max_len {
            for i in 0..d_head {
                let frequency = theta.powf(-2.0 * (i % half) as f64 / d_head as f64);
                let angle = pos as f64 * frequency;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let table = |values| Tensor::from_data(TensorData::new(values, [max_len, d_head]), device);
        Self {
            cos: table(cos),
            sin: table(sin),
        }
    }

    /// The positions the tables cover.
    pub fn max_len(&self) -> usize {
        self.cos.dims()[0]
    }

    /// Rotates `x: [batch, heads, len, d_head]`, whose rows sit at positions `start..start + len`.
    pub fn rotate(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let [_, _, len, d_head] = x.dims();
        let end = start + len;
        assert!(
            end <= self.max_len(),
            "position {end} is past the rotary table's {} positions",
            self.max_len()
        );
        let cos = as_dtype_of(self.cos.clone().slice(s![start..end]), &x);
        let sin = as_dtype_of(self.sin.clone().slice(s![start..end]), &x);
        #[cfg(feature = "tch")]
        if let Some(rotated) = crate::model::libtorch_kernels::rotary(&x, &cos, &sin) {
            return rotated;
        }
        let (cos, sin) = (cos.unsqueeze::<4>(), sin.unsqueeze::<4>());
        let half = d_head / 2;
        let first = x.clone().slice(s![.., .., .., 0..half]);
        let second = x.clone().slice(s![.., .., .., half..d_head]);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        x * cos + rotated * sin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn rotates_halves_by_position_times_frequency() {
        let device = Device::flex();
        let rope = Rope::new(4, 8, 100.0, &device);
        // One head vector (1, 2, 3, 4) at position 3: pairs (1, 3) and (2, 4), frequencies 1 and
        // 100^(-1/2).
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &device).reshape([1, 1, 1, 4]);
        let out = values(rope.rotate(x, 3));
        let rotate = |a: f64, b: f64, angle: f64| {
            (
                a * angle.cos() - b * angle.sin(),
                b * angle.cos() + a * angle.sin(),
            )
        };
        let (a0, b0) = rotate(1.0, 3.0, 3.0);
        let (a1, b1) = rotate(2.0, 4.0, 3.0 * 0.1);
        for (got, want) in out.iter().zip([a0, a1, b0, b1]) {
            assert!((*got as f64 - want).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn scores_depend_on_the_offset_alone() {
        let device = Device::flex();
        let rope = Rope::new(8, 32, 10000.0, &device);
        let q = Tensor::<4>::random([1, 1, 1, 8], burn::tensor::Distribution::Default, &device);
        let k = Tensor::<4>::random([1, 1, 1, 8], burn::tensor::Distribution::Default, &device);
        let score = |qpos: usize, kpos: usize| -> f32 {
            (rope.rotate(q.clone(), qpos) * rope.rotate(k.clone(), kpos))
                .sum()
                .into_scalar()
        };
        for (a, b) in [((5, 3), (20, 18)), ((0, 7), (9, 16))] {
            let (x, y) = (score(a.0, a.1), score(b.0, b.1));
            assert!((x - y).abs() < 1e-4, "{x} {y}");
        }
        assert!((score(5, 3) - score(5, 4)).abs() > 1e-4);
    }
}
