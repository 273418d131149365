//! cloze: pretrain a Transformer encoder with masked-language modelling and reuse it for
//! translation. The binary's subcommands are thin wrappers over this library.

pub mod batcher;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod eval;
pub mod fault;
pub mod fsutil;
pub mod hf;
pub mod interrupt;
pub mod memory;
pub mod model;
pub mod parallel;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod seed;
pub mod train;
