"""Reference for `benches/train_step`: training steps of HF `transformers` BertForMaskedLM, the
way a PyTorch user would write them, and the matrix-product peak of this CPU in the same process.

The model: `small`'s sizes (hidden 256, 4 layers, 4 heads, intermediate 1024), vocab 8192, batch
32 x seq 128, ReLU and no dropout (as the shipped pipelines train), 15% of the labels set (the
others -100), AdamW, gradient clipping at 1.0, torch with 2 threads (or $THREADS). Four ways:

- `fp32`: eager, f32, the vocabulary projection at every position (the library's own loss);
- `fp32_sparse`: f32 with the vocabulary projection only at the selected positions;
- `bf16`: the same under `torch.autocast("cpu", torch.bfloat16)`;
- `bf16_sparse`: autocast and the vocabulary projection only at the selected positions, as cloze
  computes it.

The strongest peer a user would write is the fastest of the four on the machine at hand: bf16
pays only where the CPU has AMX (without it, oneDNN's bf16 products run slower than f32 ones).

The peak: the best of several `[4096, 256] x [256, 1024]` products (the shape of a feed-forward
layer's at this batch) in f32 and in bf16.

Prints one JSON object: tokens_per_s and seconds_per_step for each way, peak_flops for each dtype,
steps, threads, torch and transformers versions.

usage: hf_mlm.py [STEPS] [WARMUP]
"""

import contextlib
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import BertConfig, BertForMaskedLM

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
WARMUP = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BATCH, SEQ, VOCAB = 32, 128, 8192

torch.set_num_threads(int(os.environ.get("THREADS", "2")))


def batch():
    ids = torch.randint(7, VOCAB, (BATCH, SEQ))
    labels = torch.full((BATCH, SEQ), -100)
    selected = torch.rand(BATCH, SEQ) < 0.15
    labels[selected] = ids[selected]
    ids = ids.masked_fill(selected, 4)
    return ids, labels


def model():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=SEQ,
        hidden_act="relu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    m = BertForMaskedLM(config)
    m.train()
    return m


def dense_loss(m, ids, labels):
    return m(input_ids=ids, labels=labels).loss


def sparse_loss(m, ids, labels):
    hidden = m.bert(input_ids=ids).last_hidden_state
    selected = labels != -100
    logits = m.cls(hidden[selected])
    return F.cross_entropy(logits.float(), labels[selected])


def rate(loss_of, bf16):
    torch.manual_seed(1)
    batches = [batch() for _ in range(STEPS + WARMUP)]
    m = model()
    optimizer = torch.optim.AdamW(m.parameters(), lr=5e-4, weight_decay=0.01)

    def step(ids, labels):
        optimizer.zero_grad(set_to_none=True)
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        )
        with autocast:
            loss = loss_of(m, ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for ids, labels in batches[:WARMUP]:
        step(ids, labels)
    start = time.perf_counter()
    for ids, labels in batches[WARMUP:]:
        step(ids, labels)
    seconds = time.perf_counter() - start
    return {
        "tokens_per_s": STEPS * BATCH * SEQ / seconds,
        "seconds_per_step": seconds / STEPS,
    }


def peak_flops(dtype):
    a = torch.randn(4096, 256).to(dtype)
    b = torch.randn(256, 1024).to(dtype)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, (time.perf_counter() - start) / 10)
    return 2 * 4096 * 256 * 1024 / best


print(
    json.dumps(
        {
            "fp32": rate(dense_loss, bf16=False),
            "fp32_sparse": rate(sparse_loss, bf16=False),
            "bf16": rate(dense_loss, bf16=True),
            "bf16_sparse": rate(sparse_loss, bf16=True),
            "peak_flops": {
                "f32": peak_flops(torch.float32),
                "bf16": peak_flops(torch.bfloat16),
            },
            "steps": STEPS,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
    )
)
