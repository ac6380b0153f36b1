"""Information-theoretic tokenizer metrics (`toksmith analyze`).

Conventions (also written into every report, see `DEFINITIONS`):

- the corpus is tokenized segment by segment (a segment is a non-empty line; newlines are not tokens);
- a word is a maximal run of non-whitespace characters (Python's `str.split()`); word-level metrics tokenize each
  distinct word on its own (as Rust et al. 2021 do with pre-split words) and weight it by its frequency;
- entropies are in bits; H_1 is the unigram Shannon entropy and H_k = H(X_t | X_{t-k+1} … X_{t-1}) the entropy of a
  token given the k-1 tokens before it in its segment (segment starts are padded with a boundary symbol);
- plug-in estimates use the empirical distribution of the whole corpus (they underestimate, more so for large k);
  held-out estimates are cross-entropies on every 10th segment under an interpolated Witten-Bell model estimated on
  the other segments, backing off to the uniform distribution over |V| (they overestimate);
- Shannon and Rényi efficiency divide by log2 of the vocabulary size; by default (as in the tokenization-scorer
  package) that size is the number of distinct tokens observed; capacity utilisation is H_1 / log2 |V| with |V| the
  tokenizer's vocabulary size.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from toksmith.analysis.compress import parse_compressors
from toksmith.analysis.tokenizers import LoadedTokenizer, load_all
from toksmith.errors import AnalysisError

DEFINITIONS = [
    ("segment", "a non-empty line of the corpus; segments are tokenized one by one (newlines are not tokens)"),
    ("word", "a maximal run of non-whitespace characters (str.split()); each distinct word tokenized on its own"),
    ("fertility", "mean tokens per word (words tokenized on their own, weighted by frequency)"),
    ("continued words", "share of words split into 2 or more tokens"),
    ("single-token words", "share of words that are exactly one token"),
    ("tokens/word (running)", "tokens of the running text / words"),
    ("vocabulary used", "distinct token types in the corpus / |V|"),
    ("H_1", "unigram Shannon entropy of the token distribution, bits"),
    ("Shannon efficiency", "H_1 / log2(V), V = observed types (tokenization-scorer's convention) unless set"),
    ("Rényi entropy H_α", "1/(1-α) log2 Σ p^α (Zouhar et al. 2023); efficiency H_α / log2(V)"),
    ("H_k", "H(X_t | k-1 previous tokens of the segment), bits; plug-in (empirical) and held-out (cross-entropy)"),
    ("capacity utilisation", "H_1 / log2|V|, |V| = the tokenizer's vocabulary size"),
    ("bits per byte", "fixed-length: N log2|V| / B; order-0: N H_1 / B; order-k: N H_k / B (N tokens, B bytes)"),
    ("compressors", "compressed size of the raw text and of the token-id stream, in bits per byte of raw text"),
]

Progress = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------------------------------------------
# distributions


def _probs(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    if c.size == 0:
        raise AnalysisError("no tokens")
    return c / c.sum()


def shannon_entropy(counts: Sequence[int] | np.ndarray) -> float:
    """Shannon entropy in bits of the distribution given by `counts`."""
    p = _probs(counts)
    return float(-(p * np.log2(p)).sum())


def renyi_entropy(counts: Sequence[int] | np.ndarray, alpha: float = 2.5) -> float:
    """Rényi entropy of order `alpha` in bits (α=1: Shannon; α=0: log2 of the support; α=inf: min-entropy)."""
    p = _probs(counts)
    if alpha < 0:
        raise AnalysisError(f"Rényi order must be ≥ 0: {alpha}")
    if alpha == 1:
        return float(-(p * np.log2(p)).sum())
    if math.isinf(alpha):
        return float(-np.log2(p.max()))
    if alpha == 0:
        return float(np.log2(p.size))
    return float(np.log2(np.sum(p**alpha)) / (1 - alpha))


def efficiency(entropy: float, vocab_size: int) -> float:
    """entropy / log2(vocab_size); NaN for a vocabulary of one."""
    if vocab_size <= 1:
        return float("nan")
    return float(entropy / math.log2(vocab_size))


def _entropy_of_ids(ids: np.ndarray) -> float:
    if ids.size == 0:
        return 0.0
    _, c = np.unique(ids, return_counts=True)
    n = ids.size
    c = c.astype(np.float64)
    return float(math.log2(n) - (c * np.log2(c)).sum() / n)


# ----------------------------------------------------------------------------------------------------------------
# n-gram conditional entropies


@dataclass
class _Grams:
    """n-gram ids over a stream where each segment is preceded by kmax-1 boundary symbols."""

    g: list[np.ndarray]  # g[k][t]: id of the k-gram ending at t (g[0] unused)
    real: np.ndarray  # positions of real tokens in the padded stream
    seg: np.ndarray  # segment index of each real position


def _grams(segments: Sequence[np.ndarray], kmax: int) -> _Grams:
    lengths = np.fromiter((len(s) for s in segments), dtype=np.int64, count=len(segments))
    if lengths.sum() == 0:
        raise AnalysisError("no tokens")
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in segments if len(s)])
    _, dense = np.unique(flat, return_inverse=True)
    dense = dense.reshape(-1).astype(np.int64)
    m = int(dense.max()) + 2  # symbols: 0..U-1 tokens, U boundary
    bos = m - 1
    pad = kmax - 1
    seg = np.repeat(np.arange(len(segments), dtype=np.int64), lengths)
    real = np.arange(flat.size, dtype=np.int64) + pad * (seg + 1)
    total = flat.size + pad * len(segments)
    stream = np.full(total, bos, dtype=np.int64)
    stream[real] = dense
    g: list[np.ndarray] = [np.zeros(0, dtype=np.int64), stream]
    for _k in range(2, kmax + 1):
        prev = np.empty(total, dtype=np.int64)
        prev[0] = 0
        prev[1:] = g[-1][:-1]
        key = prev * m + stream
        _, inv = np.unique(key, return_inverse=True)
        g.append(inv.reshape(-1).astype(np.int64))
    return _Grams(g, real, seg)


def plugin_conditional_entropies(segments: Sequence[np.ndarray], kmax: int = 5) -> list[float]:
    """Plug-in H_1..H_kmax (bits) of token streams, contexts within segments (boundary-padded)."""
    gr = _grams(segments, kmax)
    out = []
    for k in range(1, kmax + 1):
        joint = _entropy_of_ids(gr.g[k][gr.real])
        ctx = 0.0 if k == 1 else _entropy_of_ids(gr.g[k - 1][gr.real - 1])
        out.append(joint - ctx)
    return out


def heldout_conditional_entropies(
    segments: Sequence[np.ndarray], vocab_size: int, kmax: int = 5, every: int = 10
) -> list[float]:
    """Held-out cross-entropies (bits) of every `every`-th segment under interpolated Witten-Bell k-gram models
    (k = 1..kmax) estimated on the other segments, backing off to uniform over `vocab_size`. NaN when there are too
    few segments to hold any out."""
    if len(segments) < 2:
        return [float("nan")] * kmax
    gr = _grams(segments, kmax)
    test_mask = (gr.seg % every) == (every - 1)
    if not test_mask.any() or test_mask.all():
        return [float("nan")] * kmax
    tr = gr.real[~test_mask]
    te = gr.real[test_mask]
    v = max(int(vocab_size), int(gr.g[1][gr.real].max()) + 1)
    # order 1 (unigram) interpolated with uniform
    c1 = np.bincount(gr.g[1][tr], minlength=int(gr.g[1].max()) + 1).astype(np.float64)
    n = float(tr.size)
    t1 = float((c1 > 0).sum())
    p = (c1[gr.g[1][te]] + t1 / v) / (n + t1)
    out = [float(-np.log2(p).mean())]
    for k in range(2, kmax + 1):
        gk, gc = gr.g[k], gr.g[k - 1]
        size_k = int(gk.max()) + 1
        size_c = int(gc.max()) + 1
        joint_tr = gk[tr]
        ctx_tr = gc[tr - 1]
        cj = np.bincount(joint_tr, minlength=size_k).astype(np.float64)
        cc = np.bincount(ctx_tr, minlength=size_c).astype(np.float64)
        ctx_of = np.zeros(size_k, dtype=np.int64)
        ctx_of[joint_tr] = ctx_tr
        seen = np.flatnonzero(cj > 0)
        types = np.bincount(ctx_of[seen], minlength=size_c).astype(np.float64)
        jt, ct = gk[te], gc[te - 1]
        denom = cc[ct] + types[ct]
        with np.errstate(divide="ignore", invalid="ignore"):
            pk = np.where(denom > 0, (cj[jt] + types[ct] * p) / np.where(denom > 0, denom, 1), p)
        p = pk
        out.append(float(-np.log2(p).mean()))
    return out


# ----------------------------------------------------------------------------------------------------------------
# the analysis


@dataclass
class TokenizerAnalysis:
    name: str
    backend: str
    vocab_size: int
    spec: str
    values: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class AnalysisReport:
    corpus: list[str]
    segments: int
    bytes: int
    chars: int
    words: int
    alpha: float
    kmax: int
    vocab_convention: str
    raw_compressed: dict[str, int]
    tokenizers: list[TokenizerAnalysis]
    timings: dict[str, float] = field(default_factory=dict)
    extra_definitions: list[tuple[str, str]] = field(default_factory=list)  # e.g. the morphology metrics'

    @property
    def definitions(self) -> list[tuple[str, str]]:
        return DEFINITIONS + self.extra_definitions

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "segments": self.segments,
            "bytes": self.bytes,
            "chars": self.chars,
            "words": self.words,
            "alpha": self.alpha,
            "kmax": self.kmax,
            "vocab_convention": self.vocab_convention,
            "raw_text_compressed_bytes": self.raw_compressed,
            "raw_text_bits_per_byte": {k: 8 * v / self.bytes for k, v in self.raw_compressed.items()},
            "definitions": dict(self.definitions),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "tokenizers": [
                {"name": t.name, "spec": t.spec, "backend": t.backend, "vocab_size": t.vocab_size, **t.values}
                for t in self.tokenizers
            ],
        }


def _word_stats(tok: LoadedTokenizer, words: Counter) -> dict[str, float]:
    uniq = list(words)
    freq = np.fromiter((words[w] for w in uniq), dtype=np.float64, count=len(uniq))
    n = tok.count(uniq).astype(np.float64)
    total = freq.sum()
    return {
        "fertility": float((freq * n).sum() / total),
        "continued_words": float(freq[n >= 2].sum() / total),
        "single_token_words": float(freq[n == 1].sum() / total),
    }


def _id_stream_bytes(ids: np.ndarray, vocab_size: int) -> bytes:
    if vocab_size <= 256 and (ids.size == 0 or ids.max() < 256):
        return ids.astype(np.uint8).tobytes()
    if vocab_size <= 65536 and (ids.size == 0 or ids.max() < 65536):
        return ids.astype("<u2").tobytes()
    return ids.astype("<u4").tobytes()


def analyze(
    tokenizers: Sequence[str | LoadedTokenizer],
    segments: Sequence[str],
    corpus_names: Optional[list[str]] = None,
    alpha: float = 2.5,
    kmax: int = 5,
    compressors: str | Sequence[str] | None = "gzip,xz,zstd",
    vocab_convention: str = "observed",
    heldout_every: int = 10,
    threads: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> AnalysisReport:
    """Metrics of each tokenizer on `segments` (the corpus as non-empty lines; see `corpus.read_segments`)."""
    t0 = time.perf_counter()
    if vocab_convention not in ("observed", "tokenizer"):
        raise AnalysisError(f"vocabulary convention must be 'observed' or 'tokenizer': {vocab_convention!r}")
    if not 1 <= kmax <= 8:
        raise AnalysisError(f"k must be between 1 and 8: {kmax}")
    if alpha < 0:
        raise AnalysisError(f"Rényi order must be ≥ 0: {alpha}")
    segs = [s for s in segments if s]
    if not segs:
        raise AnalysisError("empty corpus")
    comps = parse_compressors(compressors)
    if not tokenizers:
        raise AnalysisError("no tokenizer given")
    specs = [t for t in tokenizers if not isinstance(t, LoadedTokenizer)]
    loaded_specs = iter(load_all([str(s) for s in specs], threads=threads)) if specs else iter(())
    loaded = [t if isinstance(t, LoadedTokenizer) else next(loaded_specs) for t in tokenizers]
    timings = {"load tokenizers": time.perf_counter() - t0}

    t1 = time.perf_counter()
    raw = "\n".join(segs).encode("utf-8", "surrogatepass")
    n_bytes = sum(len(s.encode("utf-8", "surrogatepass")) for s in segs)
    n_chars = sum(len(s) for s in segs)
    words: Counter = Counter()
    for s in segs:
        words.update(s.split())
    n_words = sum(words.values())
    raw_sizes = {c.label: c.sizes([raw], threads=1)[0] for c in comps}
    timings["corpus"] = time.perf_counter() - t1

    results = []
    for i, tok in enumerate(loaded):
        if progress:
            progress(tok.name, i, len(loaded))
        t2 = time.perf_counter()
        ids = tok.encode(segs)
        flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        n_tok = int(flat.size)
        if n_tok == 0:
            raise AnalysisError(f"{tok.name}: the corpus gives no tokens")
        types, counts = np.unique(flat, return_counts=True)
        n_types = int(types.size)
        vsize = int(tok.vocab_size) if tok.vocab_size else n_types
        v_eff = n_types if vocab_convention == "observed" else vsize
        h1 = shannon_entropy(counts)
        h_alpha = renyi_entropy(counts, alpha)
        plug = plugin_conditional_entropies(ids, kmax)
        held = heldout_conditional_entropies(ids, vsize, kmax, heldout_every)
        vals: dict[str, Any] = {
            "tokens": n_tok,
            "bytes_per_token": n_bytes / n_tok,
            "chars_per_token": n_chars / n_tok,
            "tokens_per_word": n_tok / n_words if n_words else float("nan"),
        }
        if n_words:
            vals.update(_word_stats(tok, words))
        else:
            vals.update(fertility=float("nan"), continued_words=float("nan"), single_token_words=float("nan"))
        vals.update(
            {
                "types": n_types,
                "vocab_used": n_types / vsize if vsize else float("nan"),
                "shannon_entropy": h1,
                "shannon_efficiency": efficiency(h1, v_eff),
                "renyi_entropy": h_alpha,
                "renyi_efficiency": efficiency(h_alpha, v_eff),
                "capacity_utilisation": efficiency(h1, vsize),
                "H_plugin": plug,
                "H_heldout": held,
                "bpb_fixed": n_tok * math.log2(max(vsize, 2)) / n_bytes,
                "bpb_order0": n_tok * h1 / n_bytes,
                "bpb_order_k_plugin": [n_tok * h / n_bytes for h in plug],
                "bpb_order_k_heldout": [n_tok * h / n_bytes if h == h else float("nan") for h in held],
            }
        )
        stream = _id_stream_bytes(flat, vsize)
        vals["ids_compressed_bpb"] = {c.label: 8 * c.sizes([stream], threads=1)[0] / n_bytes for c in comps}
        vals["raw_compressed_bpb"] = {k: 8 * v / n_bytes for k, v in raw_sizes.items()}
        res = TokenizerAnalysis(tok.name, tok.backend, vsize, tok.spec.raw, vals, time.perf_counter() - t2)
        timings[f"analyze {tok.name}"] = res.seconds
        results.append(res)
    if progress:
        progress("", len(loaded), len(loaded))
    timings["total"] = time.perf_counter() - t0
    return AnalysisReport(
        corpus=corpus_names or [],
        segments=len(segs),
        bytes=n_bytes,
        chars=n_chars,
        words=n_words,
        alpha=alpha,
        kmax=kmax,
        vocab_convention=vocab_convention,
        raw_compressed=raw_sizes,
        tokenizers=results,
        timings=timings,
    )
