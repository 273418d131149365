//! The stack of ModernBERT layers, with the two masks they share: key padding for the global
//! layers, key padding or distance beyond the window for the sliding-window ones.

use burn::prelude::*;

use crate::model::attention::key_padding_mask;
use crate::model::config::TransformerConfig;
use crate::model::modernbert::layer::ModernBertLayer;
use crate::model::modernbert::mask::outside_window;
use crate::model::modernbert::settings::ModernBertSettings;

#[derive(Module, Debug)]
pub struct ModernBertLayers {
    pub layers: Vec<ModernBertLayer>,
    half_window: usize,
}

impl ModernBertLayers {
    pub fn new(config: &TransformerConfig, settings: &ModernBertSettings, device: &Device) -> Self {
        Self {
            layers: (0..config.n_layers)
                .map(|i| ModernBertLayer::new(config, settings, i, device))
                .collect(),
            half_window: settings.half_window(),
        }
    }

    /// `x: [batch, len, d_model]`, `padding: [batch, len]` (true at `[PAD]`).
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, len] = padding.dims();
        let global = key_padding_mask(padding);
        let window = outside_window(len, self.half_window, &x.device())
            .unsqueeze::<3>()
            .expand([batch, len, len]);
        let local = match &global {
            Some(padding) => padding.clone().bool_or(window),
            None => window,
        };
        self.layers.iter().fold(x, |x, layer| {
            layer.forward(x, global.clone(), local.clone())
        })
    }
}
