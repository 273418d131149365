"""HuggingFace transformers' side of the interop tests (tests/train/hf.rs).

  logits MODEL_DIR SENTENCES OUT      BertForMaskedLM and AutoTokenizer from MODEL_DIR; writes
                                      {"ids": [[...]], "logits": [[[...]]]} for each line
  create TOKENIZER_JSON MODEL_DIR     a small randomly initialised BertForMaskedLM (weights
                                      scaled up, LayerNorms and biases perturbed), saved with
                                      save_pretrained beside the tokenizer
  batch-logits MODEL_DIR SENTENCES OUT
                                      AutoModelForMaskedLM (eager attention) and AutoTokenizer
                                      from MODEL_DIR, all lines in one batch padded to the
                                      longest with an attention mask; writes the ids and the
                                      logits of each line's non-padding positions as `logits`
  create-modernbert TOKENIZER_JSON MODEL_DIR
                                      a small randomly initialised ModernBertForMaskedLM (3
                                      layers, global and sliding-window, a window of 8, every
                                      bias on; weights scaled up, LayerNorms and biases
                                      perturbed), saved beside the tokenizer
  create-google MODEL_DIR TEXT...     a small BertForMaskedLM (as `create`) with Google's vocabulary
                                      layout: a WordPiece vocabulary learned from the gzipped TEXT
                                      files, written as vocab.txt with [PAD] at 0, 99 [unused]
                                      rows, [UNK] [CLS] [SEP] [MASK] at 100 to 103, saved as a
                                      fast BertTokenizerFast
  create-modernbert-bpe MODEL_DIR TEXT...
                                      a small ModernBertForMaskedLM (as `create-modernbert`) with a
                                      byte-level BPE learned from TEXT whose special tokens sit at
                                      the end of the vocabulary, as ModernBERT's do, its [MASK]
                                      taking the space before it (lstrip)
  tokenizers OUT TEXT...              the tokenizers alone of the two above, saved by
                                      save_pretrained in OUT/google and OUT/bpe
  fill MODEL_DIR SENTENCES OUT        transformers' fill-mask pipeline, top 5, for each line (one
                                      mask each): writes [[{"id", "probability"}...]...]
"""

import gzip
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tokenizers.implementations import BertWordPieceTokenizer
from transformers import (
    AddedToken,
    AutoModelForMaskedLM,
    BertTokenizerFast,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    ModernBertConfig,
    ModernBertForMaskedLM,
    PreTrainedTokenizerFast,
)


def logits(model_dir, sentences, out):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = BertForMaskedLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    result = {"ids": [], "logits": []}
    with open(sentences, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    with torch.no_grad():
        for line in lines:
            ids = tokenizer(line, return_tensors="pt")["input_ids"]
            out_logits = model(input_ids=ids).logits[0]
            result["ids"].append(ids[0].tolist())
            result["logits"].append(out_logits.tolist())
    with open(out, "w") as f:
        json.dump(result, f)


def batch_logits(model_dir, sentences, out):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForMaskedLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    with open(sentences, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    batch = tokenizer(lines, padding=True, return_tensors="pt")
    with torch.no_grad():
        all_logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    result = {"ids": [], "logits": []}
    for ids, mask, logits_row in zip(batch["input_ids"], batch["attention_mask"], all_logits):
        n = int(mask.sum())
        result["ids"].append(ids[:n].tolist())
        result["logits"].append(logits_row[:n].tolist())
    with open(out, "w") as f:
        json.dump(result, f)


def cloze_tokenizer(tokenizer_json):
    return PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_json,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def perturb(model):
    """Larger weights than the initialiser gives (std 0.02), so that attention is far from uniform
    and a misplaced tensor shows in the logits; LayerNorms and biases off their 1 and 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.mul_(10.0)


def small_bert(vocab_size):
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=40,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    perturb(model)
    return model


def small_modernbert(vocab_size, ids, **settings):
    """`ids` gives the [PAD], [CLS], [SEP], [BOS] and [EOS] ids."""
    config = ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        local_attention=8,
        global_attn_every_n_layers=2,
        pad_token_id=ids["[PAD]"],
        cls_token_id=ids["[CLS]"],
        sep_token_id=ids["[SEP]"],
        bos_token_id=ids["[BOS]"],
        eos_token_id=ids["[EOS]"],
        **settings,
    )
    torch.manual_seed(0)
    model = ModernBertForMaskedLM(config)
    perturb(model)
    return model


def save(model, tokenizer, model_dir):
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)


def create(tokenizer_json, model_dir):
    tokenizer = cloze_tokenizer(tokenizer_json)
    save(small_bert(len(tokenizer)), tokenizer, model_dir)


def create_modernbert(tokenizer_json, model_dir):
    tokenizer = cloze_tokenizer(tokenizer_json)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ["[PAD]", "[CLS]", "[SEP]", "[BOS]", "[EOS]"]}
    model = small_modernbert(
        len(tokenizer),
        ids,
        global_rope_theta=160000.0,
        local_rope_theta=10000.0,
        attention_bias=True,
        mlp_bias=True,
        norm_bias=True,
        classifier_bias=True,
    )
    save(model, tokenizer, model_dir)


def text_lines(paths):
    lines = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines.extend(line.strip() for line in f if line.strip())
    return lines


def google_tokenizer(model_dir, texts):
    """A WordPiece vocabulary learned from `texts`, laid out as Google's BERT vocabularies are,
    written as `model_dir/vocab.txt` and read as a fast tokenizer."""
    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train_from_iterator(text_lines(texts), vocab_size=3000, min_frequency=2, special_tokens=[])
    head = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    learned = sorted(wordpiece.get_vocab().items(), key=lambda kv: kv[1])
    vocab = head + [t for t, _ in learned if t not in head]
    os.makedirs(model_dir)
    with open(f"{model_dir}/vocab.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=f"{model_dir}/vocab.txt", do_lower_case=False)


def bpe_tokenizer(texts):
    """A byte-level BPE learned from `texts`, its special tokens after every piece (as
    ModernBERT's are), [MASK] taking the space before it; with the ids of [UNK] to [MASK]."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(text_lines(texts), trainers.BpeTrainer(
        vocab_size=3000, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_special_tokens(["<|endoftext|>", "[UNK]", "[CLS]", "[SEP]", "[PAD]"])
    bpe.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    ids = {t: bpe.token_to_id(t) for t in ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]}
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token=AddedToken("[MASK]", lstrip=True, special=True))
    return tokenizer, ids


def create_google(model_dir, *texts):
    tokenizer = google_tokenizer(model_dir, texts)
    save(small_bert(len(tokenizer)), tokenizer, model_dir)


def create_modernbert_bpe(model_dir, *texts):
    tokenizer, ids = bpe_tokenizer(texts)
    # Without [BOS] and [EOS], ModernBERT's own config names [CLS] and [SEP] for them.
    ids["[BOS]"], ids["[EOS]"] = ids["[CLS]"], ids["[SEP]"]
    save(small_modernbert(len(tokenizer), ids), tokenizer, model_dir)


def tokenizers_only(out, *texts):
    google_tokenizer(f"{out}/google", texts).save_pretrained(f"{out}/google")
    bpe_tokenizer(texts)[0].save_pretrained(f"{out}/bpe")


def fill(model_dir, sentences, out):
    from transformers import pipeline

    fill_mask = pipeline("fill-mask", model=model_dir, tokenizer=model_dir, top_k=5, device="cpu")
    with open(sentences, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    result = [
        [{"id": c["token"], "probability": c["score"]} for c in fill_mask(line)] for line in lines
    ]
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {
        "logits": logits,
        "create": create,
        "batch-logits": batch_logits,
        "create-modernbert": create_modernbert,
        "create-google": create_google,
        "create-modernbert-bpe": create_modernbert_bpe,
        "fill": fill,
        "tokenizers": tokenizers_only,
    }[command](*args)
