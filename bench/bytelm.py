"""Byte-level LM benchmarks (issue 8): Rust bookkeeping per byte, and language-model rows per byte.

    python bench/bytelm.py [--bytes 3000] [--gen 200] [--json out.json]

1. Bookkeeping: the exact covering structure follows held-out English (Gutenberg) byte by byte for GPT-2 and
   cl100k ranks, SmolLM2's tokenizer.json and a SentencePiece BPE with byte fallback (Llama 2 layout, trained
   here on the rest of the held-out file with `--sp-vocab` pieces and converted as `transformers` does;
   needs `sentencepiece` and `transformers`). Every covering state gets the same fixed random next-token row
   (made once, outside the timers), so what is timed is the Rust side only, as thread CPU time (the machine
   is shared): per byte (`push` + `next_byte`) and per model row (validity mask + prefix sums). A first
   stretch of text ("cold") builds the one-off context tables and pair-validity lists; the numbers are then
   taken on the next stretch.
2. Model rows per byte with a tiny LM: a token bigram model (add-k smoothed counts over the GPT-2 tokens of
   part of the held-out text); greedy byte-level generation from prompts cut at random byte offsets, and the
   log-likelihood of held-out text.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import toksmith
from toksmith.bytelm import ByteLM, _as_tokenizer
from toksmith.corpora import find_shared


def heldout(shared: Path, n: int, offset: int = 2000) -> bytes:
    text = (shared / "corpora" / "gutenberg-en" / "heldout.txt").read_text(encoding="utf-8")
    data = text[offset : offset + n].encode("utf-8")[:n]
    return data.decode("utf-8", errors="ignore").encode("utf-8")


def _follow(cover, data: bytes, row: bytes) -> tuple[float, float, int, int]:
    """Feed `data`; returns (CPU s in push+next_byte, CPU s in provide, rows, max live states)."""
    t_rows = t_bytes = 0.0
    rows = max_live = 0
    for b in data:
        t = time.thread_time()
        for s in cover.pending():
            cover.provide(s, row)
            rows += 1
        t_rows += time.thread_time() - t
        max_live = max(max_live, cover.n_live)
        t = time.thread_time()
        cover.next_byte()
        cover.push(b)
        t_bytes += time.thread_time() - t
    return t_bytes, t_rows, rows, max_live


def bookkeeping(name: str, tok, warm: bytes, data: bytes) -> dict:
    """Cold: the first `warm` bytes (context tables and pair lists get built). Warm: the next bytes."""
    n = tok.vocab_size
    rng = np.random.default_rng(0)
    row = np.exp(rng.normal(0, 2, size=n)).astype(np.float64).tobytes()
    t0 = time.thread_time()
    cover = toksmith._core.ByteCover(tok._core, None, True, 16, 0.0)
    build = time.thread_time() - t0
    prefix = bytes(cover.stream_prefix)  # SentencePiece's dummy-prefix space
    cb, cr, crows, _ = _follow(cover, prefix + warm, row)
    tables0 = cover.stats()["context_tables"]
    cover.reset()
    wb, wr, rows, max_live = _follow(cover, prefix + data, row)
    st = cover.stats()
    return {
        "tokenizer": name,
        "vocab": n,
        "build_s": round(build, 3),
        "cold_bytes": len(warm),
        "cold_us_per_byte_total": round((cb + cr) / len(warm) * 1e6, 1),
        "context_tables_cold": tables0,
        "bytes": len(data),
        "rows_per_byte": round(rows / len(data), 3),
        "max_live_states": max_live,
        "us_per_byte_bookkeeping": round(wb / len(data) * 1e6, 2),
        "us_per_row": round(wr / rows * 1e6, 1),
        "us_per_byte_total": round((wb + wr) / len(data) * 1e6, 1),
        "context_tables_built_while_measuring": st["context_tables"] - tables0,
        "pair_lists": st["pair_lists"],
        "monotone_merges": st["monotone_merges"],
    }


def sentencepiece_tokenizer(shared: Path, vocab: int, out: Path) -> Path:
    """A SentencePiece BPE with byte fallback trained on held-out Gutenberg past the measured stretches, as a
    Llama-2-style tokenizer.json (Metaspace layout)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from sp_fixture import train_sp

    text = (shared / "corpora" / "gutenberg-en" / "heldout.txt").read_text(encoding="utf-8")
    return train_sp(text[100_000:].splitlines(), out, vocab).metaspace


class TokenBigram:
    """Add-k smoothed token bigram LM (log-probs), a stand-in for a neural LM."""

    def __init__(self, ids: list[int], vocab: int, k: float = 0.01):
        self.vocab = vocab
        self.uni = np.bincount(ids, minlength=vocab).astype(np.float64) + k
        self.uni /= self.uni.sum()
        self.big: dict[int, dict[int, int]] = {}
        for a, b in zip(ids, ids[1:]):
            self.big.setdefault(a, {}).setdefault(b, 0)
            self.big[a][b] += 1

    def row(self, prefix) -> np.ndarray:
        p = 0.2 * self.uni.copy()
        nxt = self.big.get(prefix[-1]) if prefix else None
        if nxt:
            tot = sum(nxt.values())
            for b, c in nxt.items():
                p[b] += 0.8 * c / tot
        else:
            p = self.uni
        return np.log(p)

    def __call__(self, prefixes):
        return np.stack([self.row(p) for p in prefixes])


def rows_per_byte(shared: Path, gen: int) -> dict:
    tok, _ = _as_tokenizer(shared / "tokenizers" / "gpt2.tiktoken")
    text = (shared / "corpora" / "gutenberg-en" / "heldout.txt").read_text(encoding="utf-8")
    train, test = text[:400_000], text[400_000:402_000]
    lm_model = TokenBigram(tok.encode(train, added_tokens=False), tok.vocab_size)
    lm = ByteLM(lm_model, tok, eos_id=None)
    rng = np.random.default_rng(1)
    prompts = []
    for _ in range(5):
        s = int(rng.integers(0, len(test) - 200))
        cut = int(rng.integers(20, 120))
        prompts.append(test[s : s + cut])
    gen_bytes = rows = 0
    t = time.perf_counter()
    samples = []
    for p in prompts:
        lm._goto(p.encode())
        before = lm.lm_rows
        out = lm.generate(p, max_bytes=gen)
        rows += lm.lm_rows - before
        gen_bytes += len(out.encode())
        samples.append((p[-30:], out[:40]))
    gen_s = time.perf_counter() - t
    lm2 = ByteLM(lm_model, tok, eos_id=None)
    held = test[:1000]
    t = time.perf_counter()
    lp = lm2.logprob(held, eos=False)
    ll_s = time.perf_counter() - t
    n_tok = len(tok.encode(held, added_tokens=False))
    return {
        "model": "GPT-2-token bigram (add-k), 400 kB of held-out Gutenberg",
        "greedy_generation_bytes": gen_bytes,
        "rows_per_generated_byte": round(rows / gen_bytes, 3),
        "generation_bytes_per_s": round(gen_bytes / gen_s, 1),
        "loglik_text_bytes": len(held.encode()),
        "loglik_rows_per_byte": round(lm2.lm_rows / len(held.encode()), 3),
        "loglik_bits_per_byte": round(-lp / np.log(2) / len(held.encode()), 4),
        "tokens_per_byte_canonical": round(n_tok / len(held.encode()), 3),
        "loglik_s": round(ll_s, 2),
        "samples": samples,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=3000)
    ap.add_argument("--gen", type=int, default=200)
    ap.add_argument("--json", type=str, default=None)
    ap.add_argument("--sp-vocab", type=int, default=32000, help="SentencePiece vocabulary (0: skip)")
    a = ap.parse_args()
    shared = find_shared()
    if shared is None:
        raise SystemExit("shared data folder not found")
    warm = heldout(shared, a.bytes, offset=20_000)
    data = heldout(shared, a.bytes, offset=60_000)
    res = {"bookkeeping": [], "rows": None}
    tk = shared / "tokenizers"
    specs = [
        ("gpt2 (tiktoken ranks)", tk / "gpt2.tiktoken"),
        ("cl100k_base (tiktoken ranks)", tk / "cl100k_base.tiktoken"),
        ("SmolLM2-135M tokenizer.json (merges)", tk / "smollm2-135m" / "tokenizer.json"),
    ]
    if a.sp_vocab:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="toksmith-sp-"))
        sp = sentencepiece_tokenizer(shared, a.sp_vocab, tmp)
        specs.append((f"SentencePiece BPE + byte fallback ({a.sp_vocab})", sp))
    for name, spec in specs:
        if not spec.exists():
            continue
        tok, _ = _as_tokenizer(spec)
        r = bookkeeping(name, tok, warm, data)
        print(json.dumps(r))
        res["bookkeeping"].append(r)
    r = rows_per_byte(shared, a.gen)
    print(json.dumps(r, ensure_ascii=False))
    res["rows"] = r
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
