"""HuggingFace transformers' side of the interop tests (tests/train/hf.rs).

  logits MODEL_DIR SENTENCES OUT      BertForMaskedLM and AutoTokenizer from MODEL_DIR; writes
                                      {"ids": [[...]], "logits": [[[...]]]} for each line
  create TOKENIZER_JSON MODEL_DIR     a small randomly initialised BertForMaskedLM (weights
                                      scaled up, LayerNorms and biases perturbed), saved with
                                      save_pretrained beside the tokenizer
"""

import json
import sys

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, PreTrainedTokenizerFast


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


def create(tokenizer_json, model_dir):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_json,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=len(tokenizer),
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
    # Larger weights than BERT's initialiser gives (std 0.02), so that attention is far from
    # uniform and a misplaced tensor shows in the logits; LayerNorms and biases off their 1 and 0.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.mul_(10.0)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"logits": logits, "create": create}[command](*args)
