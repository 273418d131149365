//! HuggingFace transformers' ModernBERT encoder (`ModernBertForMaskedLM`'s `model`), layer for
//! layer, so that `cloze export hf` and `cloze import hf` move its weights unchanged: pre-norm
//! layers (the first without an attention norm), a fused query-key-value projection, rotary
//! positions with one base for global and another for local layers, sliding-window attention in
//! all layers but every `global_attn_every_n_layers`-th, and a GeGLU feed-forward network. The
//! token embedding, its LayerNorm, the final norm and the MLM head are the shared ones
//! (`InputEmbedding`, `Encoder`, `MlmModel`), shaped by [`ModernBertSettings`](settings::ModernBertSettings).

pub mod attention;
pub mod init;
pub mod layer;
pub mod layers;
pub mod mask;
pub mod mlp;
pub mod names;
pub mod settings;
