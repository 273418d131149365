//! The model layer: the encoder, its masked-language-modelling head, and the translation model
//! (the encoder under a decoder) with its search. Model code reads no files.

pub mod attention;
pub mod beam_search;
pub mod bert_names;
pub mod config;
pub mod decoder;
pub mod embedding;
pub mod encoder;
pub mod encoder_layer;
pub mod mlm;
pub mod rope;
pub mod search;
pub mod seq2seq;
pub mod special_tokens;
