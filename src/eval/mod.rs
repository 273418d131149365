//! Evaluation: masked-token accuracy (and, later, translation quality).

pub mod mlm;
