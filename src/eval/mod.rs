//! Evaluation: masked-token accuracy, fill-mask, and translation quality (teacher-forced loss,
//! BLEU, chrF).

pub mod bleu;
pub mod checkpoint_mlm;
pub mod checkpoint_translate;
pub mod fill;
pub mod mlm;
pub mod script;
pub mod segments;
pub mod summary;
pub mod translation;
