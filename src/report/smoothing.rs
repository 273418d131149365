//! Smoothing of the noisy per-step curves (training loss and accuracy): a trailing moving average
//! drawn over the raw values.

use std::collections::VecDeque;

/// The trailing moving average of `points` over `window` points: what a noisy per-step curve
/// looks like once its noise is averaged out.
pub fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut finite: VecDeque<f64> = VecDeque::new();
    points
        .iter()
        .map(|&(x, y)| {
            if y.is_finite() {
                finite.push_back(y);
                sum += y;
                if finite.len() > window {
                    sum -= finite.pop_front().expect("longer than the window");
                }
            }
            let mean = if finite.is_empty() {
                f64::NAN
            } else {
                sum / finite.len() as f64
            };
            (x, mean)
        })
        .collect()
}

/// The smoothing window for a run of `steps` logged steps: about a fiftieth of the run.
pub fn smoothing_window(steps: usize) -> usize {
    (steps / 50).clamp(1, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_average_trails_over_its_window_and_skips_gaps() {
        let points = [
            (1.0, 1.0),
            (2.0, 3.0),
            (3.0, f64::NAN),
            (4.0, 5.0),
            (5.0, 7.0),
        ];
        let smoothed = moving_average(&points, 2);
        let means: Vec<f64> = smoothed.iter().map(|p| p.1).collect();
        assert_eq!(means, [1.0, 2.0, 2.0, 4.0, 6.0]);
        assert_eq!(smoothed[4].0, 5.0);
        assert_eq!(smoothing_window(800), 16);
        assert_eq!(smoothing_window(10), 1);
    }
}
