#!/usr/bin/env python3
"""Print sacrebleu's default corpus BLEU and chrF for a hypothesis file against a reference file.

Usage: sacrebleu_reference.py HYP_FILE REF_FILE

Prints one JSON line:
  {"bleu": ..., "chrf": ..., "precisions": [...], "bp": ..., "sys_len": ..., "ref_len": ...}

Files are read as UTF-8 and split into lines the way Rust's `str::lines` does
(on "\n" only, a "\r" before a "\n" removed, no empty last line after a final newline),
so both sides score exactly the same segments. Python's `splitlines()` would also split
on U+2028, U+0085, form feeds and others, which the Rust side does not.
"""
import json
import sys

import sacrebleu


def read_lines(path):
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    lines = text.split("\n")
    # Only a "\r" that precedes a "\n" is part of a line ending.
    terminated = [line[:-1] if line.endswith("\r") else line for line in lines[:-1]]
    return terminated + ([lines[-1]] if lines[-1] else [])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sacrebleu_reference.py HYP_FILE REF_FILE")
    hypotheses = read_lines(sys.argv[1])
    references = read_lines(sys.argv[2])
    if len(hypotheses) != len(references):
        sys.exit(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        sys.exit("cannot score an empty corpus")
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    print(json.dumps({
        "bleu": bleu.score,
        "chrf": chrf.score,
        "precisions": bleu.precisions,
        "bp": bleu.bp,
        "sys_len": bleu.sys_len,
        "ref_len": bleu.ref_len,
    }))


if __name__ == "__main__":
    main()
