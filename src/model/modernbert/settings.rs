//! ModernBERT's own knobs, under the names of transformers' `ModernBertConfig`, with its defaults.

use burn::prelude::*;

/// What shapes a ModernBERT encoder beyond the sizes every encoder has.
#[derive(Config, Debug, PartialEq)]
pub struct ModernBertSettings {
    /// The rotary base of the global-attention layers.
    #[config(default = 160000.0)]
    pub global_rope_theta: f64,
    /// The rotary base of the sliding-window layers.
    #[config(default = 10000.0)]
    pub local_rope_theta: f64,
    /// The sliding window's width: a query sees keys up to `local_attention / 2` positions away
    /// on either side.
    #[config(default = 128)]
    pub local_attention: usize,
    /// Layer `i` attends globally when `i % global_attn_every_n_layers == 0`.
    #[config(default = 3)]
    pub global_attn_every_n_layers: usize,
    /// Biases in `Wqkv` and the attention's `Wo`.
    #[config(default = false)]
    pub attention_bias: bool,
    /// Biases in the feed-forward network's `Wi` and `Wo`.
    #[config(default = false)]
    pub mlp_bias: bool,
    /// Biases in every LayerNorm of the encoder and the MLM head.
    #[config(default = false)]
    pub norm_bias: bool,
    /// A bias in the MLM head's dense layer.
    #[config(default = false)]
    pub classifier_bias: bool,
}

/// transformers' `initializer_range`: the standard deviation of the input projections and the
/// token embedding.
pub const INITIALIZER_RANGE: f64 = 0.02;
/// transformers' `initializer_cutoff_factor`: weights are drawn within this many standard
/// deviations.
pub const INITIALIZER_CUTOFF: f64 = 2.0;

impl ModernBertSettings {
    /// Whether layer `layer` attends to the whole sequence rather than a window.
    pub fn is_global(&self, layer: usize) -> bool {
        layer.is_multiple_of(self.global_attn_every_n_layers)
    }

    /// How far a query in a sliding-window layer sees on either side.
    pub fn half_window(&self) -> usize {
        self.local_attention / 2
    }

    /// The standard deviation of the projections back into the residual stream (the attention's
    /// and the feed-forward network's `Wo`, the head's dense layer), scaled down with depth.
    pub fn output_std(n_layers: usize) -> f64 {
        INITIALIZER_RANGE / (2.0 * n_layers as f64).sqrt()
    }

    /// Checks what the layers would otherwise get wrong or panic on, naming the `[model]` key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.local_attention == 0 || !self.local_attention.is_multiple_of(2) {
            anyhow::bail!(
                "model.local_attention must be a positive even number (a window of \
                 local_attention / 2 on either side), got {}",
                self.local_attention
            );
        }
        if self.global_attn_every_n_layers == 0 {
            anyhow::bail!("model.global_attn_every_n_layers must be at least 1");
        }
        for (name, theta) in [
            ("global_rope_theta", self.global_rope_theta),
            ("local_rope_theta", self.local_rope_theta),
        ] {
            if !(theta.is_finite() && theta > 1.0) {
                anyhow::bail!("model.{name} must be a number above 1, got {theta}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_layer_from_the_first_is_global() {
        let settings = ModernBertSettings::new().with_global_attn_every_n_layers(3);
        let global: Vec<usize> = (0..8).filter(|&i| settings.is_global(i)).collect();
        assert_eq!(global, [0, 3, 6]);
        let every = ModernBertSettings::new().with_global_attn_every_n_layers(1);
        assert!((0..4).all(|i| every.is_global(i)));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let ok = ModernBertSettings::new().with_local_attention(8);
        ok.validate().unwrap();
        assert_eq!(ok.half_window(), 4);
        for window in [0, 7] {
            let err = ok
                .clone()
                .with_local_attention(window)
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains("model.local_attention"), "{err}");
        }
        let err = ok
            .clone()
            .with_global_attn_every_n_layers(0)
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("model.global_attn_every_n_layers"),
            "{err}"
        );
        let err = ok.with_local_rope_theta(0.5).validate().unwrap_err();
        assert!(err.to_string().contains("model.local_rope_theta"), "{err}");
    }
}
