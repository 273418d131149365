//! Evaluation: masked-token accuracy, fill-mask, and translation quality (BLEU, chrF).

pub mod bleu;
pub mod checkpoint_mlm;
pub mod fill;
pub mod mlm;
pub mod script;
pub mod segments;
