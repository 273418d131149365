//! The data layer: corpora, tokenizer, shards, the streaming loader and masking. It knows nothing
//! of the model.

pub mod batch;
pub mod corpus;
pub mod inspect;
pub mod loader;
pub mod manifest;
pub mod masking;
pub mod pairs;
pub mod position;
pub mod prepare;
pub mod shard;
pub mod summary;
pub mod tokenizer;
pub mod word_cache;
pub mod wordpiece_training;
