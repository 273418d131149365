//! End-to-end tests of the data layer on the real corpora in `data/`: tokenizer, shards, loader,
//! masking, and the CLI's handling of bad input. One binary, so the fixture is built once.

mod bad_input;
mod common;
mod foreign_vocabularies;
mod loader;
mod masking;
mod reproducible;
mod shards;
mod tokenizer;
