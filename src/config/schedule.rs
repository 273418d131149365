//! The learning rate: linear warmup to the peak, then linear or cosine decay to a floor.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    #[default]
    Linear,
    Cosine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
    /// The rate at the last step, as a fraction of the peak.
    pub final_fraction: f64,
}

impl LrSchedule {
    /// The rate for the 0-based `step`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let shape = match self.decay {
            Decay::Linear => 1.0 - progress,
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        self.peak * (self.final_fraction + (1.0 - self.final_fraction) * shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay_to_the_floor() {
        for decay in [Decay::Linear, Decay::Cosine] {
            let s = LrSchedule {
                peak: 1e-3,
                warmup_steps: 10,
                total_steps: 110,
                decay,
                final_fraction: 0.1,
            };
            assert!((s.lr(0) - 1e-4).abs() < 1e-12);
            assert!((s.lr(9) - 1e-3).abs() < 1e-12);
            assert!((s.lr(10) - 1e-3).abs() < 1e-12);
            assert!((s.lr(110) - 1e-4).abs() < 1e-12);
            assert!((s.lr(1000) - 1e-4).abs() < 1e-12);
            let mid = s.lr(60);
            assert!((mid - 5.5e-4).abs() < 1e-12, "{decay:?} {mid}");
            assert!((10..110).all(|i| s.lr(i + 1) <= s.lr(i)));
        }
    }
}
