//! The translation model: the (pretrained) encoder under a Transformer decoder. Source and target
//! share one vocabulary, so the decoder embeds target tokens with the encoder's embedding table
//! and projects its output onto that same table (tied weights), plus a bias.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::model::config::TransformerConfig;
use crate::model::cross_entropy::cross_entropy;
use crate::model::decoder::{Decoder, DecoderCache};
use crate::model::encoder::Encoder;
pub use crate::model::translation_tensors::{PredictedTargets, TranslationInput};

#[derive(Module, Debug)]
pub struct Seq2Seq {
    pub encoder: Encoder,
    pub decoder: Decoder,
    bias: Param<Tensor<1>>,
}

impl Seq2Seq {
    /// A model whose encoder and decoder both start from random weights.
    pub fn new(config: &TransformerConfig, decoder_layers: usize, device: &Device) -> Self {
        Self::with_encoder(Encoder::new(config, device), config, decoder_layers, device)
    }

    /// A fresh decoder under `encoder` (a pretrained one).
    pub fn with_encoder(
        encoder: Encoder,
        config: &TransformerConfig,
        decoder_layers: usize,
        device: &Device,
    ) -> Self {
        Self {
            encoder,
            decoder: Decoder::new(config, decoder_layers, device),
            bias: Param::from_tensor(Tensor::zeros([config.vocab_size], device)),
        }
    }

    /// The encoder's output for `source: [batch, len]`.
    pub fn encode(&self, source: Tensor<2, Int>, padding: Tensor<2, Bool>) -> Tensor<3> {
        self.encoder.forward(source, padding)
    }

    /// `[rows, len, d_model]` -> logits `[rows, len, vocab]`, on the tied embedding table.
    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [rows, len, d_model] = hidden.dims();
        let logits = self.project_rows(hidden.reshape([rows * len, d_model]));
        let vocab = logits.dims()[1];
        logits.reshape([rows, len, vocab])
    }

    /// `[n, d_model]` -> logits `[n, vocab]`, on the tied embedding table.
    fn project_rows(&self, hidden: Tensor<2>) -> Tensor<2> {
        let table = self.encoder.embedding.tokens.weight.val();
        hidden.matmul(table.transpose()) + self.bias.val().unsqueeze::<2>()
    }

    /// Logits at every decoder position, the whole target at once (teacher forcing).
    pub fn logits(
        &self,
        memory: Tensor<3>,
        memory_padding: Tensor<2, Bool>,
        decoder_input: Tensor<2, Int>,
        target_padding: Tensor<2, Bool>,
    ) -> Tensor<3> {
        let x = self.encoder.embedding.forward(decoder_input);
        let hidden = self
            .decoder
            .forward(x, target_padding, memory, memory_padding);
        self.project(hidden)
    }

    /// Mean cross-entropy over the non-padding target positions, with label smoothing
    /// `smoothing` (0: none). Only those positions are projected onto the vocabulary: most of a
    /// batch of short targets is padding, and the projection and the loss are the costliest part
    /// of a step with a large vocabulary.
    pub fn loss(&self, input: TranslationInput, smoothing: f64) -> PredictedTargets {
        let memory = self.encode(input.source, input.source_padding.clone());
        let x = self.encoder.embedding.forward(input.decoder_input);
        let hidden = self.decoder.forward(
            x,
            input.target_padding.clone(),
            memory,
            input.source_padding,
        );
        let [rows, len, d_model] = hidden.dims();
        let kept = input
            .target_padding
            .bool_not()
            .reshape([rows * len])
            .nonzero()
            .remove(0);
        let targets = input.target.reshape([rows * len]).select(0, kept.clone());
        let logits = self.project_rows(hidden.reshape([rows * len, d_model]).select(0, kept));
        let loss = cross_entropy(
            logits.clone(),
            targets.clone(),
            (smoothing > 0.0).then_some(smoothing as f32),
        );
        PredictedTargets {
            loss,
            logits,
            targets,
        }
    }

    /// A decoding cache over the encoder's output.
    pub fn start(&self, memory: Tensor<3>, memory_padding: Tensor<2, Bool>) -> DecoderCache {
        self.decoder.start(memory, memory_padding)
    }

    /// Log-probabilities `[rows, vocab]` of the next token after `last: [rows]`, the token at
    /// position `cache.len`.
    pub fn step(&self, cache: &mut DecoderCache, last: Tensor<1, Int>) -> Tensor<2> {
        let [rows] = last.dims();
        let x = self
            .encoder
            .embedding
            .forward_from(last.reshape([rows, 1]), cache.len);
        let hidden = self.decoder.step(x, cache);
        let vocab = self.bias.val().dims()[0];
        let logits = self.project(hidden).reshape([rows, vocab]);
        log_softmax(logits, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::special_token_ids;
    use crate::data::tokenizer::SpecialTokens;
    use crate::model::config::Positions;
    use crate::model::search::source_batch;
    use burn::nn::loss::CrossEntropyLossConfig;

    fn cloze_ids() -> crate::model::special_tokens::SpecialTokenIds {
        special_token_ids(&SpecialTokens::cloze())
    }

    pub(crate) fn tiny(device: &Device) -> Seq2Seq {
        tiny_with(device, Positions::Sinusoidal, false)
    }

    fn tiny_with(device: &Device, positions: Positions, pre_ln: bool) -> Seq2Seq {
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_max_len(24)
            .with_dropout(0.0)
            .with_position_scheme(positions)
            .with_pre_ln(pre_ln);
        let _rng = crate::seed::device_rng_lock();
        device.seed(9);
        Seq2Seq::new(&config, 2, device)
    }

    fn ints(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
        let shape = [rows.len(), rows[0].len()];
        Tensor::from_data(TensorData::new(rows.concat(), shape), device)
    }

    fn full_log_probs(model: &Seq2Seq, decoder_input: &[Vec<i64>], padding: Vec<bool>) -> Vec<f32> {
        let device = Device::flex();
        let (source, source_padding) =
            source_batch(&[vec![7, 8, 9, 10], vec![11, 12]], cloze_ids(), &device);
        let memory = model.encode(source, source_padding.clone());
        let shape = [decoder_input.len(), decoder_input[0].len()];
        let logits = model.logits(
            memory,
            source_padding,
            ints(decoder_input, &device),
            Tensor::from_data(TensorData::new(padding, shape), &device),
        );
        log_softmax(logits, 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn cached_decoding_equals_the_full_pass() {
        let device = Device::flex();
        for (positions, pre_ln) in [
            (Positions::Sinusoidal, false),
            (Positions::Learned, false),
            (Positions::Rope, false),
            (Positions::Rope, true),
        ] {
            cached_decoding_equals_the_full_pass_of(&tiny_with(&device, positions, pre_ln));
        }
    }

    fn cached_decoding_equals_the_full_pass_of(model: &Seq2Seq) {
        let device = Device::flex();
        let bos = i64::from(cloze_ids().bos);
        let input = vec![vec![bos, 13, 14, 15, 16], vec![bos, 17, 18, 19, 20]];
        let full = full_log_probs(model, &input, vec![false; 10]);
        let (source, padding) =
            source_batch(&[vec![7, 8, 9, 10], vec![11, 12]], cloze_ids(), &device);
        let mut cache = model.start(model.encode(source, padding.clone()), padding);
        let vocab = 40;
        for t in 0..5 {
            let last = Tensor::from_data(
                TensorData::new(vec![input[0][t], input[1][t]], [2]),
                &device,
            );
            let step = model
                .step(&mut cache, last)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for row in 0..2 {
                for v in 0..vocab {
                    let expected = full[(row * 5 + t) * vocab + v];
                    let got = step[row * vocab + v];
                    assert!(
                        (expected - got).abs() < 1e-4,
                        "row {row} t {t} id {v}: {expected} vs {got}"
                    );
                }
            }
        }
        assert_eq!(cache.len, 5);
    }

    #[test]
    fn a_bf16_view_translates_in_bf16_and_its_gradients_reach_the_f32_weights() {
        use crate::model::precision::testing::{devices, gradient_dtypes};
        use crate::model::precision::{Precision, computing_view};
        use burn::tensor::DType;

        for device in devices() {
            let device = device.autodiff();
            for (positions, pre_ln) in [(Positions::Sinusoidal, false), (Positions::Rope, true)] {
                let model = tiny_with(&device, positions, pre_ln);
                let view = computing_view(&model, Precision::Bf16);
                let (source, source_padding) =
                    source_batch(&[vec![7, 8, 9, 10], vec![11, 12]], cloze_ids(), &device);
                let bos = i64::from(cloze_ids().bos);
                let pad = i64::from(cloze_ids().pad);
                let input = TranslationInput {
                    source,
                    source_padding,
                    decoder_input: ints(&[vec![bos, 13, 14], vec![bos, 17, pad]], &device),
                    target: ints(&[vec![13, 14, 15], vec![17, 18, pad]], &device),
                    target_padding: Tensor::from_data(
                        TensorData::new(vec![false, false, false, false, false, true], [2, 3]),
                        &device,
                    ),
                };
                let PredictedTargets {
                    loss,
                    logits,
                    targets,
                } = view.loss(input, 0.1);
                assert_eq!(logits.dims(), [5, 40], "the five non-padding targets");
                assert_eq!(
                    targets.into_data().iter::<i64>().collect::<Vec<_>>(),
                    [13, 14, 15, 17, 18]
                );
                assert_eq!(logits.dtype(), DType::BF16, "{device:?} {positions:?}");
                assert_eq!(loss.dtype(), DType::F32);
                let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
                let dtypes = gradient_dtypes(&model, &grads);
                assert!(
                    dtypes.iter().all(|d| *d == Some(DType::F32)),
                    "{device:?} {positions:?}: {dtypes:?}"
                );
            }
        }
    }

    #[test]
    fn the_loss_over_the_predicted_positions_is_the_loss_over_all_positions_without_padding() {
        let (device, special) = (Device::flex(), cloze_ids());
        let model = tiny(&device);
        let (bos, pad) = (i64::from(special.bos), i64::from(special.pad));
        let targets = [
            vec![13, 14, 15, 16],
            vec![17, 18, pad, pad],
            vec![19, pad, pad, pad],
        ];
        let padding: Vec<bool> = targets.concat().iter().map(|&t| t == pad).collect();
        let (source, source_padding) = source_batch(
            &[vec![7, 8, 9, 10], vec![11, 12], vec![20]],
            special,
            &device,
        );
        let i = TranslationInput {
            source,
            source_padding,
            decoder_input: ints(
                &[
                    vec![bos, 13, 14, 15],
                    vec![bos, 17, pad, pad],
                    vec![bos, pad, pad, pad],
                ],
                &device,
            ),
            target: ints(&targets, &device),
            target_padding: Tensor::from_data(TensorData::new(padding, [3, 4]), &device),
        };
        let memory = model.encode(i.source.clone(), i.source_padding.clone());
        let logits = model.logits(
            memory,
            i.source_padding.clone(),
            i.decoder_input.clone(),
            i.target_padding.clone(),
        );
        for smoothing in [0.0, 0.1] {
            let everywhere = CrossEntropyLossConfig::new()
                .with_pad_tokens(Some(vec![special.pad as usize]))
                .with_smoothing((smoothing > 0.0).then_some(smoothing as f32))
                .init(&device)
                .forward(
                    logits.clone().reshape([12, 40]),
                    i.target.clone().reshape([12]),
                );
            let predicted = model.loss(i.clone(), smoothing);
            assert_eq!(predicted.logits.dims(), [7, 40]);
            let (sparse, everywhere) = (
                predicted.loss.into_scalar::<f32>(),
                everywhere.into_scalar::<f32>(),
            );
            assert!(
                (sparse - everywhere).abs() < 1e-5,
                "smoothing {smoothing}: {sparse} against {everywhere}"
            );
        }
    }

    #[test]
    fn the_look_ahead_mask_hides_later_target_tokens() {
        let device = Device::flex();
        let model = tiny(&device);
        let bos = i64::from(cloze_ids().bos);
        let a = full_log_probs(
            &model,
            &[vec![bos, 13, 14, 15, 16], vec![bos, 17, 18, 19, 20]],
            vec![false; 10],
        );
        // Position 3 changed in both rows: positions 0..3 cannot see it, 3 and 4 can.
        let b = full_log_probs(
            &model,
            &[vec![bos, 13, 14, 33, 16], vec![bos, 17, 18, 34, 20]],
            vec![false; 10],
        );
        let vocab = 40;
        let position = |values: &[f32], row: usize, t: usize| {
            values[(row * 5 + t) * vocab..(row * 5 + t + 1) * vocab].to_vec()
        };
        for row in 0..2 {
            for t in 0..3 {
                assert_eq!(
                    position(&a, row, t),
                    position(&b, row, t),
                    "row {row} position {t}"
                );
            }
            for t in 3..5 {
                assert_ne!(
                    position(&a, row, t),
                    position(&b, row, t),
                    "row {row} position {t}"
                );
            }
        }
        // Padding the last position hides it from the others as a key, too.
        let mut padding = vec![false; 10];
        padding[4] = true;
        padding[9] = true;
        let c = full_log_probs(
            &model,
            &[vec![bos, 13, 14, 15, 0], vec![bos, 17, 18, 19, 0]],
            padding,
        );
        for row in 0..2 {
            for t in 0..4 {
                let (x, y) = (position(&a, row, t), position(&c, row, t));
                assert!(
                    x.iter().zip(&y).all(|(p, q)| (p - q).abs() < 1e-5),
                    "row {row} position {t}"
                );
            }
        }
    }
}
