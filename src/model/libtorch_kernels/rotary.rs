//! Rotary positions in the rotate-half convention, `x * cos + rotate_half(x) * sin` with
//! `rotate_half(x) = [-x2, x1]`, written as `x * cos + [x2, x1] * [-sin1, sin2]`: one swap of the
//! halves (`roll`) forward and one backward, where burn's autodiff slices, negates,
//! concatenates, and pads each slice's gradient back to full width.

use burn::backend::LibTorch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;

use super::{output_gradient, raw, register, tracked, wrap};

/// The tables of one call, `sin` with its first half negated.
#[derive(Debug)]
struct RotaryState {
    cos: tch::Tensor,
    signed_sin: tch::Tensor,
    half: i64,
}

impl Clone for RotaryState {
    fn clone(&self) -> Self {
        Self {
            cos: self.cos.shallow_clone(),
            signed_sin: self.signed_sin.shallow_clone(),
            half: self.half,
        }
    }
}

#[derive(Debug)]
struct RotaryBackward;

impl Backward<LibTorch, 1> for RotaryBackward {
    type State = RotaryState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = output_gradient(&ops, grads);
        let state = &ops.state;
        // Swapping the halves is its own inverse and its own transpose.
        let grad = &grad * &state.cos + (&grad * &state.signed_sin).roll([state.half], [-1]);
        register(&ops, 0, grads, grad);
    }
}

/// `x: [batch, heads, len, d_head]`; `cos`, `sin: [len, d_head]`, constants in `x`'s dtype.
pub fn rotary(x: &Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Option<Tensor<4>> {
    let x = tracked(x)?;
    let cos = raw(&tracked(cos)?);
    let sin = raw(&tracked(sin)?);
    let input = raw(&x);
    let half = input.size().last().copied()? / 2;
    let signed_sin = tch::Tensor::cat(
        &[sin.narrow(-1, 0, half).neg(), sin.narrow(-1, half, half)],
        -1,
    );
    let result = TchTensor::new(&input * &cos + input.roll([half], [-1]) * &signed_sin);
    let state = RotaryState {
        cos,
        signed_sin,
        half,
    };
    Some(wrap(
        match RotaryBackward
            .prepare::<NoCheckpointing>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, result),
            OpsKind::UnTracked(prep) => prep.finish(result),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::compare;
    use super::*;

    #[test]
    fn matches_burns_operations_forward_and_backward() {
        let table = |x: &Tensor<4>| x.clone().reshape([5, 6]).detach();
        compare(
            "rotary",
            &[[2, 3, 5, 6], [1, 1, 5, 6], [1, 1, 5, 6]],
            [2, 3, 5, 6],
            |x| {
                let (cos, sin) = (table(&x[1]), table(&x[2]));
                let first = x[0].clone().slice(s![.., .., .., 0..3]);
                let second = x[0].clone().slice(s![.., .., .., 3..6]);
                let rotated = Tensor::cat(vec![second.neg(), first], 3);
                x[0].clone() * cos.unsqueeze::<4>() + rotated * sin.unsqueeze::<4>()
            },
            |x| rotary(&x[0], &table(&x[1]), &table(&x[2])),
        );
    }
}
