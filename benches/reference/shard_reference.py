"""Reference for `cloze shard`: HF `tokenizers` batch encoding written with pyarrow.

Reads the same inputs cloze reads (plain-text lines; the chosen columns of TSV files), encodes them
with `Tokenizer.encode_batch` (all cores, no special tokens) and writes Arrow IPC shards of
`input_ids: List<UInt32>`, `doc_id: UInt64`. Prints one JSON object: seconds, bytes, rows, tokens.

usage: shard_reference.py TOKENIZER OUT_DIR COLUMNS FILE...
"""

import csv
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.ipc as ipc
from tokenizers import Tokenizer

BATCH = 10_000
ROWS_PER_SHARD = 100_000


def rows(path, columns):
    if path.endswith(".tsv"):
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for doc, row in enumerate(reader):
                for c in columns:
                    text = (row.get(c) or "").strip()
                    if text:
                        yield doc, text
    else:
        with open(path, encoding="utf-8") as f:
            for doc, line in enumerate(f):
                text = line.strip()
                if text:
                    yield doc, text


def main():
    tokenizer_path, out_dir, columns, *inputs = sys.argv[1:]
    columns = columns.split(",")
    os.makedirs(out_dir, exist_ok=True)
    started = time.perf_counter()
    tok = Tokenizer.from_file(tokenizer_path)
    schema = pa.schema([("input_ids", pa.list_(pa.uint32())), ("doc_id", pa.uint64())])
    shard, pending_ids, pending_docs = 0, [], []
    total_rows = total_tokens = 0

    def flush():
        nonlocal shard, pending_ids, pending_docs
        if not pending_ids:
            return
        table = pa.table({"input_ids": pa.array(pending_ids, pa.list_(pa.uint32())),
                          "doc_id": pa.array(pending_docs, pa.uint64())}, schema=schema)
        with ipc.new_file(os.path.join(out_dir, f"shard-{shard:05}.arrow"), schema) as w:
            w.write_table(table)
        shard += 1
        pending_ids, pending_docs = [], []

    doc_base = 0
    for path in inputs:
        batch_docs, batch_texts = [], []
        last_doc = -1

        def encode():
            nonlocal total_rows, total_tokens
            for doc, enc in zip(batch_docs, tok.encode_batch(batch_texts, add_special_tokens=False)):
                ids = enc.ids
                if ids:
                    pending_ids.append(ids)
                    pending_docs.append(doc)
                    total_rows += 1
                    total_tokens += len(ids)
            if len(pending_ids) >= ROWS_PER_SHARD:
                flush()

        for doc, text in rows(path, columns):
            batch_docs.append(doc_base + doc)
            batch_texts.append(text)
            last_doc = max(last_doc, doc)
            if len(batch_texts) >= BATCH:
                encode()
                batch_docs, batch_texts = [], []
        encode()
        doc_base += last_doc + 1
    flush()
    seconds = time.perf_counter() - started
    size = sum(os.path.getsize(p) for p in inputs)
    print(json.dumps({"seconds": seconds, "bytes": size, "rows": total_rows, "tokens": total_tokens}))


if __name__ == "__main__":
    main()
