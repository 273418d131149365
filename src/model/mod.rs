//! The model layer: the encoder and its masked-language-modelling head. Model code reads no files.

pub mod config;
pub mod embedding;
pub mod encoder;
pub mod mlm;
