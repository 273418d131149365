//! The ids of the special tokens the model frames and pads its inputs with and decodes between.
//! The model is handed them as values rather than reading the tokenizer's, so that it depends on
//! no other layer; the batcher's `special_token_ids` gives the ones the tokenizer uses.

/// The special tokens' ids the model needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokenIds {
    /// `[PAD]`: fills batches to one length; its targets are left out of the loss.
    pub pad: u32,
    /// `[CLS]`: opens an encoder input.
    pub cls: u32,
    /// `[SEP]`: closes an encoder input.
    pub sep: u32,
    /// `[BOS]`: the first decoder input.
    pub bos: u32,
    /// `[EOS]`: ends a decoded output.
    pub eos: u32,
}
