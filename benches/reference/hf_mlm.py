"""Reference for `benches/train_step`: one training step of HF `transformers` BertForMaskedLM.

The `small` sizes (hidden 256, 4 layers, 4 heads, intermediate 1024), vocab 8192, batch 32 x seq
128, 15% of the labels set (the others -100), AdamW, on torch with 2 threads (or $THREADS).
Prints one JSON object: tokens_per_s, seconds_per_step, steps, torch and transformers versions.

usage: hf_mlm.py [STEPS] [WARMUP]
"""

import json
import os
import sys
import time

import torch
import transformers
from transformers import BertConfig, BertForMaskedLM

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
WARMUP = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BATCH, SEQ, VOCAB = 32, 128, 8192

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
config = BertConfig(
    vocab_size=VOCAB,
    hidden_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    intermediate_size=1024,
    max_position_embeddings=SEQ,
)
model = BertForMaskedLM(config)
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)


def batch():
    ids = torch.randint(7, VOCAB, (BATCH, SEQ))
    labels = torch.full((BATCH, SEQ), -100)
    selected = torch.rand(BATCH, SEQ) < 0.15
    labels[selected] = ids[selected]
    ids = ids.masked_fill(selected, 4)
    return ids, labels


batches = [batch() for _ in range(STEPS + WARMUP)]


def step(ids, labels):
    optimizer.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


for ids, labels in batches[:WARMUP]:
    step(ids, labels)
start = time.perf_counter()
for ids, labels in batches[WARMUP:]:
    step(ids, labels)
seconds = time.perf_counter() - start
print(
    json.dumps(
        {
            "tokens_per_s": STEPS * BATCH * SEQ / seconds,
            "seconds_per_step": seconds / STEPS,
            "steps": STEPS,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
    )
)
