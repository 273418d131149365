//! Which keys a query of a sliding-window layer may not see: those more than `local_attention / 2`
//! positions away, as transformers' eager path masks them (`abs(i - j) <= local_attention // 2`
//! is seen).

use burn::prelude::*;

/// `[len, len]`, true where key `j` is more than `half_window` positions from query `i`.
pub fn outside_window(len: usize, half_window: usize, device: &Device) -> Tensor<2, Bool> {
    let values: Vec<bool> = (0..len)
        .flat_map(|i| (0..len).map(move |j| i.abs_diff(j) > half_window))
        .collect();
    Tensor::from_data(TensorData::new(values, [len, len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_sees_half_the_window_on_either_side_and_itself() {
        let mask = outside_window(7, 2, &Device::flex())
            .into_data()
            .try_to_vec::<bool>()
            .unwrap();
        let seen = |i: usize| -> Vec<usize> { (0..7).filter(|&j| !mask[i * 7 + j]).collect() };
        assert_eq!(seen(0), [0, 1, 2]);
        assert_eq!(seen(3), [1, 2, 3, 4, 5]);
        assert_eq!(seen(6), [4, 5, 6]);
    }
}
