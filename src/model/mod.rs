//! The model layer: the encoder, its masked-language-modelling head, and the translation model
//! (the encoder under a decoder) with its search. Model code reads no files, and gets what it
//! needs of a vocabulary (its size, the special tokens' ids) as values.
//!
//! The starting point is the Transformer of "Attention Is All You Need" (Vaswani et al., 2017:
//! post-LN, ReLU, sinusoidal positions added to the input) trained with BERT's masked-language
//! modelling (Devlin et al., 2019: 15% of tokens, 80% `[MASK]`, 10% random, 10% unchanged), as
//! the lecture notes this project began from describe them. Docs call it "the original
//! Transformer"; the options (`gelu`, `pre_ln`, `positions`, `arch = "bert"`) depart from it.

pub mod attention;
pub mod beam_search;
pub mod bert_names;
pub mod config;
#[cfg(test)]
pub(crate) mod copy_model;
pub mod cross_entropy;
pub mod decoder;
pub mod embedding;
pub mod encoder;
pub mod encoder_layer;
pub mod finished_hypotheses;
pub mod hf_names;
pub mod layer_norm;
#[cfg(feature = "tch")]
pub mod libtorch_kernels;
pub mod linear_rows;
pub mod mlm;
pub mod modernbert;
pub mod named_tensors;
pub mod precision;
pub mod relu;
pub mod rope;
pub mod scaled_dot_product;
pub mod search;
pub mod seq2seq;
pub mod special_tokens;
pub mod translation_tensors;
